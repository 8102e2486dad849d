"""Month snapshots indexed by series (area, indicator, month), with what targets measure.

A reading's baseline is its series' first month snapshot and its pace the snapshot three months
back (``selectors.indicators._history``). With this partial, covering index each is an index probe
per series that never reads the table; before it, a province's ranking sorted every snapshot of
its 135 communes (43 ms after 18 months, bench/rollup.py). SQLite builds it without the included
columns (it has none), which changes nothing it answers.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0030_commune_counts")]

    operations = [
        migrations.AddIndex(
            model_name="indicatorvalue",
            index=models.Index(
                condition=models.Q(("period_kind", "month"), ("value__isnull", False)),
                fields=["area", "indicator", "period_start"],
                include=("numerator", "value"),
                name="indicator_value_month_series",
            ),
        ),
    ]
