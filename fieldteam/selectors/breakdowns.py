"""Computed indicators broken down by sex and by ethnic group, with small cells suppressed.

Women and ethnic minorities are who the plans most need to reach, so every computed resident
indicator is shown for women and men, and for ethnic minorities, Kinh and residents whose
ethnicity is not recorded. Ethnicity is sensitive data: only these aggregates leave the
database (the counts read ``Resident.ethnic_group``, never the text), and ``suppress`` hides
every cell of fewer than ``SMALL_CELL`` people, and each cell that would give one away by
subtraction, in every output (dashboards, reports, the API all read ``area_breakdowns``).

What a cell is: the numerator (holders) and the denominator (the population) of one group in one
area. Hidden: a denominator under ``SMALL_CELL`` (but not an empty group, which tells nothing of
anyone); a numerator under it, or whose complement (the group's non-holders) is under it; a
numerator whose denominator is hidden. Then, so that no hidden cell can be recovered by
subtraction: within each partition of a published total (women + men; minority + Kinh + not
recorded) and across the children of the area's parent (their sum is the parent's published
cell), a hidden cell never stands alone: the smallest other cell is hidden with it, until stable.
The protection covers the area's own partitions and its siblings; differences across more than
one level of the tree are not searched.

Household indicators have no breakdown (a household has no sex or ethnicity of its own).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import connections, router
from django.db.models import Sum
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import IndicatorKind, PopulationKind
from fieldteam.models import Area, CommuneCount, Indicator, IndicatorValue, User, VillageCount
from fieldteam.periods import Period
from fieldteam.permissions import ensure_visible
from fieldteam.rollup.rules import COMMUNE_DEPTH, COUNT_COLUMNS
from fieldteam.selectors.indicators import live_count_rows

SMALL_CELL = 5
# How a hidden number is printed, everywhere (the same mark whatever the reason, which is no hint).
SUPPRESSED = "<5"

# The groups, in the order they are shown: each partition's groups add up to the total.
WOMEN, MEN = "women", "men"
MINORITY, KINH, UNKNOWN = "minority", "kinh", "unknown"
SEX_GROUPS = (WOMEN, MEN)
ETHNIC_GROUPS = (MINORITY, KINH, UNKNOWN)
GROUPS = (*SEX_GROUPS, *ETHNIC_GROUPS)
GROUP_LABELS = {
    WOMEN: _("Women"),
    MEN: _("Men"),
    MINORITY: _("Ethnic minorities"),
    KINH: _("Kinh"),
    UNKNOWN: _("Ethnicity not recorded"),
}

Pair = tuple[int, int]  # (numerator, denominator)


@dataclass(frozen=True)
class Cell:
    """One group's numbers; ``None`` where suppressed."""

    numerator: int | None
    denominator: int | None

    @property
    def value(self) -> Decimal | None:
        """The rate in %, only where both numbers are shown (a rate and a denominator give the numerator)."""
        if self.numerator is None or self.denominator is None or not self.denominator:
            return None
        return (Decimal(self.numerator) * 100 / Decimal(self.denominator)).quantize(
            Decimal("0.001"), rounding=ROUND_HALF_UP
        )

    @property
    def suppressed(self) -> bool:
        return self.numerator is None or self.denominator is None

    @property
    def numerator_text(self) -> str:
        return SUPPRESSED if self.numerator is None else str(self.numerator)

    @property
    def denominator_text(self) -> str:
        return SUPPRESSED if self.denominator is None else str(self.denominator)

    @property
    def value_text(self) -> str:
        value = self.value
        if value is not None:
            return f"{value:.1f}"
        return SUPPRESSED if self.suppressed else "–"


@dataclass(frozen=True)
class Breakdown:
    """One computed indicator of one area and period, by sex and by ethnic group."""

    indicator: Indicator
    total: Pair
    cells: dict[str, Cell]  # by group (``GROUPS``)
    # False for a period frozen before breakdowns were counted (issue 15): no cells to show.
    available: bool = True

    def gap(self, group: str, reference: str) -> Decimal | None:
        """``group``'s rate minus ``reference``'s, in points; ``None`` if either is hidden or empty."""
        ours, theirs = self.cells[group].value, self.cells[reference].value
        return None if ours is None or theirs is None else ours - theirs

    @property
    def women_gap(self) -> Decimal | None:
        return self.gap(WOMEN, MEN)

    @property
    def minority_gap(self) -> Decimal | None:
        return self.gap(MINORITY, KINH)

    @property
    def rows(self) -> list[tuple[str, str, Cell]]:
        """(group, label, cell) in display order."""
        return [(group, str(GROUP_LABELS[group]), self.cells[group]) for group in GROUPS]


def group_pairs(counted: Sequence[int]) -> dict[str, Pair]:
    """A count's cell (``rules.COUNT_COLUMNS``) as (numerator, denominator) per group; the rest by subtraction."""
    n, d, wn, wd, mn, md, kn, kd = (int(value or 0) for value in counted)
    return {
        WOMEN: (wn, wd),
        MEN: (n - wn, d - wd),
        MINORITY: (mn, md),
        KINH: (kn, kd),
        UNKNOWN: (n - mn - kn, d - md - kd),
    }


# --- suppression --------------------------------------------------------------------------------


def _small(count: int) -> bool:
    return 0 < count < SMALL_CELL


def _protect(values: dict[object, int], hidden: set[object]) -> bool:
    """Within one partition of a published total: a hidden cell never alone. Returns whether it hid more."""
    inside = [key for key in values if key in hidden]
    if len(inside) != 1 or len(values) < 2:
        return False
    # The smallest other cell (ties: the first), whatever its size, even empty: one equation, two unknowns.
    other = min((key for key in values if key not in hidden), key=lambda key: values[key])
    hidden.add(other)
    return True


def suppress(families: dict[object, dict[str, Pair]]) -> dict[object, dict[str, Cell]]:
    """The cells to publish of sibling areas (``families``: area -> group -> (numerator, denominator)).

    The one suppression rule of the module docstring, applied to the areas together: within each
    area's partitions (sex; ethnic group) and, per group, across the areas (their sum is their
    parent's published cell). Pass a single area for one without published siblings.
    """
    keys = [(area, group) for area, pairs in families.items() for group in pairs]
    partitions: list[list[tuple[object, str]]] = []
    for area in families:
        partitions.append([(area, group) for group in SEX_GROUPS])
        partitions.append([(area, group) for group in ETHNIC_GROUPS])
    if len(families) > 1:
        partitions += [[(area, group) for area in families] for group in GROUPS]

    def settle(values: dict[tuple[object, str], int], hidden: set[tuple[object, str]]) -> None:
        changed = True
        while changed:
            changed = False
            for partition in partitions:
                changed |= _protect({key: values[key] for key in partition}, hidden)  # type: ignore[arg-type]  # keys of one table

    denominators = {key: families[key[0]][key[1]][1] for key in keys}
    numerators = {key: families[key[0]][key[1]][0] for key in keys}
    hidden_d = {key for key, d in denominators.items() if _small(d)}
    settle(denominators, hidden_d)
    hidden_n = {
        key
        for key in keys
        if key in hidden_d
        or (denominators[key] and (numerators[key] < SMALL_CELL or denominators[key] - numerators[key] < SMALL_CELL))
    }
    settle(numerators, hidden_n)
    return {
        area: {
            group: Cell(
                None if (area, group) in hidden_n else numerators[(area, group)],
                None if (area, group) in hidden_d else denominators[(area, group)],
            )
            for group in pairs
        }
        for area, pairs in families.items()
    }


# --- reading ------------------------------------------------------------------------------------


def _resident_indicators() -> list[Indicator]:
    """The computed indicators that have a breakdown: those over residents (not households)."""
    return list(
        Indicator.objects.filter(is_active=True, kind=IndicatorKind.COMPUTED)
        .exclude(population=PopulationKind.HOUSEHOLDS)
        .order_by("sort_order", "code")
    )


def _live_by_child(parent: Area, indicator_ids: Iterable[int]) -> dict[tuple[int, int], tuple[int, ...]]:
    """(child area id, indicator id) -> the summed count cell of the villages below each child of ``parent``.

    A province's children are its communes: their stored sums (``CommuneCount``) are read as they
    are. Below a commune the village counts are summed per child.
    """
    ids = list(indicator_ids)
    if not ids:
        return {}
    if parent.depth + 1 == COMMUNE_DEPTH:
        stored = CommuneCount.objects.filter(province_id=parent.pk, indicator_id__in=ids).values_list(
            "commune_id", "indicator_id", *COUNT_COLUMNS
        )
        return {(child, indicator): tuple(cell) for child, indicator, *cell in stored}
    counts, areas = VillageCount._meta.db_table, Area._meta.db_table
    sums = ", ".join(f"CAST(SUM(v.{column}) AS BIGINT)" for column in COUNT_COLUMNS)
    placeholders = ", ".join(["%s"] * len(ids))
    sql = (
        f"SELECT c.id, v.indicator_id, {sums} FROM {counts} v JOIN {areas} a ON a.id = v.village_id "  # noqa: S608
        f"JOIN {areas} c ON c.depth = %s AND c.path = SUBSTR(a.path, 1, %s) "
        f"WHERE v.province_id = %s AND a.path LIKE %s AND v.indicator_id IN ({placeholders}) GROUP BY c.id, v.indicator_id"
    )
    # Raw SQL is not routed: ask the router, so a dashboard's read goes to a replica as its ORM reads do.
    with connections[router.db_for_read(VillageCount)].cursor() as cursor:
        cursor.execute(
            sql,
            [
                parent.depth + 1,
                (parent.depth + 1) * Area.steplen,
                parent.province_id or parent.pk,
                parent.path + "%",
                *ids,
            ],
        )
        return {(child, indicator): tuple(cell) for child, indicator, *cell in cursor.fetchall()}


def _counts(
    family: list[Area], parent: Area | None, period: Period, indicator_ids: list[int]
) -> dict[tuple[int, int], tuple[int, ...]]:
    """The count cells of ``family`` (one area, or the children of ``parent``) for ``period``."""
    if period.is_open():
        if parent is not None:
            return _live_by_child(parent, indicator_ids)
        area = family[0]
        rows = live_count_rows(area)  # summed by the database
        sums = {f"sum_{position}": Sum(column) for position, column in enumerate(COUNT_COLUMNS)}
        summed = (
            rows.filter(indicator_id__in=indicator_ids)
            .values("indicator_id")
            .annotate(**sums)
            .values_list("indicator_id", *sums)
        )
        return {(area.pk, indicator_id): tuple(int(v or 0) for v in cell) for indicator_id, *cell in summed}
    frozen = IndicatorValue.objects.filter(
        area__in=family, indicator_id__in=indicator_ids, period_kind=period.kind, period_start=period.start
    ).values_list("area_id", "indicator_id", *COUNT_COLUMNS)
    return {(area_id, indicator_id): tuple(cell) for area_id, indicator_id, *cell in frozen}


def area_breakdowns(*, user: User, area: Area, period: Period) -> list[Breakdown]:
    """Every computed resident indicator of ``area`` for ``period``, by sex and ethnic group, suppressed.

    Read with the area's siblings (the children of its parent, whose sum is the parent's published
    figure) so that no sibling's numbers give a hidden cell away; a province alone. Two queries.
    """
    ensure_visible(user, area)
    indicators = _resident_indicators()
    if not indicators:
        return []
    parent_path = area.path[: -Area.steplen]
    parent = Area.objects.filter(path=parent_path).first() if parent_path else None
    family = list(Area.objects.filter(path__startswith=parent.path, depth=area.depth)) if parent is not None else [area]
    counts = _counts(family, parent, period, [indicator.pk for indicator in indicators])
    empty = (0,) * len(COUNT_COLUMNS)
    unknown = dict.fromkeys(GROUPS, Cell(None, None))
    result = []
    for indicator in indicators:
        total = counts.get((area.pk, indicator.pk), empty)
        cells = [counts.get((member.pk, indicator.pk), empty) for member in family]
        if any(cell[1] and cell[3] is None for cell in cells):  # frozen before the breakdown existed
            result.append(Breakdown(indicator, (int(total[0]), int(total[1])), unknown, available=False))
            continue
        # A sibling with nothing counted publishes zeros: part of the sum all the same.
        families = {member.pk: group_pairs(cell) for member, cell in zip(family, cells, strict=True)}
        result.append(Breakdown(indicator, (int(total[0] or 0), int(total[1] or 0)), suppress(families)[area.pk]))
    return result


__all__ = [
    "GROUPS",
    "GROUP_LABELS",
    "SMALL_CELL",
    "SUPPRESSED",
    "Breakdown",
    "Cell",
    "area_breakdowns",
    "group_pairs",
    "suppress",
]
