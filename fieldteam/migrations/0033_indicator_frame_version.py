"""A version of what frames every indicator reading, moved on by PostgreSQL itself whenever it may change.

A dashboard's readings are framed by the areas (an area, or its children), the active indicators with
their capabilities and the provinces' own bounds, and the targets in force
(``fieldteam.selectors.frames``). Those rows change seldom, while every view read them (three queries
and ~6 ms of ORM for a province's ranking). A trigger on each of those tables now draws a new number on
every statement that writes them, as 0011 does for the counting rules, and a view reads that number
(one row by its key) to take the frame its process read under it: no writer, bulk write, tree move or
hand-made SQL can leave a stale frame. PostgreSQL only: on SQLite the frame is read on every view.
"""

from django.db import migrations

TABLES = ("area", "indicator", "capability", "indicatorpopulationbound", "target")

VERSION = """
-- A sequence, not a counter: nextval is never rolled back, so a number seen inside a transaction that
-- then rolled back is never given to other rows later.
CREATE SEQUENCE fieldteam_indicatorframe_version_seq START 2;
CREATE TABLE fieldteam_indicatorframe_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO fieldteam_indicatorframe_version (id, version) VALUES (1, 1);
CREATE FUNCTION fieldteam_indicator_frame_changed() RETURNS trigger AS $$
BEGIN
    UPDATE fieldteam_indicatorframe_version SET version = nextval('fieldteam_indicatorframe_version_seq') WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
""" + "".join(
    f"""CREATE TRIGGER fieldteam_{table}_frame_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_{table}
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_indicator_frame_changed();
"""
    for table in TABLES
)
DROP_VERSION = "".join(f"DROP TRIGGER IF EXISTS fieldteam_{table}_frame_changed ON fieldteam_{table};\n" for table in TABLES) + """
DROP FUNCTION IF EXISTS fieldteam_indicator_frame_changed();
DROP TABLE IF EXISTS fieldteam_indicatorframe_version;
DROP SEQUENCE IF EXISTS fieldteam_indicatorframe_version_seq;
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0032_apply_deltas_function")]

    operations = [migrations.RunPython(_on_postgresql(VERSION), _on_postgresql(DROP_VERSION), elidable=False)]
