"""The one-statement assistance log reinstalled for the counting rules of issue 15.

How this works is in 0016: ``DIGESTS`` are those of the code this migration was written for; when
the statement changes, they change here (a test of ``tests/services/test_log_statement.py`` fails
until they do). PostgreSQL only.
"""

from django.db import migrations

DIGESTS = {"resident": "e8dd6a7c4499", "household": "164bf3ec84dc"}


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from fieldteam.rollup import fastlog

    fastlog.install_functions(schema_editor.connection, digests=DIGESTS)


def uninstall(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE 'fieldteam\\_log\\_%%' "
            "AND p.pronamespace = 'public'::regnamespace"
        )
        for (signature,) in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION {signature}")


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0020_breakdowns_and_team_coverage")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
