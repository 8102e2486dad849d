"""The full recompute, month closing and reported values of the roll-up engine.

The live village counts are kept by the write services (``counting.adjust_counts``). This module
recomputes them from the subject rows in a few set-based SQL statements per province — one
GROUP BY over residents and one over households, with one conditional aggregate per distinct
population and per indicator — compares with what is stored, logs any drift and corrects it.
It also freezes each closed month as ``IndicatorValue`` snapshots for every area.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import reduce
from operator import or_
from typing import cast

from django.db import connection, transaction
from django.db.models import Model, Q
from django.utils import timezone

from fieldteam import locks
from fieldteam.choices import ApprovalStatus, PeriodKind, ResidentStatus, Sex
from fieldteam.models import (
    Adoption,
    Area,
    Capability,
    CommuneCount,
    Household,
    IndicatorValue,
    MonthApproval,
    Resident,
    RollupState,
    VillageCount,
)
from fieldteam.periods import Period, month_end, month_index, month_start, today
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.rollup import sign_off
from fieldteam.rollup.rules import (
    CELL_WIDTH,
    COUNT_COLUMNS,
    GROUP_AT,
    WOMEN_AT,
    CountingRules,
    commune_path,
    commune_upsert_sql,
    empty_cell,
    load_rules,
)

logger = logging.getLogger(__name__)

# (village_id, indicator_id) -> (numerator, denominator, then their breakdown: ``rules.COUNT_COLUMNS``)
Counts = dict[tuple[int, int], tuple[int, ...]]
NO_COUNT = (0,) * CELL_WIDTH


@dataclass
class RecomputeResult:
    province_id: int
    month: date
    seconds: float
    rows: int
    # (place, indicator, stored, computed) of every row that differed: the village rows, then the
    # commune rows (``CommuneCount``, place = the commune).
    drift: list[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)


@dataclass(frozen=True)
class AsOf:
    """Count as of the end of a period from the event tables instead of the live masks."""

    end: date


def _resident_condition(rule_high: int, low: dict[str, int | None], params: list[int | str]) -> str:
    parts = ["birth_month_index <= %s"]
    params.append(rule_high)
    lows = set(low.values())
    if len(lows) == 1:
        (only,) = lows
        if only is not None:
            parts.append("birth_month_index > %s")
            params.append(only)
    else:
        per_sex = []
        for sex, bound in sorted(low.items()):
            if bound is None:
                per_sex.append("sex = %s")
                params.append(sex)
            else:
                per_sex.append("(sex = %s AND birth_month_index > %s)")
                params += [sex, bound]
        parts.append("(" + " OR ".join(per_sex) + ")")
    return " AND ".join(parts)


def resident_counts_sql(
    rules: CountingRules, province_id: int, as_of: AsOf | None = None
) -> tuple[str, list[int | str], list[tuple[int, str, str]]]:
    """One GROUP BY over the province's residents giving every resident indicator's counts per village.

    Grouped by village, sex and ethnic group (the breakdown: at most six groups a village, summed
    by ``compute_counts``), so each row is aggregated once, as without a breakdown, rather than
    once per breakdown column. Returns the SQL, its parameters and a plan ``(indicator_id,
    numerator column, denominator column)``. Identical populations are aggregated once. Live counts read the capability mask;
    ``as_of`` counts read the adoptions valid at the period's end and the residents living there then.
    """
    params: list[int | str] = []
    population_columns: dict[tuple[object, ...], str] = {}
    select: list[str] = []
    plan: list[tuple[int, str, str]] = []
    for position, rule in enumerate(rules.residents):
        key = (rule.high_bmi, *sorted(rule.low_bmi.items(), key=lambda kv: kv[0]))
        condition_params: list[int | str] = []
        condition = _resident_condition(rule.high_bmi, rule.low_bmi, condition_params)
        if key not in population_columns:
            population_columns[key] = f"d{len(population_columns)}"
            select.append(f"COUNT(*) FILTER (WHERE {condition}) AS {population_columns[key]}")
            params += condition_params
        # COUNT(*) FILTER with the cheap bit test first: ~20% less work per row on PostgreSQL than
        # SUM(CASE WHEN <ages> AND <bit> THEN 1 ELSE 0 END) (bench/rollup.py, 3.5M residents).
        select.append(f"COUNT(*) FILTER (WHERE (capability_mask & %s) <> 0 AND {condition}) AS n{position}")
        params += [rule.bit_mask, *condition_params]
        plan.append((rule.indicator_id, f"n{position}", population_columns[key]))
    if as_of is None:
        source = f"{Resident._meta.db_table} WHERE province_id = %s AND status = %s"
        params += [province_id, ResidentStatus.ACTIVE.value]
    else:
        source = _as_of_resident_source(province_id, as_of)
    sql = (
        f"SELECT village_id, sex, ethnic_group, {', '.join(select)} FROM {source} "  # noqa: S608
        "GROUP BY village_id, sex, ethnic_group"
    )
    return sql, params, plan


def _as_of_resident_source(province_id: int, as_of: AsOf) -> str:
    adoption = Adoption._meta.db_table
    capability = Capability._meta.db_table
    resident = Resident._meta.db_table
    end = as_of.end.isoformat()
    # Inlined constants (dates and ids we produced, never user input) keep the parameter order simple.
    return (
        f"(SELECT r.village_id, r.birth_month_index, r.sex, r.ethnic_group, COALESCE(h.held, 0) AS capability_mask "  # noqa: S608
        f"FROM {resident} r LEFT JOIN (SELECT a.resident_id, CAST(SUM(DISTINCT CAST(1 AS BIGINT) << c.bit) AS BIGINT) AS held "
        f"FROM {adoption} a JOIN {capability} c ON c.id = a.capability_id "
        f"WHERE a.province_id = {int(province_id)} AND a.resident_id IS NOT NULL AND a.since <= '{end}' "
        f"AND (a.ended_on IS NULL OR a.ended_on > '{end}') GROUP BY a.resident_id) h ON h.resident_id = r.id "
        f"WHERE r.province_id = {int(province_id)} AND r.birth_month_index <= {month_index(as_of.end)} "
        f"AND (r.status = '{ResidentStatus.ACTIVE.value}' OR r.left_on > '{end}')) counted"
    )


def household_counts_sql(
    rules: CountingRules, province_id: int, as_of: AsOf | None = None
) -> tuple[str, list[int | str]]:
    """One GROUP BY over the province's households: per village, (numerator, count) per household rule."""
    household = Household._meta.db_table
    select = ["COUNT(*)"]
    params: list[int | str] = []
    for rule in rules.households:
        # Its holdings: its adoptions and those through its members (``rollup.derivations``).
        select.append("COUNT(*) FILTER (WHERE ((capability_mask | derived_mask) & %s) <> 0)")
        params.append(rule.bit_mask)
    if as_of is None:
        source = f"{household} WHERE province_id = %s AND is_active = %s"
        params += [province_id, True]
    else:
        adoption = Adoption._meta.db_table
        capability = Capability._meta.db_table
        end = as_of.end.isoformat()
        source = (
            f"(SELECT hh.village_id, COALESCE(h.held, 0) AS capability_mask, "  # noqa: S608
            f"{_as_of_member_derived(rules, province_id, as_of)} AS derived_mask FROM {household} hh "
            f"LEFT JOIN (SELECT a.household_id, CAST(SUM(DISTINCT CAST(1 AS BIGINT) << c.bit) AS BIGINT) AS held "
            f"FROM {adoption} a JOIN {capability} c ON c.id = a.capability_id "
            f"WHERE a.province_id = {int(province_id)} AND a.household_id IS NOT NULL AND a.since <= '{end}' "
            f"AND (a.ended_on IS NULL OR a.ended_on > '{end}') GROUP BY a.household_id) h "
            f"ON h.household_id = hh.id WHERE hh.province_id = {int(province_id)} AND hh.is_active) counted"
        )
    return f"SELECT village_id, {', '.join(select)} FROM {source} GROUP BY village_id", params  # noqa: S608


def _as_of_member_derived(rules: CountingRules, province_id: int, as_of: AsOf) -> str:
    """SQL of household ``hh``'s holdings through members at ``as_of`` (``derived_mask`` then).

    A member counts who lived there then (as ``_as_of_resident_source`` counts residents) and held,
    by an adoption valid then, a capability meeting an "any member" rule's source.
    """
    if not rules.derivations.members:
        return "0"
    resident = Resident._meta.db_table
    adoption = Adoption._meta.db_table
    capability = Capability._meta.db_table
    end = as_of.end.isoformat()
    parts = [
        f"CASE WHEN EXISTS (SELECT 1 FROM {resident} m JOIN {adoption} a ON a.resident_id = m.id "  # noqa: S608
        f"JOIN {capability} c ON c.id = a.capability_id WHERE m.household_id = hh.id "
        f"AND m.province_id = {int(province_id)} "
        f"AND (m.status = '{ResidentStatus.ACTIVE.value}' OR m.left_on > '{end}') "
        f"AND a.since <= '{end}' AND (a.ended_on IS NULL OR a.ended_on > '{end}') "
        f"AND ((CAST(1 AS BIGINT) << c.bit) & {int(rule.source_mask)}) <> 0) "
        f"THEN {int(rule.target_bit)} ELSE 0 END"
        for rule in rules.derivations.members
    ]
    return "(" + " | ".join(parts) + ")"


def _resident_cells(rows: list[tuple], positions: list[tuple[int, int, int]]) -> Counts:
    """The cells of ``resident_counts_sql``'s rows: each is one sex and ethnic group of a village,
    added to the village's total and to its breakdown (``rules.COUNT_COLUMNS``)."""
    cells: dict[tuple[int, int], list[int]] = {}
    for row in rows:
        at = [0]
        if row[1] == Sex.FEMALE:
            at.append(WOMEN_AT)
        if (group_at := GROUP_AT.get(row[2])) is not None:
            at.append(group_at)
        for indicator_id, numerator_at, denominator_at in positions:
            denominator = int(row[denominator_at] or 0)
            if denominator:
                numerator = int(row[numerator_at] or 0)
                cell = cells.get((row[0], indicator_id))
                if cell is None:
                    cell = cells[(row[0], indicator_id)] = empty_cell()
                for position in at:
                    cell[position] += numerator
                    cell[position + 1] += denominator
    return {key: tuple(cell) for key, cell in cells.items()}


def compute_counts(rules: CountingRules, province_id: int, as_of: AsOf | None = None) -> Counts:
    """Every non-empty (village, indicator) count of the province, computed from the subject rows."""
    counts: Counts = {}
    with connection.cursor() as cursor:
        if rules.residents:
            sql, params, plan = resident_counts_sql(rules, province_id, as_of)
            cursor.execute(sql, params)
            columns = [col[0] for col in cursor.description]
            positions = [(i, columns.index(n), columns.index(d)) for i, n, d in plan]
            counts.update(_resident_cells(cursor.fetchall(), positions))
        if rules.households:
            sql, params = household_counts_sql(rules, province_id, as_of)
            cursor.execute(sql, params)
            no_breakdown = NO_COUNT[2:]  # households have none
            for village_id, total, *numerators in cursor.fetchall():
                if total:
                    for rule, numerator in zip(rules.households, numerators, strict=True):
                        counts[(village_id, rule.indicator_id)] = (int(numerator or 0), int(total), *no_breakdown)
    return counts


def stored_counts(province_id: int, model: type[VillageCount] | type[CommuneCount] = VillageCount) -> Counts:
    """The province's stored non-zero counts: (village, indicator) cells, or (commune, indicator) with ``CommuneCount``."""
    # A plain cursor: at province scale (villages × indicators, ~55k rows) the ORM's per-row
    # machinery costs more than the query.
    table = model._meta.db_table
    place = "village_id" if model is VillageCount else "commune_id"
    any_count = " OR ".join(f"{column} <> 0" for column in COUNT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {place}, indicator_id, {', '.join(COUNT_COLUMNS)} FROM {table} "  # noqa: S608
            f"WHERE province_id = %s AND ({any_count})",
            [province_id],
        )
        return {(village, indicator): tuple(cell) for village, indicator, *cell in cursor.fetchall()}


def communes_of(province_id: int) -> dict[int, int]:
    """Each area of the province -> the commune whose ``CommuneCount`` rows count it (``rules.commune_path``)."""
    areas = list(Area.objects.filter(province_id=province_id).values_list("pk", "path"))
    by_path = {path: pk for pk, path in areas}
    return {pk: by_path[commune] for pk, path in areas if (commune := commune_path(path)) in by_path}


def commune_counts(counts: Counts, communes: dict[int, int]) -> Counts:
    """The (commune, indicator) sums of village ``counts``: what the ``CommuneCount`` rows must hold."""
    cells: dict[tuple[int, int], list[tuple[int, ...]]] = defaultdict(list)
    for (village, indicator), cell in counts.items():
        cells[(communes[village], indicator)].append(cell)
    # Summed a column at a time in C (``zip``/``sum``), not a number at a time in Python.
    return {key: tuple(map(sum, zip(*column, strict=True))) for key, column in cells.items()}


def rebuild_commune_counts(province_id: int) -> None:
    """Sum the province's ``CommuneCount`` rows again from its village rows: after its area tree changed.

    A village moved to another commune takes its counts along: call it in the transaction that
    changed the tree. Holds the province's counts lock exclusively (as the recompute does) until
    that transaction ends: no write's delta can fall between the two statements. Two statements
    over the province's village rows: for a rare change of the tree, not for every write.
    """
    villages, communes = VillageCount._meta.db_table, CommuneCount._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        locks.province_counts_exclusive(province_id)
        cursor.execute(f"DELETE FROM {communes} WHERE province_id = %s", [province_id])  # noqa: S608
        cursor.execute(
            commune_upsert_sql(f"(SELECT * FROM {villages} WHERE province_id = %s) d"),  # noqa: S608
            [province_id],
        )


def _drift(stored: Counts, computed: Counts) -> list[tuple[int, int, tuple[int, ...], tuple[int, ...]]]:
    return [
        (village, indicator, stored.get((village, indicator), NO_COUNT), computed.get((village, indicator), NO_COUNT))
        for village, indicator in sorted(set(computed) | set(stored))
        if stored.get((village, indicator), NO_COUNT) != computed.get((village, indicator), NO_COUNT)
    ]


def _write_counts(province_id: int, changes: Counts, model: type[VillageCount] | type[CommuneCount] = VillageCount) -> None:
    if not changes:
        return
    place = "village" if model is VillageCount else "commune"
    rows: list[Model] = [
        model(province_id=province_id, indicator_id=i, **{f"{place}_id": p}, **dict(zip(COUNT_COLUMNS, cell, strict=True)))
        for (p, i), cell in sorted(changes.items())
    ]
    cast("type[Model]", model)._default_manager.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=[place, "indicator"],
        update_fields=list(COUNT_COLUMNS),
        batch_size=2000,
    )


def recompute_province(*, province_id: int, month: date | None = None) -> RecomputeResult:
    """Recompute the live counts of a province from its residents and households; correct drift.

    Both the village rows and the communes' stored sums (``CommuneCount``): a month's rebase
    resets the two together.

    Idempotent. Holds the province's counts lock exclusively for the length of one transaction,
    so no concurrent write's delta is lost or double-counted. ``month`` (default: the current
    month) becomes the counting month: ages are counted at its end. Callers that may run
    concurrently (tasks, commands) hold ``locks.recompute_guard`` around it.

    Moving the counting month to a new one (the month's roll) changes counts by design (people
    come of age): that is a rebase, not drift, and is neither logged nor recorded as rows corrected.
    """
    started = time.perf_counter()
    month = (month or today()).replace(day=1)
    # Read before the transaction: on SQLite its first statement must be the write below.
    previous_month = RollupState.objects.filter(pk=province_id).values_list("month", flat=True).first()
    rebase = previous_month is not None and previous_month != month
    with transaction.atomic():
        # Written first: on SQLite this takes the database write lock before anything is read.
        state, _created = RollupState.objects.update_or_create(province_id=province_id, defaults={"month": month})
        locks.province_counts_exclusive(province_id)
        rules = load_rules(month_index(month), province_id)
        computed = compute_counts(rules, province_id)
        stored = stored_counts(province_id)
        # The usual case, no drift, is one dict comparison (a few ms for 55k counts).
        drift = [] if computed == stored else _drift(stored, computed)
        _write_counts(province_id, {(v, i): after for v, i, _before, after in drift})
        # The communes' rows: the sums of the computed village rows, compared and corrected the same way.
        computed_communes = commune_counts(computed, communes_of(province_id))
        stored_communes = stored_counts(province_id, CommuneCount)
        commune_drift = [] if computed_communes == stored_communes else _drift(stored_communes, computed_communes)
        _write_counts(province_id, {(c, i): after for c, i, _before, after in commune_drift}, CommuneCount)
        drift += commune_drift
        seconds = time.perf_counter() - started
        state.last_recompute_at = timezone.now()
        state.last_recompute_seconds = seconds
        state.last_drift_rows = 0 if rebase else len(drift)
        state.save(update_fields=["last_recompute_at", "last_recompute_seconds", "last_drift_rows"])
    if drift and not rebase:
        logger.warning("rollup drift corrected in province %s: %d rows, e.g. %s", province_id, len(drift), drift[:5])
    return RecomputeResult(province_id, month, seconds, len(computed), drift)


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def area_totals(province_id: int, counts: Counts) -> Counts:
    """Sum village counts up every level of the tree: (area_id, indicator_id) -> the summed cell."""
    areas = dict(Area.objects.filter(province_id=province_id).values_list("path", "pk"))
    village_paths = dict(Area.objects.filter(province_id=province_id).values_list("pk", "path"))
    steplen = Area.steplen
    totals: dict[tuple[int, int], list[int]] = defaultdict(empty_cell)
    for (village_id, indicator_id), counted in counts.items():
        path = village_paths[village_id]
        for end in range(steplen, len(path) + 1, steplen):
            ancestor = areas.get(path[:end])
            if ancestor is not None:
                cell = totals[(ancestor, indicator_id)]
                for position, value in enumerate(counted):
                    cell[position] += value
    return {key: tuple(cell) for key, cell in totals.items()}


def close_month(*, province_id: int, month: date) -> int:
    """Freeze the values of ``month`` (and of its quarter and year when it ends them) for every area.

    Counts what was true at the month's end: ages then, adoptions valid then, residents living
    there then. Idempotent: running it again rewrites the same rows. Returns the rows written.
    The rows of areas whose month is approved are not rewritten; a month approved for the whole
    province is refused (``ValidationError`` naming ``month``).
    """
    index = month_index(month)
    end = month_end(index)
    rules = load_rules(index, province_id)
    counts = compute_counts(rules, province_id, AsOf(end))
    totals = area_totals(province_id, counts)
    # The breakdown is frozen with the value; households have none (empty, not zero).
    household_indicators = {rule.indicator_id for rule in rules.households}
    no_breakdown: dict[str, int | None] = dict.fromkeys(COUNT_COLUMNS[2:])
    now = timezone.now()
    kinds = [PeriodKind.MONTH]
    if month.month % 3 == 0:
        kinds.append(PeriodKind.QUARTER)
    if month.month == 12:
        kinds.append(PeriodKind.YEAR)
    rows = [
        IndicatorValue(
            province_id=province_id,
            area_id=area_id,
            indicator_id=indicator_id,
            period_kind=kind,
            period_start=Period.containing(kind, month).start,
            numerator=cell[0],
            denominator=cell[1],
            value=_ratio(cell[0], cell[1]),
            computed_at=now,
            **(no_breakdown if indicator_id in household_indicators else dict(zip(COUNT_COLUMNS[2:], cell[2:], strict=True))),
        )
        for (area_id, indicator_id), cell in totals.items()
        for kind in kinds
    ]
    with transaction.atomic():
        rows = _unlocked_rows(province_id, month_start(index), rows)
        IndicatorValue.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["area", "indicator", "period_kind", "period_start"],
            update_fields=[*COUNT_COLUMNS, "value", "computed_at"],
            batch_size=2000,
        )
        RollupState.objects.filter(pk=province_id).update(last_closed_month=month_start(index))
        MONTH_HISTORY.changed(province_id)  # the month's snapshots: a series' first month or a pace's
    return len(rows)


def _unlocked_rows(province_id: int, month: date, rows: list[IndicatorValue]) -> list[IndicatorValue]:
    """``rows`` without those of the areas whose ``month`` is approved: their frozen values stay.

    A month approved for the whole province is refused (``sign_off.ensure_month_open``'s error), so
    closing it again says so rather than silently doing nothing.
    """
    province = Area.objects.only("path", "province_id", "name").get(pk=province_id)
    sign_off.ensure_month_open(province, Period(PeriodKind.MONTH, month), field="month")
    locked = sign_off.approved_paths(province_id, month)
    if not locked:
        return rows
    locked_ids = set(
        Area.objects.filter(reduce(or_, (Q(path__startswith=path) for path in locked))).values_list("pk", flat=True)
    )
    return [row for row in rows if row.area_id not in locked_ids]


def roll_month_forward(*, province_id: int, on: date | None = None) -> list[date]:
    """Close every month from the counting month up to the one before ``on``, then rebase the counts.

    The beat task calls this on the first of each month; it is idempotent and catches up after
    downtime. Returns the months closed.
    """
    on = on or today()
    state = RollupState.objects.filter(pk=province_id).first()
    current = month_index(on)
    first = month_index(state.month) if state else current
    closed = []
    for index in range(first, current):
        if MonthApproval.objects.filter(
            area_id=province_id, month=month_start(index), status=ApprovalStatus.APPROVED
        ).exists():
            continue  # approved for the whole province: its frozen values stay as approved
        close_month(province_id=province_id, month=month_start(index))
        closed.append(month_start(index))
    if closed or state is None or month_index(state.month) != current:
        recompute_province(province_id=province_id, month=month_start(current))
    return closed
