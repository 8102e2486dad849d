"""Name search at a province's size (PostgreSQL only): a trigram index for the folded name.

``selectors.people.name_matches`` filters ``Resident.search_name`` by a word at the start or after
a space, an apostrophe or a hyphen (a regular expression a word; LIKEs when every word is shorter
than a trigram): a B-tree answers neither, so every search read every resident in scope (up to
3 s at 1,000,000: bench/RESULTS-api.md). A ``gin_trgm_ops`` index answers both, all the words of a
query in one scan. The web search also matches a household code exactly (``UPPER(code) =
UPPER(query)``, Django's ``iexact``): an index on that expression. SQLite (the embedded default,
a commune's size) keeps its scans: both indexes exist in SQL only, not in the model state, so
``makemigrations`` sees nothing to do.

Built ``CONCURRENTLY`` (hence a non-atomic migration): registering people goes on while a
province's table is indexed.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS resident_search_name_trgm "
    "ON fieldteam_resident USING gin (search_name gin_trgm_ops)",
    'CREATE INDEX CONCURRENTLY IF NOT EXISTS household_code_upper ON fieldteam_household (UPPER("code"::text))',
)
DROP = (
    "DROP INDEX CONCURRENTLY IF EXISTS resident_search_name_trgm",
    "DROP INDEX CONCURRENTLY IF EXISTS household_code_upper",
)


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("fieldteam", "0027_national_targets")]

    operations = [
        # CREATE EXTENSION IF NOT EXISTS pg_trgm; Django skips it on other databases.
        TrigramExtension(),
        migrations.RunPython(_on_postgresql(INDEXES), _on_postgresql(DROP), elidable=False),
    ]
