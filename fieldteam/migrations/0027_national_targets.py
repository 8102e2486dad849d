import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """The national level (issue 18): the targets of Decision 411/QĐ-TTg and who may see them."""

    dependencies = [("fieldteam", "0026_reason_index")]

    operations = [
        migrations.CreateModel(
            name="NationalTarget",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="year")),
                ("value", models.DecimalField(decimal_places=2, max_digits=7, verbose_name="target value")),
                (
                    "comparison",
                    models.CharField(
                        choices=[("at_least", "at least"), ("more_than", "more than")],
                        default="at_least",
                        max_length=10,
                        verbose_name="comparison",
                    ),
                ),
                (
                    "document",
                    models.CharField(help_text="E.g. 411/QĐ-TTg.", max_length=60, verbose_name="document number"),
                ),
                ("source", models.CharField(max_length=300, verbose_name="plan")),
                ("adopted_on", models.DateField(verbose_name="date of the plan")),
                (
                    "indicator",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fieldteam.indicator",
                        verbose_name="indicator",
                    ),
                ),
            ],
            options={
                "verbose_name": "national target",
                "verbose_name_plural": "national targets",
                "ordering": ["indicator__sort_order", "year"],
                "permissions": [("view_nation", "Can see the national level")],
                "constraints": [
                    models.UniqueConstraint(fields=("indicator", "year"), name="national_target_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("value__gte", 0)), name="national_target_value_not_negative"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("year__gte", 2000), ("year__lte", 2100)), name="national_target_year_range"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("document", ""), _negated=True), name="national_target_document_not_empty"
                    ),
                ],
            },
        ),
    ]
