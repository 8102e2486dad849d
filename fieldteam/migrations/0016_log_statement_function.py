"""The one-statement assistance log as PL/pgSQL functions (``fieldteam.rollup.fastlog``).

They replace the statement each connection used to ``PREPARE``: a function's plan is cached by the
session all the same, and a function, unlike a prepared statement, survives a pooler in
transaction mode. Their text is the code's (``fastlog.FUNCTIONS``), whose digest names them;
``DIGESTS`` are those of the code this migration was written for. When the statement changes
(its SQL, the member rule of ``permissions.member_may_work_sql``, the population rule of ``counting``),
its digest changes: add a migration like this one with the new ``DIGESTS`` (a test of
``tests/services/test_log_statement.py`` fails until then); this one then installs nothing, and
the new one installs the code's functions and drops the old ones. PostgreSQL only.
"""

from django.db import migrations

DIGESTS = {"resident": "7ae9b9cb24fa", "household": "f4be52febcba"}


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
    dependencies = [("fieldteam", "0015_user_credentials_version")]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
