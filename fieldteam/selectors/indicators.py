"""Indicator values against targets, for dashboards, reports and the API.

Each function takes the acting user and refuses areas outside their scope (``OutOfScope``, a 404).
Each runs a constant number of queries whatever the size of the subtree: live values are sums
over the village counts of the subtree (one GROUP BY; for a province or a commune over the communes'
stored sums, ``CommuneCount``), closed periods read the frozen snapshots.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db import connections, router
from django.db.models import QuerySet, Sum
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import IndicatorKind, PeriodKind
from fieldteam.models import (
    Area,
    CommuneCount,
    Indicator,
    IndicatorValue,
    User,
    VillageCount,
)
from fieldteam.periods import Period, month_end, month_index, month_start, today
from fieldteam.permissions import OutOfScope, ensure_visible, scope_for
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.rollup.rules import COMMUNE_DEPTH
from fieldteam.selectors.frames import TargetInfo, Targets, active_indicators, frame_of, own_bounds, targets_in_force
from fieldteam.selectors.population import (
    NO_FIGURE,
    WARNING_LABELS,
    OfficialFigure,
    OfficialFiguresByYear,
    band_of,
    level_of,
    official_figures_by_year,
    official_reading,
    official_source_label,
    rate,
    reading_figures,
)

PLAN_HORIZON_YEAR = 2030
_THOUSANDTH = Decimal("0.001")
PACE_MONTHS = 3

# What a target is measured by (issue 15): the rate over the official population where the reading
# has one, else the register's rate; a reported indicator by its reported value.
MEASURED_OFFICIAL, MEASURED_REGISTER, MEASURED_REPORTED = "official", "register", "reported"
MEASURE_LABELS = {
    MEASURED_OFFICIAL: _("over the official population"),
    MEASURED_REGISTER: _("over the register"),
    MEASURED_REPORTED: _("as reported"),
}


@dataclass
class IndicatorReading:
    """One indicator's value for an area and period, with its targets, gap, path and projection."""

    indicator: Indicator
    area_id: int
    period: Period
    numerator: int | None = None
    denominator: int | None = None
    value: Decimal | None = None
    is_live: bool = False
    targets: dict[int, TargetInfo] = field(default_factory=dict)
    target: TargetInfo | None = None
    gap: Decimal | None = None
    expected_now: Decimal | None = None
    on_track: bool | None = None
    projected_date: date | None = None
    projection: str = ""  # "reached", "date", "not_before_horizon", "" (not enough history)
    reported_by_id: int | None = None
    reported_at: object = None
    # Over the official population (``fieldteam.selectors.population``): what the province reports.
    # ``official_band`` empty: the indicator's population has no official column (or it is reported).
    official_band: str = ""
    official: OfficialFigure = NO_FIGURE
    official_value: Decimal | None = None
    coverage: Decimal | None = None  # registered denominator ÷ official, in %
    official_level: str = ""  # "province", "commune" or "village": whose figure (or children) it is
    warnings: tuple[str, ...] = ()  # NUMERATOR_ABOVE_OFFICIAL, OFFICIAL_BELOW_REGISTER
    # The figures of every year up to the period's (for past months measured the same way).
    official_history: OfficialFiguresByYear | None = field(default=None, repr=False, compare=False)

    @property
    def has_official(self) -> bool:
        return self.official.value is not None

    @property
    def measured_by(self) -> str:
        """What the targets are measured by: ``MEASURED_OFFICIAL``, ``MEASURED_REGISTER`` or ``MEASURED_REPORTED``."""
        if not self.indicator.is_computed:
            return MEASURED_REPORTED
        return MEASURED_OFFICIAL if self.official_value is not None else MEASURED_REGISTER

    @property
    def measured_value(self) -> Decimal | None:
        """The value targets, gap, path, projection and status are measured by (see ``measured_by``)."""
        # ``measured_by`` inlined: read for every reading of a ranking, several times each.
        official = self.official_value
        return official if official is not None and self.indicator.kind == IndicatorKind.COMPUTED else self.value

    @property
    def measured_label(self) -> str:
        return str(MEASURE_LABELS[self.measured_by])

    def measure_month(self, month: date, numerator: int | None, value: Decimal | None) -> Decimal | None:
        """A month snapshot of this reading's area and indicator measured like the reading."""
        return measured_value(self.indicator, self.area_id, month, numerator, value, self.official_history)

    @property
    def official_source_label(self) -> str:
        """Whose figure the official rate is over, and of which year (e.g. "tổng của các thôn, năm 2025")."""
        return official_source_label(self.official, self.official_level)

    @property
    def warning_labels(self) -> list[str]:
        return [str(WARNING_LABELS[code]) for code in self.warnings]

    @property
    def projection_label(self) -> str:
        if self.projection == "reached":
            return str(_("Target reached"))
        if self.projection == "date" and self.projected_date:
            return self.projected_date.strftime("%m/%Y")
        if self.projection == "not_before_horizon":
            return str(_("Not reached before %(year)s") % {"year": PLAN_HORIZON_YEAR})
        return ""


@dataclass
class ChildValues:
    area: Area
    readings: list[IndicatorReading]
    gap_score: Decimal | None


def measured_value(
    indicator: Indicator,
    area_id: int,
    month: date,
    numerator: int | None,
    value: Decimal | None,
    history: OfficialFiguresByYear | None,
) -> Decimal | None:
    """A month's value as targets measure it: ``numerator`` over that year's official figure of the
    indicator's band for the area, else the register's ``value`` (and a reported value as it is)."""
    if history is None or numerator is None or not indicator.is_computed:
        return value
    official = reading_figures(indicator, numerator, None, history.year(month.year).get(area_id), history.bounds).value
    return value if official is None else official


def percent(numerator: int, denominator: int) -> Decimal | None:
    """``numerator`` as a percentage of ``denominator`` to three decimals (half up); ``None`` over nothing."""
    return rate(numerator, denominator)


def visible_area(*, user: User, area_id: int) -> Area:
    """The area if the user may see it, else ``OutOfScope``."""
    area = Area.objects.filter(pk=area_id).first()
    if area is None or not scope_for(user).contains(area):
        raise OutOfScope(_("No such area."))
    return area


def live_count_rows(area: Area) -> QuerySet[CommuneCount] | QuerySet[VillageCount]:
    """The live count rows whose sum is ``area``'s: a province's or a commune's stored commune sums
    (``CommuneCount``: ~1,500 rows for a province instead of ~55,000 village rows), else its villages'."""
    if area.depth == 1:  # on the counts' own province column: no join with the area tree
        return CommuneCount.objects.filter(province_id=area.pk)
    if area.depth == COMMUNE_DEPTH:
        return CommuneCount.objects.filter(commune_id=area.pk)
    return VillageCount.objects.filter(village__path__startswith=area.path)


def _live_counts(area: Area, group_by_child: bool = False) -> dict[tuple[int, int], tuple[int, int]]:
    """Sums of the village counts in ``area``'s subtree, by (area id, indicator id): ``area``'s own, or
    each child's if asked.

    A province or a commune reads its communes' stored sums (``CommuneCount``: ~1,500 rows for a
    province instead of ~55,000 village rows); an area below a commune sums its villages.
    """
    if group_by_child:
        return _live_counts_by_child(area)
    values = live_count_rows(area).values("indicator_id").annotate(n=Sum("numerator"), d=Sum("denominator"))
    return {(area.pk, row["indicator_id"]): (int(row["n"]), int(row["d"])) for row in values}


def _live_counts_by_child(area: Area) -> dict[tuple[int, int], tuple[int, int]]:
    """Per child of ``area`` and indicator (by their ids), the sums of the village counts below the child.

    A province's children are its communes: their stored sums are read as they are (``CommuneCount``,
    one row per commune and indicator, on its own province column: no join with the area tree).
    Below, the village counts are summed per child, the child joined on its path with its ``depth``
    given, so the planner knows it is a few rows and hash-aggregates instead of sorting on disk;
    the sums come back as integers (no Decimal per row). Both area joins are held to the area's
    province: with the whole country in one table, an unrestricted join read every area of the
    country (``bench/national.py``).
    """
    areas = Area._meta.db_table
    if area.depth + 1 == COMMUNE_DEPTH:
        sql = (
            "SELECT s.commune_id, s.indicator_id, s.numerator, s.denominator "  # noqa: S608
            f"FROM {CommuneCount._meta.db_table} s WHERE s.province_id = %s"
        )
        params: list[int | str] = [area.pk]
    else:
        province_id = area.province_id or area.pk
        sql = (
            "SELECT c.id, v.indicator_id, CAST(SUM(v.numerator) AS BIGINT), CAST(SUM(v.denominator) AS BIGINT) "  # noqa: S608
            f"FROM {VillageCount._meta.db_table} v JOIN {areas} a ON a.id = v.village_id AND a.province_id = %s "
            f"JOIN {areas} c ON c.province_id = %s AND c.depth = %s AND c.path = SUBSTR(a.path, 1, %s) "
            "WHERE a.path LIKE %s GROUP BY c.id, v.indicator_id"
        )
        params = [province_id, province_id, area.depth + 1, (area.depth + 1) * Area.steplen, area.path + "%"]
    # Raw SQL is not routed: ask the router, so a dashboard's read goes to a replica as its ORM reads do.
    with connections[router.db_for_read(VillageCount)].cursor() as cursor:
        cursor.execute(sql, params)
        return {(area_id, indicator_id): (n, d) for area_id, indicator_id, n, d in cursor.fetchall()}


# (baselines, pace months) by (area id, indicator id): each a month as (start, numerator, value).
Month = tuple[date, int | None, Decimal]
History = tuple[dict[tuple[int, int], Month], dict[tuple[int, int], Month]]


def _cached_history(anchor: Area, areas: list[Area] | tuple[Area, ...], indicator_ids: list[int], period: Period) -> History:
    """``_history`` of ``areas`` (all in ``anchor``'s province), from the province's cache when it may
    serve it (``MONTH_HISTORY``: moved by every writer of indicator values), else read.

    The baselines and the pace's month change only when a month is closed or a value reported, while a
    ranking reads them on every view (2,430 series for a province's 135 communes, ~20 ms after 18 months).
    """
    area_ids = [a.pk for a in areas]
    province_id = anchor.province_id or anchor.pk
    if province_id is None or any((a.province_id or a.pk) != province_id for a in areas):
        return _history(area_ids, indicator_ids, period)  # the national level: provinces' rows
    key = (period.last_month_index, tuple(area_ids), tuple(indicator_ids))
    cached = MONTH_HISTORY.get(province_id, key, lambda using: _history(area_ids, indicator_ids, period, using))
    return cached if cached is not None else _history(area_ids, indicator_ids, period)


def _history(area_ids: list[int], indicator_ids: list[int], period: Period, using: str | None = None) -> History:
    """Baseline (earliest month snapshot) and the snapshot ``PACE_MONTHS`` before the period's end.

    Each as (month, numerator, value), by (area id, indicator id): ``IndicatorReading.measure_month``
    measures it like the reading. Two queries whose cost follows the number of series, not of
    months kept: each series' first month (one index probe per area and indicator, through the
    month snapshots' series index), then the rows of those months and of the pace's. A window over
    every snapshot of the areas, as this once was, sorted all of them: 43 ms for a province's 135
    communes after 18 months (``bench/rollup.py``).
    """
    if not area_ids or not indicator_ids:
        return {}, {}
    pace_start = month_start(period.last_month_index - PACE_MONTHS)
    values, areas, indicators = IndicatorValue._meta.db_table, Area._meta.db_table, Indicator._meta.db_table
    sql = (
        f"SELECT a.id, i.id, (SELECT MIN(v.period_start) FROM {values} v WHERE v.area_id = a.id "  # noqa: S608
        "AND v.indicator_id = i.id AND v.period_kind = %s AND v.value IS NOT NULL) "
        f"FROM {areas} a CROSS JOIN {indicators} i "
        f"WHERE a.id IN ({', '.join(['%s'] * len(area_ids))}) AND i.id IN ({', '.join(['%s'] * len(indicator_ids))})"
    )
    if using is None:
        using = router.db_for_read(IndicatorValue)  # raw SQL is not routed: as the ORM's reads are
    with connections[using].cursor() as cursor:
        cursor.execute(sql, [PeriodKind.MONTH.value, *area_ids, *indicator_ids])
        # SQLite gives the date back as text (no column type on an aggregate).
        first = {
            (area_id, indicator_id): start if isinstance(start, date) else date.fromisoformat(start)
            for area_id, indicator_id, start in cursor.fetchall()
            if start is not None
        }
    baseline: dict[tuple[int, int], tuple[date, int | None, Decimal]] = {}
    earlier: dict[tuple[int, int], tuple[date, int | None, Decimal]] = {}
    if not first:
        return baseline, earlier  # no snapshot at all: no pace either
    rows = IndicatorValue.objects.using(using).filter(
        area_id__in=area_ids,
        indicator_id__in=indicator_ids,
        period_kind=PeriodKind.MONTH,
        value__isnull=False,
        period_start__in={*first.values(), pace_start},
    )
    for area_id, indicator_id, start, numerator, value in rows.values_list(
        "area_id", "indicator_id", "period_start", "numerator", "value"
    ):
        assert value is not None  # noqa: S101 - the months are filtered on value__isnull=False
        key = (area_id, indicator_id)
        if first.get(key) == start:
            baseline[key] = (start, numerator, value)
        if start == pace_start:
            earlier[key] = (start, numerator, value)
    return baseline, earlier


def _next_target(targets: dict[int, TargetInfo], year: int) -> TargetInfo | None:
    """The target of the first year from ``year`` on (a loop, not a sort: a few years, thousands of readings)."""
    later = None
    for target_year in targets:
        if target_year >= year and (later is None or target_year < later):
            later = target_year
    return None if later is None else targets[later]


def assess_reading(
    reading: IndicatorReading,
    baseline_month: tuple[date, int | None, Decimal] | None,
    earlier_month: tuple[date, int | None, Decimal] | None,
    *,
    end_index: int | None = None,
) -> None:
    """Fill target, gap, expected position on the straight path, and the projection.

    All measured by ``reading.measured_value``, the baseline and the pace's earlier month the same way.
    ``end_index``: the period's last month index, given by a caller assessing many readings of one period.
    """
    reading.target = _next_target(reading.targets, reading.period.start.year)
    history, indicator = reading.official_history, reading.indicator
    band = band_of(indicator, history.bounds) if history is not None and indicator.is_computed else None
    _assess_against_target(reading, baseline_month, earlier_month, end_index=end_index, band=band)


def _measured_month(
    month: tuple[date, int | None, Decimal | None], band: str | None, area_id: int, history: OfficialFiguresByYear | None
) -> Decimal | None:
    """``IndicatorReading.measure_month`` of a reading whose official ``band`` is known (``band_of``, or
    ``None`` for a reported indicator or a band no column gives): ``measured_value`` without deciding
    the band again for each of a ranking's ~5,000 months."""
    start, numerator, value = month
    if band is None or numerator is None or history is None:
        return value
    figure = (history.year(start.year).get(area_id) or {}).get(band)
    return value if figure is None or figure.value is None else rate(numerator, figure.value)


@functools.lru_cache(maxsize=4096)
def _path_share(end_index: int, base_index: int, target_index: int) -> Decimal | None:
    """How far along the straight path from the baseline's month to the target's month the period's last
    month is (0 to 1), ``None`` when the target's month is not after the baseline's. The same few
    months for all of a ranking's readings: one ``Decimal`` division each, not one per reading."""
    if target_index <= base_index:
        return None
    return Decimal(min(max(end_index - base_index, 0), target_index - base_index)) / (target_index - base_index)


def _assess_against_target(
    reading: IndicatorReading,
    baseline_month: tuple[date, int | None, Decimal] | None,
    earlier_month: tuple[date, int | None, Decimal] | None,
    *,
    end_index: int | None,
    band: str | None,
) -> None:
    """``assess_reading`` with ``reading.target`` already set (a caller of many readings finds it once)
    and the reading's official ``band`` known (months measured as ``_measured_month`` does)."""
    target = reading.target
    if target is None:
        return
    value = reading.measured_value
    if value is None:
        return
    baseline = earlier = None
    if baseline_month is not None:
        base_value = _measured_month(baseline_month, band, reading.area_id, reading.official_history)
        baseline = None if base_value is None else (baseline_month[0], base_value)
    if earlier_month is not None:
        earlier = _measured_month(earlier_month, band, reading.area_id, reading.official_history)
    reading.gap = (target.value - value).quantize(_THOUSANDTH)
    if end_index is None:
        end_index = reading.period.last_month_index
    target_index = target.year * 12 + 11
    if baseline is not None:
        share = _path_share(end_index, month_index(baseline[0]), target_index)
        if share is not None:
            reading.expected_now = (baseline[1] + (target.value - baseline[1]) * share).quantize(_THOUSANDTH)
            reading.on_track = value >= reading.expected_now
    if target.is_met_by(value):
        reading.projection = "reached"
        return
    if earlier is None:
        return
    pace = (value - earlier) / PACE_MONTHS
    if pace <= 0:
        reading.projection = "not_before_horizon"
        return
    months_needed = math.ceil((target.value - value) / pace)
    reached = month_end(end_index + months_needed)
    if reached.year > PLAN_HORIZON_YEAR:
        reading.projection = "not_before_horizon"
    else:
        reading.projection, reading.projected_date = "date", reached


def build_readings(
    areas: list[Area] | tuple[Area, ...],
    anchor: Area,
    period: Period,
    live: dict,
    indicators: list[Indicator] | tuple[Indicator, ...],
    figures: OfficialFiguresByYear | None = None,
    targets: Targets | None = None,
) -> dict[int, list[IndicatorReading]]:
    """Each area's readings of ``indicators`` for ``period``: computed ones from ``live`` (summed counts by
    area id and indicator id) while the period is open, else the stored values; with targets, official
    figures and pace.

    Not scoped: the caller has checked that the user sees ``anchor`` (the area whose page it is); the
    national level calls it with the provinces' rows.
    """
    is_live = period.is_open()
    history = figures if figures is not None else official_figures_by_year(anchor, period.start.year)
    if (bounds_of_province := own_bounds(indicators)) is not None:
        history.provide_bounds(bounds_of_province)  # read with the indicators: no query of their own
    figures_now, bounds = history.year(period.start.year), history.bounds
    # The stored values of the indicators not read live (all of them once the period is closed).
    not_live = [i.pk for i in indicators if not (is_live and i.kind == IndicatorKind.COMPUTED)]
    stored: dict[tuple[int, int], tuple] = {}
    if not_live:
        for area_id, indicator_id, *values in IndicatorValue.objects.filter(
            area_id__in=[a.pk for a in areas],
            indicator_id__in=not_live,
            period_kind=period.kind,
            period_start=period.start,
        ).values_list("area_id", "indicator_id", "numerator", "denominator", "value", "reported_by_id", "reported_at"):
            stored[(area_id, indicator_id)] = tuple(values)
    if targets is None:
        targets = targets_in_force(areas, anchor)
    baseline, earlier = _cached_history(anchor, areas, [i.pk for i in indicators], period)
    result: dict[int, list[IndicatorReading]] = {}
    # Hoisted out of the areas × indicators loop (2,430 readings for a province's communes): per
    # indicator, whether it is read live and its official band; per period, its last month.
    plan = [
        (
            indicator,
            indicator.pk,
            indicator.kind == IndicatorKind.COMPUTED and is_live,
            band_of(indicator, bounds) if indicator.is_computed else None,
        )
        for indicator in indicators
    ]
    end_index, year = period.last_month_index, period.start.year
    no_targets: dict[int, TargetInfo] = {}
    next_by_targets: dict[int, tuple[TargetInfo | None]] = {}  # by ``id`` of a mapping that lives through the loop
    for area in areas:
        area_pk, area_targets = area.pk, targets[area.pk]
        area_figures, level = figures_now.get(area_pk), level_of(area)
        readings = []
        for indicator, indicator_pk, live_value, band in plan:
            key = (area_pk, indicator_pk)
            # Every field known first, then one constructor call per reading (2,430 in a ranking).
            reported_by_id = reported_at = None
            if live_value:
                numerator, denominator = live.get((area_pk, indicator_pk), (0, 0))
                value: Decimal | None = rate(numerator, denominator)
            elif (row := stored.get(key)) is not None:
                numerator, denominator, value, reported_by_id, reported_at = row
            else:
                numerator = denominator = value = None
            official = official_reading(band, numerator, denominator, area_figures)
            # Areas share their targets' mapping (``targets_in_force``): the next target found once per mapping.
            indicator_targets = area_targets.get(indicator_pk, no_targets)
            found = next_by_targets.get(id(indicator_targets))
            if found is None:
                found = next_by_targets[id(indicator_targets)] = (_next_target(indicator_targets, year),)
            # Positional, in the fields' order (the names in the comments): 2,430 calls with keywords took
            # 4.8 ms, positionally 1.9 ms. A field added to ``IndicatorReading`` must be added here.
            reading = IndicatorReading(
                indicator,
                area_pk,  # area_id
                period,
                numerator,
                denominator,
                value,
                live_value,  # is_live
                indicator_targets,  # targets
                found[0],  # target
                None,  # gap
                None,  # expected_now
                None,  # on_track
                None,  # projected_date
                "",  # projection
                reported_by_id,
                reported_at,
                official.band,  # official_band
                official.figure,  # official
                official.value,  # official_value
                official.coverage,  # coverage
                level,  # official_level
                official.warnings,  # warnings
                history,  # official_history
            )
            _assess_against_target(reading, baseline.get(key), earlier.get(key), end_index=end_index, band=band)
            readings.append(reading)
        result[area_pk] = readings
    return result


def official_figures_for(*, user: User, area: Area, period: Period) -> OfficialFiguresByYear:
    """The official figures of ``area`` and every area below it for ``period``'s year and the years
    before it (one query; past months are measured over their own year's figure).

    Pass them to ``area_indicator_values`` and ``child_indicator_values`` of the same area and
    period so that a page showing both reads them once.
    """
    ensure_visible(user, area)
    return official_figures_by_year(area, period.start.year)


def area_indicator_values(
    *, user: User, area: Area, period: Period, figures: OfficialFiguresByYear | None = None
) -> list[IndicatorReading]:
    """Every active indicator's value for ``area`` and ``period``, against its targets.

    Each computed reading carries its rate over the official population too (``figures``: from
    ``official_figures_for`` of the same area and period; read here when not given).
    """
    ensure_visible(user, area)
    frame = frame_of(area)
    live = _live_counts(area) if period.is_open() else {}
    return build_readings([area], area, period, live, frame.indicators, figures, frame.targets)[area.pk]


def child_indicator_values(
    *,
    user: User,
    area: Area,
    period: Period,
    indicator: Indicator | None = None,
    figures: OfficialFiguresByYear | None = None,
    indicators: list[Indicator] | None = None,
) -> list[ChildValues]:
    """The same for each child of ``area``, largest gap first.

    Ranked by the gap of ``indicator`` if given, else by the mean gap over indicators with a target.
    ``indicators``: those of ``area_indicator_values`` of the same area (its readings' indicators), so
    that the children's columns are the parent's readings'; the area's frame's when not given.
    """
    ensure_visible(user, area)
    frame = frame_of(area, children=True, indicators=indicators is None)
    children = frame.areas
    if not children:
        return []
    # The parent's indicators (the frame's are the area's own), so the children's readings line up with the parent's.
    live = _live_counts(area, group_by_child=True) if period.is_open() else {}
    per_area = build_readings(
        children, area, period, live, frame.indicators if indicators is None else indicators, figures, frame.targets
    )
    rows = []
    for child in children:
        readings = per_area[child.pk]
        gaps = [r.gap for r in readings if r.gap is not None and (indicator is None or r.indicator.pk == indicator.pk)]
        score = (sum(gaps, Decimal(0)) / len(gaps)).quantize(Decimal("0.001")) if gaps else None
        rows.append(ChildValues(child, readings, score))
    rows.sort(key=lambda row: (row.gap_score is None, -(row.gap_score or 0), row.area.name))
    return rows


@dataclass(frozen=True)
class SeriesPoint:
    month: date
    numerator: int | None
    denominator: int | None
    value: Decimal | None
    is_live: bool
    measured_value: Decimal | None  # as targets measure it (``measured_value``): what the trend draws


def indicator_series(
    *,
    user: User,
    area: Area,
    indicator: Indicator,
    first_month: date,
    last_month: date,
    figures: OfficialFiguresByYear | None = None,
) -> list[SeriesPoint]:
    """Monthly values of one indicator for an area: frozen snapshots, and the live current month.

    Each point is measured like the area's reading (over its year's official figure where there is
    one): ``figures`` of the area (or an ancestor) up to ``last_month``'s year, read here when not given.
    """
    return indicator_series_many(
        user=user, area=area, indicators=[indicator], first_month=first_month, last_month=last_month, figures=figures
    )[indicator.pk]


def indicator_series_many(
    *,
    user: User,
    area: Area,
    indicators: list[Indicator],
    first_month: date,
    last_month: date,
    figures: OfficialFiguresByYear | None = None,
    live: dict[int, tuple[int, int]] | None = None,
) -> dict[int, list[SeriesPoint]]:
    """``indicator_series`` of several indicators at once: indicator id → its points.

    One query for the snapshots of all of them (a dashboard draws every indicator's trend), and the
    live counts summed at most once. ``live``: indicator id → (numerator, denominator) of the open
    month already at hand (the readings'), which spares summing them again.
    """
    ensure_visible(user, area)
    if not indicators:
        return {}
    if figures is None or figures.last_year < last_month.year:
        computed = any(indicator.is_computed for indicator in indicators)
        figures = official_figures_by_year(area, last_month.year) if computed else None
    snapshots = {
        (row.indicator_id, row.period_start): row
        for row in IndicatorValue.objects.filter(
            area=area,
            indicator__in=[indicator.pk for indicator in indicators],
            period_kind=PeriodKind.MONTH,
            period_start__gte=first_month.replace(day=1),
            period_start__lte=last_month,
        )
    }
    live_month = Period.containing(PeriodKind.MONTH, today())
    live_counts: dict[int, tuple[int, int] | None] = {}
    if first_month <= live_month.start <= last_month:
        live_counts.update(live or {})
        unknown = [i.pk for i in indicators if i.kind == IndicatorKind.COMPUTED and i.pk not in live_counts]
        if unknown:
            counts = _live_counts(area)
            live_counts.update({pk: counts.get((area.pk, pk)) for pk in unknown})
    result: dict[int, list[SeriesPoint]] = {}
    for indicator in indicators:
        now = live_counts.get(indicator.pk) if indicator.kind == IndicatorKind.COMPUTED else None
        points = []
        for index in range(month_index(first_month), month_index(last_month) + 1):
            start = month_start(index)
            if now is not None and start == live_month.start:
                value = percent(*now)
                measured = measured_value(indicator, area.pk, start, now[0], value, figures)
                points.append(SeriesPoint(start, now[0], now[1], value, True, measured))
            elif (row := snapshots.get((indicator.pk, start))) is not None:
                measured = measured_value(indicator, area.pk, start, row.numerator, row.value, figures)
                points.append(SeriesPoint(start, row.numerator, row.denominator, row.value, False, measured))
            else:
                points.append(SeriesPoint(start, None, None, None, False, None))
        result[indicator.pk] = points
    return result


__all__ = [
    "MEASURED_OFFICIAL",
    "MEASURED_REGISTER",
    "MEASURED_REPORTED",
    "MEASURE_LABELS",
    "ChildValues",
    "IndicatorReading",
    "OutOfScope",
    "SeriesPoint",
    "TargetInfo",
    "active_indicators",
    "area_indicator_values",
    "assess_reading",
    "build_readings",
    "child_indicator_values",
    "indicator_series",
    "indicator_series_many",
    "measured_value",
    "official_figures_for",
    "percent",
    "visible_area",
]
