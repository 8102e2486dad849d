"""Adoptions' indexes on the assistance log and the household: over the rows that have one only.

An import of a province inserts about four adoptions per resident, none from an assistance log and
most of them a resident's; the full indexes on ``assistance_log_id`` and ``household_id`` took a
NULL entry for each (bench/RESULTS-import.md, 2026-12-07 session 22). Partial indexes (``IS NOT
NULL``) answer the same lookups: a log's or a household's adoptions (``= x``, ``IN (...)``, the
deletion's ``SET NULL`` and cascade) imply the column is not NULL.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0028_name_search_trigram")]

    operations = [
        migrations.AlterField(
            model_name="adoption",
            name="assistance_log",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="adoptions",
                to="fieldteam.assistancelog",
                verbose_name="assistance log",
            ),
        ),
        migrations.AlterField(
            model_name="adoption",
            name="household",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="adoptions",
                to="fieldteam.household",
                verbose_name="household",
            ),
        ),
        migrations.AddIndex(
            model_name="adoption",
            index=models.Index(
                condition=models.Q(("assistance_log__isnull", False)),
                fields=["assistance_log"],
                name="adoption_assistance_log_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="adoption",
            index=models.Index(
                condition=models.Q(("household__isnull", False)),
                fields=["household"],
                name="adoption_household_idx",
            ),
        ),
    ]
