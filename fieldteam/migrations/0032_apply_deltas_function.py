"""The counts' incremental write as a PL/pgSQL function (issue 18): ``rules.apply_deltas`` on PostgreSQL.

Sent as text, the write (subject's mask, village upsert, commune upsert in one statement) was
planned on every adoption; as a function its plan is kept by each session, and it survives a pooler
in transaction mode. ``DIGEST`` is that of the code this migration was written for: a later change
of the statement installs its own function by a later migration, and until then the code sends the
statement as text.
"""

from django.db import migrations

DIGEST = "df8c0f2521b4"


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from fieldteam.rollup import rules

    rules.install_deltas_function(schema_editor.connection, digest=DIGEST)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from fieldteam.rollup import sqlfunctions

    sqlfunctions.install(schema_editor.connection, "fieldteam_apply_deltas", [])


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0031_indicator_value_month_series")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
