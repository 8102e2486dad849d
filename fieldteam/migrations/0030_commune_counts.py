"""Stored commune sums (issue 18): ``CommuneCount``, filled from the village counts, and the log statement
that keeps them.

A province's total and the ranking of its communes read these ~1,500 rows instead of ~55,000
village rows (docs/scale.md). Every writer of the village counts moves its communes' rows in
the same statement (``rules.apply_deltas``, the one-statement log reinstalled here, as 0021 did:
``DIGESTS`` are those of the code this migration was written for), and the recompute checks and
corrects them. The fill sums the village rows as they are: a write of the old code between this
migration and the new code's start is corrected by the next recompute.
"""

import django.db.models.deletion
from django.db import migrations, models

DIGESTS = {"resident": "b912d360018c", "household": "425aefed6b58"}

COLUMNS = (
    "numerator, denominator, women_numerator, women_denominator, minority_numerator, minority_denominator, "
    "kinh_numerator, kinh_denominator"
)
SUMS = ", ".join(f"SUM(v.{column.strip()})" for column in COLUMNS.split(","))
# A place's commune: its area at depth 2 (``rules.commune_path_sql``; 4 characters a level).
FILL = f"""
INSERT INTO fieldteam_communecount (province_id, commune_id, indicator_id, {COLUMNS})
SELECT v.province_id, c.id, v.indicator_id, {SUMS}
FROM fieldteam_villagecount v
JOIN fieldteam_area a ON a.id = v.village_id
JOIN fieldteam_area c ON c.path = SUBSTR(a.path, 1, 8)
GROUP BY v.province_id, c.id, v.indicator_id
"""  # noqa: S608


def install(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from fieldteam.rollup import fastlog

    fastlog.install_functions(schema_editor.connection, digests=DIGESTS)


def uninstall(apps, schema_editor):
    """Back to 0021's statement (which writes no commune rows), if this code still has it: else none."""
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
    dependencies = [("fieldteam", "0029_import_indexes")]

    operations = [
        migrations.CreateModel(
            name="CommuneCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("numerator", models.BigIntegerField(default=0)),
                ("denominator", models.BigIntegerField(default=0)),
                ("women_numerator", models.BigIntegerField(db_default=0, default=0)),
                ("women_denominator", models.BigIntegerField(db_default=0, default=0)),
                ("minority_numerator", models.BigIntegerField(db_default=0, default=0)),
                ("minority_denominator", models.BigIntegerField(db_default=0, default=0)),
                ("kinh_numerator", models.BigIntegerField(db_default=0, default=0)),
                ("kinh_denominator", models.BigIntegerField(db_default=0, default=0)),
                (
                    "commune",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="commune_counts",
                        to="fieldteam.area",
                    ),
                ),
                (
                    "indicator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="fieldteam.indicator"
                    ),
                ),
                (
                    "province",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="fieldteam.area"
                    ),
                ),
            ],
            options={
                "verbose_name": "commune count",
                "verbose_name_plural": "commune counts",
                "indexes": [models.Index(fields=["province", "indicator"], name="fieldteam_c_provinc_e94976_idx")],
                "constraints": [models.UniqueConstraint(fields=("commune", "indicator"), name="commune_count_unique")],
            },
        ),
        migrations.RunSQL(FILL, migrations.RunSQL.noop),
        migrations.RunPython(install, uninstall, elidable=False),
    ]
