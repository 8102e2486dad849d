"""A version number of the counting rules, moved on by PostgreSQL itself whenever they may change.

Every counted write checks that the rules it counts with are the current ones (``fieldteam.services
.counting``). It used to hash the indicators, their capabilities' bits and the retirement ages on
every write; a trigger on those tables now draws a new number instead, and the writes read that
number (one row by its key). PostgreSQL only: on SQLite the rules are read afresh for each write.
"""

from django.db import migrations

VERSION = """
-- A sequence, not a counter: nextval is never rolled back, so a number seen inside a transaction
-- that then rolled back is never given to other rules later.
CREATE SEQUENCE fieldteam_countingrules_version_seq START 2;
CREATE TABLE fieldteam_countingrules_version (
    id smallint PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL
);
INSERT INTO fieldteam_countingrules_version (id, version) VALUES (1, 1);
CREATE FUNCTION fieldteam_counting_rules_changed() RETURNS trigger AS $$
BEGIN
    UPDATE fieldteam_countingrules_version SET version = nextval('fieldteam_countingrules_version_seq') WHERE id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER fieldteam_indicator_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_indicator
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_counting_rules_changed();
CREATE TRIGGER fieldteam_capability_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_capability
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_counting_rules_changed();
CREATE TRIGGER fieldteam_retirementage_rules_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON fieldteam_retirementage
    FOR EACH STATEMENT EXECUTE FUNCTION fieldteam_counting_rules_changed();
"""
DROP_VERSION = """
DROP TRIGGER IF EXISTS fieldteam_indicator_rules_changed ON fieldteam_indicator;
DROP TRIGGER IF EXISTS fieldteam_capability_rules_changed ON fieldteam_capability;
DROP TRIGGER IF EXISTS fieldteam_retirementage_rules_changed ON fieldteam_retirementage;
DROP FUNCTION IF EXISTS fieldteam_counting_rules_changed();
DROP TABLE IF EXISTS fieldteam_countingrules_version;
DROP SEQUENCE IF EXISTS fieldteam_countingrules_version_seq;
"""


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            with schema_editor.connection.cursor() as cursor:
                cursor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0010_no_indexes_the_composites_cover")]

    operations = [migrations.RunPython(_on_postgresql(VERSION), _on_postgresql(DROP_VERSION), elidable=False)]
