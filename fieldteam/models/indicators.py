"""Indicators of the digital-society plans, their targets, and their values per area and period."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import (
    PROVINCE_KINDS,
    VILLAGE_KINDS,
    IndicatorGroup,
    IndicatorKind,
    IndicatorLevel,
    PeriodKind,
    PopulationKind,
    Sex,
    TargetComparison,
)
from fieldteam.models.areas import Area
from fieldteam.periods import today


class Indicator(models.Model):
    """A plan indicator: a ratio computed from household data, or a value reported by hand.

    A computed indicator counts holders of ``capability`` (numerator) among a population
    (denominator): residents within the age bounds, working-age residents, or households.
    """

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=300)
    short_name = models.CharField(
        _("short name"),
        max_length=40,
        blank=True,
        help_text=_("A few words for the heads of tables; the full name is shown on hover and focus."),
    )
    group = models.CharField(_("group"), max_length=30, choices=IndicatorGroup.choices)
    lowest_level = models.CharField(
        _("measured down to"),
        max_length=10,
        choices=IndicatorLevel.choices,
        default=IndicatorLevel.VILLAGE,
        help_text=_(
            "The lowest level with a value: village for what household data counts, province for a provincial "
            "statistic (share of GRDP, ...). Pages below it do not list the indicator."
        ),
    )
    kind = models.CharField(_("kind"), max_length=10, choices=IndicatorKind.choices)
    capability = models.ForeignKey(
        "fieldteam.Capability",
        verbose_name=_("numerator capability"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="indicators",
    )
    population = models.CharField(_("population"), max_length=12, choices=PopulationKind.choices, blank=True)
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(
        _("maximum age"), null=True, blank=True, help_text=_("Inclusive: residents up to and including this age.")
    )
    unit = models.CharField(_("unit"), max_length=10, default="%")
    source = models.CharField(_("source"), max_length=200, blank=True, help_text=_("E.g. Decision 411/QĐ-TTg."))
    description = models.TextField(_("description"), blank=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("indicator")
        verbose_name_plural = _("indicators")
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind=IndicatorKind.COMPUTED, capability__isnull=False)
                    & ~Q(population="")
                    | Q(kind=IndicatorKind.REPORTED, capability__isnull=True, population="")
                ),
                name="indicator_computed_has_capability_and_population",
            ),
            models.CheckConstraint(
                condition=Q(min_age__isnull=True) | Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="indicator_age_bounds_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(population=PopulationKind.HOUSEHOLDS) | Q(min_age__isnull=True, max_age__isnull=True),
                name="indicator_households_have_no_age_bounds",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_computed(self) -> bool:
        return self.kind == IndicatorKind.COMPUTED

    @property
    def label(self) -> str:
        """The short name for the heads of tables, else the name."""
        return self.short_name or self.name

    def applies_to(self, area: Area) -> bool:
        """Whether ``area``'s level is at or above ``lowest_level`` (a value can exist there)."""
        if self.lowest_level == IndicatorLevel.PROVINCE:
            return area.kind in PROVINCE_KINDS
        if self.lowest_level == IndicatorLevel.COMMUNE:
            return area.kind not in VILLAGE_KINDS
        return True


class RetirementAge(models.Model):
    """Statutory retirement age of a birth cohort (Decree 135/2020, Appendix I): the upper bound of working age.

    A row holds for the people of ``sex`` born from the month of ``born_from`` until the month
    before the next row's; the first row also holds for everyone born earlier. The age rises with
    the birth month, so working age at a given month is still a contiguous range of birth months.
    """

    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    born_from = models.DateField(_("born from (month)"), help_text=_("The first day of the first birth month."))
    age_months = models.PositiveSmallIntegerField(_("retirement age (months)"))

    class Meta:
        verbose_name = _("retirement age")
        verbose_name_plural = _("retirement ages")
        ordering = ["sex", "born_from"]
        constraints = [
            models.UniqueConstraint(fields=["sex", "born_from"], name="retirement_age_unique_cohort"),
            models.CheckConstraint(condition=Q(born_from__day=1), name="retirement_age_born_from_first_of_month"),
        ]

    def __str__(self) -> str:
        return f"{self.get_sex_display()} {self.born_from:%m/%Y}: {self.age_months // 12}y{self.age_months % 12}m"


class IndicatorPopulationBound(models.Model):
    """A province's own age bounds for an indicator's population (e.g. Sơn La: adults from 15).

    Replaces the indicator's ``min_age``/``max_age`` in that province's counts; for a working-age
    indicator only ``min_age`` applies (the upper bound is the retirement age).
    """

    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.CASCADE, related_name="population_bounds"
    )
    indicator = models.ForeignKey(
        Indicator, verbose_name=_("indicator"), on_delete=models.CASCADE, related_name="province_bounds"
    )
    min_age = models.PositiveSmallIntegerField(_("minimum age"), null=True, blank=True)
    max_age = models.PositiveSmallIntegerField(
        _("maximum age"), null=True, blank=True, help_text=_("Inclusive: residents up to and including this age.")
    )
    source = models.CharField(_("source"), max_length=200, blank=True, help_text=_("The plan that defines it."))

    class Meta:
        verbose_name = _("province population bound")
        verbose_name_plural = _("province population bounds")
        ordering = ["province", "indicator__sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["province", "indicator"], name="population_bound_unique"),
            models.CheckConstraint(
                condition=Q(min_age__isnull=True) | Q(max_age__isnull=True) | Q(max_age__gte=F("min_age")),
                name="population_bound_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator.code} ({self.province}): {self.min_age or 0}–{self.max_age or ''}"

    def clean(self) -> None:
        indicator = self.indicator if self.indicator_id else None
        if indicator is not None and (not indicator.is_computed or indicator.population == PopulationKind.HOUSEHOLDS):
            raise ValidationError({"indicator": _("Only an indicator counted among residents has age bounds.")})


class Plan(models.Model):
    """A province's plan (kế hoạch, quyết định) with its targets, to be applied to areas of the province.

    Applying a plan (``fieldteam.services.indicators.apply_plan_targets``) copies its targets onto
    the chosen areas, in force from a date: a newer plan's targets replace an older plan's from
    that date (see ``Target``).
    """

    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="plans"
    )
    document = models.CharField(_("document number"), max_length=60, help_text=_("E.g. 1331/KH-UBND."))
    name = models.CharField(_("name"), max_length=300)
    adopted_on = models.DateField(_("date of the plan"))

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["-adopted_on", "document"]
        constraints = [
            models.UniqueConstraint(fields=["province", "document"], name="plan_document_unique_per_province"),
            models.CheckConstraint(condition=~Q(document=""), name="plan_document_not_empty"),
            models.CheckConstraint(condition=~Q(name=""), name="plan_name_not_empty"),
        ]

    def __str__(self) -> str:
        return self.name


class PlanTarget(models.Model):
    """One quantified target of a plan: an indicator, a year, a value and how it is compared."""

    plan = models.ForeignKey(Plan, verbose_name=_("plan"), on_delete=models.CASCADE, related_name="targets")
    indicator = models.ForeignKey(Indicator, verbose_name=_("indicator"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    value = models.DecimalField(_("target value"), max_digits=7, decimal_places=2)
    comparison = models.CharField(
        _("comparison"), max_length=10, choices=TargetComparison.choices, default=TargetComparison.AT_LEAST
    )

    class Meta:
        verbose_name = _("plan target")
        verbose_name_plural = _("plan targets")
        ordering = ["indicator__sort_order", "year"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "indicator", "year"], name="plan_target_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="plan_target_value_not_negative"),
            models.CheckConstraint(condition=Q(year__gte=2000) & Q(year__lte=2100), name="plan_target_year_range"),
        ]

    def __str__(self) -> str:
        sign = ">" if self.comparison == TargetComparison.MORE_THAN else "≥"
        return f"{self.indicator.code} {self.year}: {sign}{self.value}{self.indicator.unit}"


class Target(models.Model):
    """An indicator's target for an area and a year, in force from ``effective_from``.

    Areas below inherit it. For an area, indicator and year, the target in force is the one with the
    latest ``effective_from`` among the area's own and its ancestors'; at the same date the nearer
    (deeper) one wins; a plan applied from a later date is not in force before it. So a newer plan on the province replaces an older
    plan's targets on its communes, and a newer plan on a commune replaces an older plan on the
    province, for that commune. A target entered by hand takes the day it was created; correcting
    its value keeps that date.
    """

    indicator = models.ForeignKey(Indicator, verbose_name=_("indicator"), on_delete=models.PROTECT, related_name="targets")
    area = models.ForeignKey("fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, related_name="targets")
    year = models.PositiveSmallIntegerField(_("year"))
    value = models.DecimalField(_("target value"), max_digits=7, decimal_places=2)
    comparison = models.CharField(
        _("comparison"), max_length=10, choices=TargetComparison.choices, default=TargetComparison.AT_LEAST
    )
    source = models.CharField(_("plan"), max_length=200, blank=True)
    plan = models.ForeignKey(
        Plan,
        verbose_name=_("applied plan"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="applied_targets",
        help_text=_("The plan this target was applied from; empty when entered by hand."),
    )
    effective_from = models.DateField(
        _("in force from"),
        default=today,
        help_text=_("A newer target, on this area or above it, replaces an older one from its date."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["indicator__sort_order", "year"]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "area", "year"], name="target_unique_per_area_year"),
            models.CheckConstraint(condition=Q(value__gte=0), name="target_value_not_negative"),
            models.CheckConstraint(condition=Q(year__gte=2000) & Q(year__lte=2100), name="target_year_range"),
        ]

    def __str__(self) -> str:
        sign = ">" if self.comparison == TargetComparison.MORE_THAN else "≥"
        return f"{self.indicator.code} {self.area} {self.year}: {sign}{self.value}{self.indicator.unit}"


class NationalTarget(models.Model):
    """A national target of an indicator (Decision 411/QĐ-TTg): the level above the provinces.

    The nation is not an area (the provinces are the roots of the area tree), so its targets are
    not ``Target`` rows: they are compared with the sums over the provinces
    (``fieldteam.selectors.national``) and never inherited by the provinces, whose own plans set
    theirs. Who may see the national level is the ``view_nation`` permission
    (``fieldteam.permissions.sees_nation``).
    """

    indicator = models.ForeignKey(Indicator, verbose_name=_("indicator"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    value = models.DecimalField(_("target value"), max_digits=7, decimal_places=2)
    comparison = models.CharField(
        _("comparison"), max_length=10, choices=TargetComparison.choices, default=TargetComparison.AT_LEAST
    )
    document = models.CharField(_("document number"), max_length=60, help_text=_("E.g. 411/QĐ-TTg."))
    source = models.CharField(_("plan"), max_length=300)
    adopted_on = models.DateField(_("date of the plan"))

    class Meta:
        verbose_name = _("national target")
        verbose_name_plural = _("national targets")
        ordering = ["indicator__sort_order", "year"]
        permissions = [("view_nation", _("Can see the national level"))]
        constraints = [
            models.UniqueConstraint(fields=["indicator", "year"], name="national_target_unique"),
            models.CheckConstraint(condition=Q(value__gte=0), name="national_target_value_not_negative"),
            models.CheckConstraint(
                condition=Q(year__gte=2000) & Q(year__lte=2100), name="national_target_year_range"
            ),
            models.CheckConstraint(condition=~Q(document=""), name="national_target_document_not_empty"),
        ]

    def __str__(self) -> str:
        sign = ">" if self.comparison == TargetComparison.MORE_THAN else "≥"
        return f"{self.indicator.code} {self.year}: {sign}{self.value}{self.indicator.unit} ({self.document})"


class IndicatorValue(models.Model):
    """An indicator's value for an area and period.

    Computed indicators: numerator, denominator and ratio, frozen as a snapshot when the period
    closes (the current period is read live from the village counts). Reported indicators: the
    value entered by hand, with who and when.
    """

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey("fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, related_name="indicator_values")
    indicator = models.ForeignKey(Indicator, verbose_name=_("indicator"), on_delete=models.PROTECT, related_name="values")
    period_kind = models.CharField(_("period kind"), max_length=8, choices=PeriodKind.choices)
    period_start = models.DateField(_("period start"))
    numerator = models.BigIntegerField(_("numerator"), null=True, blank=True)
    denominator = models.BigIntegerField(_("denominator"), null=True, blank=True)
    value = models.DecimalField(_("value"), max_digits=9, decimal_places=3, null=True, blank=True)
    # The breakdown of a computed value, frozen with it (as ``VillageCount``'s); empty when reported.
    women_numerator = models.BigIntegerField(null=True, blank=True)
    women_denominator = models.BigIntegerField(null=True, blank=True)
    minority_numerator = models.BigIntegerField(null=True, blank=True)
    minority_denominator = models.BigIntegerField(null=True, blank=True)
    kinh_numerator = models.BigIntegerField(null=True, blank=True)
    kinh_denominator = models.BigIntegerField(null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"), null=True, blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("reported by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reported_at = models.DateTimeField(_("reported at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("indicator value")
        verbose_name_plural = _("indicator values")
        indexes = [
            models.Index(fields=["indicator", "period_kind", "period_start"]),
            # A series' months in order with what targets measure: a reading's baseline (first month)
            # and pace are found from the index alone (``selectors.indicators._history``).
            models.Index(
                fields=["area", "indicator", "period_start"],
                include=["numerator", "value"],
                condition=Q(period_kind="month", value__isnull=False),
                name="indicator_value_month_series",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["area", "indicator", "period_kind", "period_start"], name="indicator_value_unique"
            ),
            models.CheckConstraint(
                condition=Q(denominator__isnull=True) | Q(numerator__lte=F("denominator")),
                name="indicator_value_numerator_within_denominator",
            ),
            models.CheckConstraint(
                condition=Q(period_kind__in=[p.value for p in PeriodKind]), name="indicator_value_period_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.indicator.code} {self.area} {self.period_kind} {self.period_start}: {self.value}"


class CountCell(models.Model):
    """The columns of a live count (``rules.COUNT_COLUMNS``): a numerator and a denominator, and the
    same among women, ethnic minorities and Kinh (the breakdown, ``rules.BREAKDOWN``). Men are the
    rest (sex is required), an unrecorded ethnicity the rest of the two groups; households have none
    (zeros)."""

    numerator = models.BigIntegerField(default=0)
    denominator = models.BigIntegerField(default=0)
    women_numerator = models.BigIntegerField(default=0, db_default=0)
    women_denominator = models.BigIntegerField(default=0, db_default=0)
    minority_numerator = models.BigIntegerField(default=0, db_default=0)
    minority_denominator = models.BigIntegerField(default=0, db_default=0)
    kinh_numerator = models.BigIntegerField(default=0, db_default=0)
    kinh_denominator = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        abstract = True


class VillageCount(CountCell):
    """Live numerator and denominator of one computed indicator in one village.

    Kept current by the adoption and resident services in the same transaction as each change
    (``UPDATE ... SET n = n + 1``: one row per village and indicator, so concurrent writes in a
    province do not queue on a shared row). Communes and the province are sums over their
    villages. Ages are counted as of the end of ``RollupState.month`` of the province.
    """

    province = models.ForeignKey("fieldteam.Area", on_delete=models.CASCADE, related_name="+")
    village = models.ForeignKey("fieldteam.Area", on_delete=models.CASCADE, related_name="counts")
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="+")

    class Meta(CountCell.Meta):
        verbose_name = _("village count")
        verbose_name_plural = _("village counts")
        indexes = [models.Index(fields=["province", "indicator"])]
        constraints = [models.UniqueConstraint(fields=["village", "indicator"], name="village_count_unique")]

    def __str__(self) -> str:
        return f"{self.village_id}/{self.indicator_id}: {self.numerator}/{self.denominator}"


class CommuneCount(CountCell):
    """The sum of the ``VillageCount`` rows of one commune and indicator, stored (issue 18).

    Written by every writer of the village counts in the same statement as theirs (``rules.apply_deltas``,
    the one-statement log), checked and corrected by the recompute: a province's total and the
    ranking of its communes read ~1,500 of these rows instead of ~55,000 village rows. The
    "commune" of a counted place is its area at the province's next level
    (``rollup.rules.commune_path_sql``): a village's commune, or the commune itself for people
    registered there without a village.
    """

    province = models.ForeignKey("fieldteam.Area", on_delete=models.CASCADE, related_name="+")
    commune = models.ForeignKey("fieldteam.Area", on_delete=models.CASCADE, related_name="commune_counts")
    indicator = models.ForeignKey(Indicator, on_delete=models.CASCADE, related_name="+")

    class Meta(CountCell.Meta):
        verbose_name = _("commune count")
        verbose_name_plural = _("commune counts")
        indexes = [models.Index(fields=["province", "indicator"])]
        constraints = [models.UniqueConstraint(fields=["commune", "indicator"], name="commune_count_unique")]

    def __str__(self) -> str:
        return f"{self.commune_id}/{self.indicator_id}: {self.numerator}/{self.denominator}"


class RollupState(models.Model):
    """Per-province state of the roll-up: the month its live counts are based on, and last runs."""

    province = models.OneToOneField("fieldteam.Area", on_delete=models.CASCADE, primary_key=True, related_name="+")
    month = models.DateField(_("counting month"))
    last_recompute_at = models.DateTimeField(_("last recompute"), null=True, blank=True)
    last_recompute_seconds = models.FloatField(_("duration (s)"), null=True, blank=True)
    last_drift_rows = models.IntegerField(_("rows corrected"), null=True, blank=True)
    last_closed_month = models.DateField(_("last closed month"), null=True, blank=True)

    class Meta:
        verbose_name = _("roll-up state")
        verbose_name_plural = _("roll-up states")

    def __str__(self) -> str:
        return f"{self.province}: {self.month:%Y-%m}"
