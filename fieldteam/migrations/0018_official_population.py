"""Official population figures per area and year (issue 15)."""

import django.db.models.deletion
import django.db.models.expressions
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0017_plans_and_village_kinds")]

    operations = [
        migrations.CreateModel(
            name="OfficialPopulation",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("year", models.PositiveSmallIntegerField(verbose_name="year")),
                ("total", models.PositiveIntegerField(verbose_name="total population")),
                ("age_14_plus", models.PositiveIntegerField(blank=True, null=True, verbose_name="aged 14 and over")),
                ("age_15_plus", models.PositiveIntegerField(blank=True, null=True, verbose_name="aged 15 and over")),
                ("age_18_plus", models.PositiveIntegerField(blank=True, null=True, verbose_name="aged 18 and over")),
                (
                    "working_age_male",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="working-age men"),
                ),
                (
                    "working_age_female",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="working-age women"),
                ),
                ("households", models.PositiveIntegerField(blank=True, null=True, verbose_name="households")),
                (
                    "source",
                    models.CharField(
                        blank=True, help_text="E.g. Cục Thống kê, công an xã.", max_length=200, verbose_name="source"
                    ),
                ),
                ("entered_at", models.DateTimeField(verbose_name="entered at")),
                (
                    "area",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="official_populations",
                        to="fieldteam.area",
                        verbose_name="area",
                    ),
                ),
                (
                    "entered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="entered by",
                    ),
                ),
                (
                    "province",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fieldteam.area",
                        verbose_name="province",
                    ),
                ),
            ],
            options={
                "verbose_name": "official population",
                "verbose_name_plural": "official population figures",
                "ordering": ["area__path", "-year"],
                "constraints": [
                    models.UniqueConstraint(fields=("area", "year"), name="official_population_unique_per_area_year"),
                    models.CheckConstraint(
                        condition=models.Q(("year__gte", 2000), ("year__lte", 2100)),
                        name="official_population_year_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("total__gte", 0),
                            ("age_14_plus__gte", 0),
                            ("age_15_plus__gte", 0),
                            ("age_18_plus__gte", 0),
                            ("working_age_male__gte", 0),
                            ("working_age_female__gte", 0),
                            ("households__gte", 0),
                        ),
                        name="official_population_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("age_14_plus__isnull", True),
                            ("total__isnull", True),
                            ("age_14_plus__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_age_14_plus_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("age_15_plus__isnull", True),
                            ("total__isnull", True),
                            ("age_15_plus__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_age_15_plus_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("age_18_plus__isnull", True),
                            ("total__isnull", True),
                            ("age_18_plus__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_age_18_plus_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("working_age_male__isnull", True),
                            ("total__isnull", True),
                            ("working_age_male__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_working_age_male_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("working_age_female__isnull", True),
                            ("total__isnull", True),
                            ("working_age_female__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_working_age_female_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("households__isnull", True),
                            ("total__isnull", True),
                            ("households__lte", models.F("total")),
                            _connector="OR",
                        ),
                        name="official_population_households_within_total",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("age_15_plus__isnull", True),
                                ("age_14_plus__isnull", True),
                                ("age_15_plus__lte", models.F("age_14_plus")),
                                _connector="OR",
                            ),
                            models.Q(
                                ("age_18_plus__isnull", True),
                                ("age_15_plus__isnull", True),
                                ("age_18_plus__lte", models.F("age_15_plus")),
                                _connector="OR",
                            ),
                        ),
                        name="official_population_age_bands_nested",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("working_age_male__isnull", True),
                            ("working_age_female__isnull", True),
                            ("age_15_plus__isnull", True),
                            (
                                "age_15_plus__gte",
                                django.db.models.expressions.CombinedExpression(
                                    models.F("working_age_male"), "+", models.F("working_age_female")
                                ),
                            ),
                            _connector="OR",
                        ),
                        name="official_population_working_age_within_15_plus",
                    ),
                ],
            },
        ),
    ]
