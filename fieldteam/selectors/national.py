"""The national level (issue 18): Việt Nam above the provinces, against the targets of Decision 411.

The nation is not an area: the provinces are the roots of the area tree. Its values are sums over
the provinces' own rows, never over villages or communes:

- **What is summed.** For a computed indicator, the numerators and denominators of the provinces'
  ``IndicatorValue`` rows of the period (the roll-up freezes them for every area when it closes a
  month, with its quarter and year: ``rollup.recompute.close_month``), and the provinces' official
  figures of the indicator's band. So the national figure is 34 rows per indicator whatever the
  number of villages, and only closed periods have one: an open month is counted live in each
  province (its dashboard) and reaches the national level when it closes, on the first of the
  next month. The default period is therefore the last closed month.
- **What is not.** A reported indicator (share of GRDP, e-commerce share of retail, ...) is a
  province's ratio of quantities the system does not hold (its GRDP, its retail sales): their sum
  or mean is no national figure. Such a reading is ``aggregated=False``: shown as "not aggregated
  nationally", with the national target and how many provinces reported; the province ranking
  shows each province's value.
- **Official figures.** The national official figure of a band is the sum of every active
  province's figure (its own, else the sum of its communes' own figures when every active commune
  has one); when a province has none, there is no national official rate and the reading names
  the provinces without one. The targets are measured as everywhere else: over the official
  figure where there is one, else over the register (``IndicatorReading.measured_value``).
- **Targets.** ``NationalTarget`` rows (Decision 411/QĐ-TTg, loaded by ``load_reference``),
  not inherited by the provinces: the province ranking measures each province against its own.

Who may see it: ``permissions.sees_nation`` (superusers and holders of ``fieldteam.view_nation``);
anyone else gets ``OutOfScope`` (a 404), as for an area outside their scope. Each function runs a
fixed number of queries whatever the number of provinces.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db.models import Count, F, FilteredRelation, Min, Q, Sum
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PROVINCE_KINDS, PeriodKind
from fieldteam.models import Area, Indicator, IndicatorPopulationBound, IndicatorValue, NationalTarget, User
from fieldteam.models.population import COUNT_FIELDS
from fieldteam.periods import Period, month_index, month_start, today
from fieldteam.permissions import sees_nation
from fieldteam.selectors.indicators import (
    PACE_MONTHS,
    ChildValues,
    IndicatorReading,
    OutOfScope,
    TargetInfo,
    active_indicators,
    assess_reading,
    build_readings,
    percent,
)
from fieldteam.selectors.population import (
    CHILDREN,
    NO_FIGURE,
    OfficialFigure,
    OfficialFiguresByYear,
    band_of,
    reading_figures,
)
from fieldteam.selectors.status import Status, reading_status

#: The ``area_id`` of a national reading and of a national target: no area has it.
NATION_ID = 0
# The anchor the area readers walk from: above every province (no path), not a row.
_NATION_ANCHOR = Area(path="", depth=0)
# Provinces without an official figure named on a reading at most (the rest counted).
MISSING_SHOWN = 5


@dataclass
class NationalReading(IndicatorReading):
    """One indicator's national value for a period: the sums over the provinces, against Decision 411.

    ``aggregated`` is False for an indicator whose provincial values cannot be summed into a national
    one (a reported share): ``value`` is then empty. ``provinces_with_value`` says how many
    provinces' rows the sums (or, unaggregated, the reports) cover, of ``provinces``.
    """

    aggregated: bool = True
    provinces_with_value: int = 0
    provinces: int = 0
    status: Status | None = None
    #: The provinces that count this indicator over their own age bounds (``IndicatorPopulationBound``,
    #: e.g. Sơn La's adults from 15): their rows are summed as they count them, which the page says.
    own_bounds: tuple[str, ...] = ()

    @property
    def official_source_label(self) -> str:
        """Whose figure the national rate is over, or which provinces lack one."""
        figure = self.official
        if figure.value is not None:
            first, last = figure.years or (None, None)
            if first is None:
                return str(_("sum of the provinces"))
            if first == last:
                return str(_("sum of the provinces, %(year)s") % {"year": first})
            return str(_("sum of the provinces, %(first)s–%(last)s") % {"first": first, "last": last})
        if not figure.missing:
            return str(_("no official population figure"))
        names = ", ".join(figure.missing)
        if figure.missing_count > len(figure.missing):
            names = _("%(areas)s and %(more)s more") % {
                "areas": names,
                "more": figure.missing_count - len(figure.missing),
            }
        return str(_("no official population figure (missing for %(areas)s)") % {"areas": names})


def ensure_sees_nation(user: User) -> None:
    """``OutOfScope`` (a 404) unless ``user`` may see the national level."""
    if not sees_nation(user):
        raise OutOfScope(_("No such area."))


def last_closed_month() -> Period:
    """The national level's default period: the month before the current one, closed on the first."""
    return Period(PeriodKind.MONTH, month_start(month_index(today()) - 1))


def _provinces() -> list[Area]:
    return list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS, is_active=True).order_by("path"))


def _figures(last_year: int) -> OfficialFiguresByYear:
    """The official figures of every province and commune for every year up to ``last_year`` (one query).

    Resolved by the rule of ``selectors.population`` with the nation as the anchor: a province's own
    figure, else the sum of its communes' when every active commune has one. Villages are not read:
    a commune's figure here is its own.
    """
    names = ("year", *COUNT_FIELDS)
    rows = (
        Area.objects.filter(depth__lte=2, is_active=True)
        .annotate(fig=FilteredRelation("official_populations", condition=Q(official_populations__year__lte=last_year)))
        .values("pk", "path", "name", **{f"fig_{name}": F(f"fig__{name}") for name in names})
    )
    return OfficialFiguresByYear(_NATION_ANCHOR, last_year, list(rows))


def _national_figure(
    band: str, provinces: list[Area], per_area: dict[int, dict[str, OfficialFigure]]
) -> OfficialFigure:
    """The sum of the provinces' figures of ``band``; none (naming the provinces without) if any lacks one."""
    parts = [(province, per_area.get(province.pk, {}).get(band, NO_FIGURE)) for province in provinces]
    lacking = [province.name for province, figure in parts if figure.value is None]
    if lacking or not parts:
        return OfficialFigure(None, missing=tuple(lacking[:MISSING_SHOWN]), missing_count=len(lacking))
    years = [figure.years for _province, figure in parts if figure.years is not None]
    return OfficialFigure(
        sum(figure.value for _province, figure in parts if figure.value is not None),
        CHILDREN,
        (min(y[0] for y in years), max(y[1] for y in years)) if years else None,
    )


def _national_targets() -> dict[int, dict[int, TargetInfo]]:
    """Indicator id -> year -> the national target (one query)."""
    targets: dict[int, dict[int, TargetInfo]] = defaultdict(dict)
    for indicator_id, year, value, comparison in NationalTarget.objects.values_list(
        "indicator_id", "year", "value", "comparison"
    ):
        targets[indicator_id][year] = TargetInfo(year, value, comparison, NATION_ID, inherited=False)
    return targets


def _own_bounds(province_ids: list[int]) -> dict[int, tuple[str, ...]]:
    """Indicator id -> the names of the provinces counting it over their own age bounds (one query)."""
    names: dict[int, list[str]] = defaultdict(list)
    for indicator_id, name in (
        IndicatorPopulationBound.objects.filter(province_id__in=province_ids)
        .order_by("province__name")
        .values_list("indicator_id", "province__name")
    ):
        names[indicator_id].append(name)
    return {indicator_id: tuple(found) for indicator_id, found in names.items()}


def _sums(province_ids: list[int], period: Period) -> dict[int, tuple[int | None, int | None, int]]:
    """Indicator id -> (numerator sum, denominator sum, provinces with a value) over the provinces' rows."""
    rows = (
        IndicatorValue.objects.filter(
            area_id__in=province_ids, period_kind=period.kind, period_start=period.start, value__isnull=False
        )
        .values("indicator_id")
        .annotate(n=Sum("numerator"), d=Sum("denominator"), provinces=Count("pk"))
    )
    return {row["indicator_id"]: (row["n"], row["d"], int(row["provinces"])) for row in rows}


def _national_history(
    province_ids: list[int], period: Period
) -> tuple[dict[int, tuple[date, int, int]], dict[int, tuple[date, int, int]]]:
    """Per indicator, the national sums (month, numerator, denominator) of the earliest month any
    province has, and of the month ``PACE_MONTHS`` before the period's end (two queries)."""
    months = IndicatorValue.objects.filter(
        area_id__in=province_ids, period_kind=PeriodKind.MONTH, value__isnull=False, numerator__isnull=False
    )
    firsts = dict(
        months.values("indicator_id").annotate(first=Min("period_start")).values_list("indicator_id", "first")
    )
    pace_start = month_start(period.last_month_index - PACE_MONTHS)
    wanted = set(firsts.values()) | {pace_start}
    baseline: dict[int, tuple[date, int, int]] = {}
    earlier: dict[int, tuple[date, int, int]] = {}
    sums = (
        months.filter(period_start__in=wanted)
        .values("indicator_id", "period_start")
        .annotate(n=Sum("numerator"), d=Sum("denominator"))
    )
    for row in sums:
        indicator_id, start = row["indicator_id"], row["period_start"]
        if firsts.get(indicator_id) == start:
            baseline[indicator_id] = (start, int(row["n"]), int(row["d"]))
        if start == pace_start:
            earlier[indicator_id] = (start, int(row["n"]), int(row["d"]))
    return baseline, earlier


def national_indicator_values(*, user: User, period: Period | None = None) -> list[NationalReading]:
    """Every active indicator's national value for ``period`` (default: the last closed month), with
    the national targets, the gap, path, projection and status (``selectors.status``).

    Computed indicators: sums over the provinces' rows of the period, over the official figures
    summed the same way (see the module's docstring). Reported ones: not aggregated. A fixed number
    of queries (eight) whatever the number of provinces. A province that counts an indicator over its
    own age bounds is summed as it counts it, and named on the reading (``own_bounds``).
    """
    ensure_sees_nation(user)
    period = period or last_closed_month()
    provinces = _provinces()
    province_ids = [province.pk for province in provinces]
    history = _figures(period.start.year)
    sums = _sums(province_ids, period)
    targets = _national_targets()
    own_bounds = _own_bounds(province_ids)
    baseline, earlier = _national_history(province_ids, period)
    figures_by_band: dict[tuple[int, str], OfficialFigure] = {}

    def figure_of(year: int, band: str) -> OfficialFigure:
        key = (year, band)
        if key not in figures_by_band:
            figures_by_band[key] = _national_figure(band, provinces, history.year(year))
        return figures_by_band[key]

    def measured(indicator: Indicator, month: tuple[date, int, int] | None) -> tuple[date, None, Decimal] | None:
        # A past month measured like the reading: over that year's national figure where there is one.
        if month is None:
            return None
        start, numerator, denominator = month
        band = band_of(indicator)
        official = figure_of(start.year, band).value if band else None
        value = percent(numerator, official) if official else percent(numerator, denominator)
        return None if value is None else (start, None, value)

    readings: list[NationalReading] = []
    for indicator in active_indicators():
        reading = NationalReading(
            indicator=indicator,
            area_id=NATION_ID,
            period=period,
            provinces=len(provinces),
            aggregated=indicator.is_computed,
        )
        reading.targets = targets.get(indicator.pk, {})
        numerator, denominator, counted = sums.get(indicator.pk, (None, None, 0))
        reading.provinces_with_value = counted
        reading.own_bounds = own_bounds.get(indicator.pk, ()) if indicator.is_computed else ()
        if indicator.is_computed and counted:
            reading.numerator, reading.denominator = int(numerator or 0), int(denominator or 0)
            reading.value = percent(reading.numerator, reading.denominator)
            band = band_of(indicator)
            if band:
                national = {band: figure_of(period.start.year, band)}
                official = reading_figures(indicator, reading.numerator, reading.denominator, national)
                reading.official_band, reading.official = official.band, official.figure
                reading.official_value, reading.coverage, reading.warnings = (
                    official.value,
                    official.coverage,
                    official.warnings,
                )
                reading.official_level = "nation"
        elif indicator.is_computed:
            reading.official_band = band_of(indicator) or ""
        if indicator.is_computed:
            assess_reading(
                reading, measured(indicator, baseline.get(indicator.pk)), measured(indicator, earlier.get(indicator.pk))
            )
        else:
            later = sorted(year for year in reading.targets if year >= period.start.year)
            reading.target = reading.targets[later[0]] if later else None
        reading.status = reading_status(reading)
        readings.append(reading)
    return readings


def _without_value(reading: IndicatorReading) -> None:
    """Empty what the area reader counted live for an open period (nothing: no counts were given)."""
    reading.numerator = reading.denominator = reading.value = None
    reading.official_value = reading.coverage = reading.gap = reading.expected_now = None
    reading.on_track, reading.projection, reading.projected_date = None, "", None
    reading.is_live, reading.warnings = False, ()


def province_ranking(
    *, user: User, period: Period | None = None, indicator: Indicator | None = None
) -> list[ChildValues]:
    """The provinces as the nation's children: each one's readings for ``period`` (default: the last
    closed month) against its own targets, largest gap first (as ``child_indicator_values`` ranks
    a province's communes: by ``indicator``'s gap if given, else the mean gap).

    Reads each province's own rows of the period (frozen snapshots; reported values), never the
    villages: a fixed number of queries whatever the number of provinces.
    """
    ensure_sees_nation(user)
    period = period or last_closed_month()
    provinces = _provinces()
    if not provinces:
        return []
    indicators = active_indicators()
    figures = _figures(period.start.year)
    # No live counts: an open period has no province rows yet (the module's docstring).
    per_area = build_readings(provinces, _NATION_ANCHOR, period, {}, indicators, figures)
    rows = []
    for province in provinces:
        readings = per_area[province.pk]
        if period.is_open():
            for reading in readings:
                if reading.indicator.is_computed:
                    _without_value(reading)
        gaps = [r.gap for r in readings if r.gap is not None and (indicator is None or r.indicator.pk == indicator.pk)]
        score = (sum(gaps, Decimal(0)) / len(gaps)).quantize(Decimal("0.001")) if gaps else None
        rows.append(ChildValues(province, readings, score))
    rows.sort(key=lambda row: (row.gap_score is None, -(row.gap_score or 0), row.area.name))
    return rows


__all__ = [
    "NATION_ID",
    "NationalReading",
    "ensure_sees_nation",
    "last_closed_month",
    "national_indicator_values",
    "province_ranking",
]
