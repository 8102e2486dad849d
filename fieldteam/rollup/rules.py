"""The counting rules of computed indicators, shared by the incremental path and the recompute.

A computed indicator counts, in each village, the members of a population (denominator) and
those of them who hold a capability (numerator). Both the per-write deltas (``apply_deltas``)
and the set-based recompute (``fieldteam.rollup.recompute``) derive from ``CountingRules``, so the
two can only disagree if a write bypassed the services — which the recompute then reports.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import connection
from django.db.models import Model

from fieldteam import locks
from fieldteam.choices import IndicatorKind, PopulationKind, ResidentStatus, Sex
from fieldteam.models import Indicator, RetirementAge, RollupState, VillageCount
from fieldteam.periods import month_index as month_index_of
from fieldteam.periods import today

WORKING_AGE_FROM_YEARS = 15


@dataclass(frozen=True)
class ResidentRule:
    """Residents in the population: born in a month index within ``(low, high]`` for their sex."""

    indicator_id: int
    bit_mask: int
    # birth_month_index <= high_bmi (old enough) and birth_month_index > low_bmi[sex] (young enough)
    high_bmi: int
    low_bmi: dict[str, int | None] = field(hash=False)

    def in_population(self, birth_month_index: int, sex: str) -> bool:
        low = self.low_bmi.get(sex)
        return birth_month_index <= self.high_bmi and (low is None or birth_month_index > low)

    def record(self) -> dict[str, object]:
        """This rule as a record ``IN_POPULATION_SQL`` reads (``low``: the bound of each sex that has one)."""
        return {
            "indicator": self.indicator_id,
            "bit": self.bit_mask,
            "high": self.high_bmi,
            "low": {sex: bound for sex, bound in self.low_bmi.items() if bound is not None},
        }


# ``ResidentRule.in_population`` in SQL, on a rule record ``{rule}`` (``ResidentRule.record``: columns
# ``high integer`` and ``low jsonb``) and a resident's ``{bmi}`` and ``{sex}``: a sex without a
# bound in ``low`` has none, as ``low_bmi.get(sex)`` is ``None``. Held to the Python rule by
# ``tests/services/test_counting_sql.py``.
IN_POPULATION_SQL = (
    "({bmi} <= {rule}.high AND ({rule}.low ->> {sex} IS NULL OR {bmi} > ({rule}.low ->> {sex})::integer))"
)


@dataclass(frozen=True)
class HouseholdRule:
    indicator_id: int
    bit_mask: int

    def record(self) -> dict[str, object]:
        """This rule as ``IN_POPULATION_SQL`` reads it: every live household is in the population."""
        return {"indicator": self.indicator_id, "bit": self.bit_mask, "high": 0, "low": {}}


@dataclass(frozen=True)
class CountingRules:
    """How to count every computed indicator at the end of month ``month_index``."""

    month_index: int
    residents: tuple[ResidentRule, ...]
    households: tuple[HouseholdRule, ...]


@dataclass(frozen=True)
class ResidentFacts:
    """What counting needs to know of a resident (before or after a change)."""

    village_id: int
    birth_month_index: int
    sex: str
    active: bool
    capability_mask: int


@dataclass(frozen=True)
class HouseholdFacts:
    village_id: int
    active: bool
    capability_mask: int


def retirement_months(year: int) -> dict[str, int]:
    """Statutory retirement age (months) by sex in ``year``: the row for the year, else the nearest before."""
    result: dict[str, int] = {}
    rows = RetirementAge.objects.filter(year__lte=year).order_by("sex", "-year").values_list("sex", "age_months")
    for sex, months in rows:
        result.setdefault(sex, months)
    if len(result) < len(Sex):
        for sex, months in RetirementAge.objects.order_by("sex", "year").values_list("sex", "age_months"):
            result.setdefault(sex, months)
    return result


def load_rules(month_index: int) -> CountingRules:
    """Counting rules of the active computed indicators for ages at the end of ``month_index``."""
    indicators = list(
        Indicator.objects.filter(kind=IndicatorKind.COMPUTED, is_active=True)
        .select_related("capability")
        .order_by("pk")
    )
    resident_rules: list[ResidentRule] = []
    household_rules: list[HouseholdRule] = []
    retirement: dict[str, int] | None = None
    for indicator in indicators:
        bit_mask = 1 << indicator.capability.bit  # type: ignore[union-attr]  # the indicators here are capability indicators (filtered by the caller)
        if indicator.population == PopulationKind.HOUSEHOLDS:
            household_rules.append(HouseholdRule(indicator.pk, bit_mask))
            continue
        if indicator.population == PopulationKind.WORKING_AGE:
            if retirement is None:
                retirement = retirement_months(month_index // 12)
            min_months = (indicator.min_age if indicator.min_age is not None else WORKING_AGE_FROM_YEARS) * 12
            low = {sex: month_index - retirement[sex] if sex in retirement else None for sex in Sex.values}
        else:
            min_months = (indicator.min_age or 0) * 12
            # max_age is inclusive: a resident is within it until the month they turn max_age + 1.
            limit = None if indicator.max_age is None else month_index - (indicator.max_age + 1) * 12
            low = dict.fromkeys(Sex.values, limit)
        resident_rules.append(ResidentRule(indicator.pk, bit_mask, month_index - min_months, low))
    return CountingRules(month_index, tuple(resident_rules), tuple(household_rules))


def counting_month(province_id: int) -> int:
    """The month the province's live counts are based on (created as this month on first use)."""
    month = RollupState.objects.filter(pk=province_id).values_list("month", flat=True).first()
    if month is None:
        RollupState.objects.bulk_create(
            [RollupState(province_id=province_id, month=today().replace(day=1))], ignore_conflicts=True
        )
        month = RollupState.objects.values_list("month", flat=True).get(pk=province_id)
    return month_index_of(month)


# Read with the writers' lock, in one round trip: the counting month, and the version of everything
# ``load_rules`` reads (computed indicators, capabilities, retirement ages), which a trigger moves
# on whenever one of those tables changes (migration 0011). The rules are then taken from a
# per-process cache keyed on both, so a write costs one query here instead of four, and a changed
# indicator or retirement age can never be missed.
_RULES_VERSION_SQL = "(SELECT version::text FROM fieldteam_countingrules_version WHERE id = 1)"
_RULES_STATE_SQL = f"(SELECT month FROM fieldteam_rollupstate WHERE province_id = %s), {_RULES_VERSION_SQL}"  # noqa: S608
# The same state as a condition on a province id expression (``{province}``) and two parameters
# (the month and the rules version expected): true when the rules in hand are the ones to count with.
RULES_STATE_CHECK_SQL = (
    "(SELECT month FROM fieldteam_rollupstate WHERE province_id = {province}) = %(rules_month)s::date "  # noqa: S608
    f"AND {_RULES_VERSION_SQL} = %(rules_version)s::text"
)
# The process-wide caches below are keyed on the database (``_database``): rules versions are
# numbers drawn by each database's own sequence, so another database (a test database, one
# recreated under the same settings) can never be served this one's rules.
_RULES_CACHE: dict[tuple[tuple[str, str], int, str], CountingRules] = {}
_RULES_CACHE_SIZE = 64
# The state read by this process's latest write, with its rules: what the one-statement log
# (``fieldteam.rollup.fastlog``) assumes and has PostgreSQL confirm in its statement.
_LATEST: dict[tuple[str, str], tuple[date, str, CountingRules]] = {}


def _database() -> tuple[str, str]:
    """Which database the current connection is: its alias and name."""
    return connection.alias, str(connection.settings_dict["NAME"])


def clear_caches() -> None:
    """Forget every rule this process holds (tests, between databases)."""
    _RULES_CACHE.clear()
    _LATEST.clear()


def latest_rules() -> tuple[date, str, CountingRules] | None:
    """The (counting month, rules version, rules) the latest write of this process counted with.

    Only a guess for the next write: the caller must have the database confirm the month and version
    (``RULES_STATE_CHECK_SQL``) under the writers' lock, as ``rules_for_writes`` reads them. Read
    without the lock when this process has none yet (or ``forget_latest_rules`` dropped them);
    ``None`` before any province counts (no ``RollupState``).
    """
    latest = _LATEST.get(_database())
    if latest is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT (SELECT max(month) FROM fieldteam_rollupstate), {_RULES_VERSION_SQL}")  # noqa: S608
            month, version = cursor.fetchone()
        if month is None:
            return None
        latest = _LATEST[_database()] = (month, version, _cached_rules(month, version))
    return latest


def forget_latest_rules() -> None:
    """Drop the guess of ``latest_rules`` (the database did not confirm it): the next call reads it again."""
    _LATEST.pop(_database(), None)


def rules_for_writes(province_id: int) -> CountingRules:
    """Join the province's writers (shared lock) and load the rules its live counts follow."""
    state = locks.province_counts_shared(province_id, also=_RULES_STATE_SQL, params=(province_id,))
    if state is None or state[0] is None:  # not PostgreSQL, or the province's first write
        return load_rules(counting_month(province_id))
    rules = _cached_rules(state[0], state[1])
    _LATEST[_database()] = (state[0], state[1], rules)
    return rules


def _cached_rules(month: date, version: str) -> CountingRules:
    """The rules of counting ``month`` under rules ``version``, loaded once per process."""
    key = (_database(), month_index_of(month), version)
    rules = _RULES_CACHE.get(key)
    if rules is None:
        if len(_RULES_CACHE) >= _RULES_CACHE_SIZE:
            _RULES_CACHE.clear()
        rules = _RULES_CACHE[key] = load_rules(key[1])
    return rules


Deltas = dict[tuple[int, int], list[int]]


def resident_contribution(rules: CountingRules, facts: ResidentFacts | None, sign: int, into: Deltas) -> None:
    """Add ``sign`` × what ``facts`` contributes to each (village, indicator) count."""
    if facts is None or not facts.active:
        return
    for rule in rules.residents:
        if rule.in_population(facts.birth_month_index, facts.sex):
            cell = into.setdefault((facts.village_id, rule.indicator_id), [0, 0])
            cell[1] += sign
            if facts.capability_mask & rule.bit_mask:
                cell[0] += sign


def household_contribution(rules: CountingRules, facts: HouseholdFacts | None, sign: int, into: Deltas) -> None:
    if facts is None or not facts.active:
        return
    for rule in rules.households:
        cell = into.setdefault((facts.village_id, rule.indicator_id), [0, 0])
        cell[1] += sign
        if facts.capability_mask & rule.bit_mask:
            cell[0] += sign


# A subject whose ``capability_mask`` to write with the counts: (model, primary key, new mask).
MaskWrite = tuple[type[Model], int, int]


def apply_deltas(province_id: int, deltas: Deltas, *, mask: MaskWrite | None = None) -> None:
    """Add the deltas to the village counts in one upsert (rows in key order, so no deadlocks).

    ``mask``: also write that subject's new ``capability_mask`` (a derived column, not audited),
    on PostgreSQL in the same statement (a data-modifying ``WITH``, run whether read or not):
    one round trip less for every adoption.
    """
    rows = sorted((key, cell) for key, cell in deltas.items() if cell[0] or cell[1])
    prefix, prefix_params = "", []
    if mask is not None:
        model, pk, value = mask
        update = f"UPDATE {model._meta.db_table} SET capability_mask = %s WHERE {model._meta.pk.column} = %s"  # noqa: S608
        if rows and connection.vendor == "postgresql":
            prefix, prefix_params = f"WITH subject_mask AS ({update}) ", [value, pk]
        else:
            with connection.cursor() as cursor:
                cursor.execute(update, [value, pk])
    if not rows:
        return
    table = VillageCount._meta.db_table
    values = ", ".join(["(%s, %s, %s, %s, %s)"] * len(rows))
    params: list[int] = [*prefix_params]
    for (village_id, indicator_id), (numerator, denominator) in rows:
        params += [province_id, village_id, indicator_id, numerator, denominator]
    with connection.cursor() as cursor:
        cursor.execute(
            f"{prefix}INSERT INTO {table} (province_id, village_id, indicator_id, numerator, denominator) "  # noqa: S608
            f"VALUES {values} ON CONFLICT (village_id, indicator_id) DO UPDATE SET "
            f"numerator = {table}.numerator + excluded.numerator, "
            f"denominator = {table}.denominator + excluded.denominator",
            params,
        )


def resident_facts(resident: object) -> ResidentFacts:
    return ResidentFacts(
        village_id=resident.village_id,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        birth_month_index=resident.birth_month_index,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        sex=resident.sex,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        active=resident.status == ResidentStatus.ACTIVE,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        capability_mask=resident.capability_mask,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
    )


def household_facts(household: object) -> HouseholdFacts:
    return HouseholdFacts(
        village_id=household.village_id,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        active=household.is_active,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
        capability_mask=household.capability_mask,  # type: ignore[attr-defined]  # duck-typed: a model instance or a row with the same attributes
    )


def adjust_counts(
    province_id: int,
    *,
    residents: Iterable[tuple[ResidentFacts | None, ResidentFacts | None]] = (),
    households: Iterable[tuple[HouseholdFacts | None, HouseholdFacts | None]] = (),
    rules: CountingRules | None = None,
    mask: MaskWrite | None = None,
) -> None:
    """Move the village counts from each subject's ``before`` facts to its ``after`` facts.

    Call inside the service's transaction, after the subject rows are written (all but the
    ``capability_mask`` given as ``mask``, which is written here with the counts; see
    ``apply_deltas``). ``None`` stands for "did not exist". Takes the province's shared counts lock.
    """
    rules = rules or rules_for_writes(province_id)
    deltas: Deltas = defaultdict(lambda: [0, 0])
    for before, after in residents:
        resident_contribution(rules, before, -1, deltas)
        resident_contribution(rules, after, +1, deltas)
    for hh_before, hh_after in households:
        household_contribution(rules, hh_before, -1, deltas)
        household_contribution(rules, hh_after, +1, deltas)
    apply_deltas(province_id, deltas, mask=mask)
