"""The counting rules of computed indicators, shared by the incremental path and the recompute.

A computed indicator counts, in each village, the members of a population (denominator) and
those of them who hold a capability (numerator). Both the per-write deltas (``apply_deltas``)
and the set-based recompute (``fieldteam.rollup.recompute``) derive from ``CountingRules``, so the
two can only disagree if a write bypassed the services — which the recompute then reports.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Protocol

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from fieldteam import locks
from fieldteam.choices import EthnicGroup, IndicatorKind, PopulationKind, ResidentStatus, Sex
from fieldteam.models import (
    Area,
    CommuneCount,
    Household,
    Indicator,
    IndicatorPopulationBound,
    Resident,
    RetirementAge,
    RollupState,
    VillageCount,
)
from fieldteam.periods import month_index as month_index_of
from fieldteam.periods import today
from fieldteam.rollup import sqlfunctions
from fieldteam.rollup.derivations import Derivations, HouseholdChange, load_derivations, refresh_households
from fieldteam.rollup.sqlfunctions import SqlFunction

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
    # The catalogue's derivation rules: the rules' ``bit_mask`` already count ``implies`` (every bit
    # whose holding implies the indicator's capability); ``any_member`` is the households'
    # ``derived_mask``, which the writes keep with ``derivations.members``.
    derivations: Derivations = field(default_factory=Derivations)
    # The province whose own population bounds these rules apply (``None``: the indicators' own).
    province_id: int | None = None


@dataclass(frozen=True)
class ResidentFacts:
    """What counting needs to know of a resident (before or after a change)."""

    village_id: int
    birth_month_index: int
    sex: str
    active: bool
    capability_mask: int
    ethnic_group: str  # ``EthnicGroup``: the breakdown's group, never the ethnicity itself


@dataclass(frozen=True)
class HouseholdFacts:
    village_id: int
    active: bool
    capability_mask: int


def retirement_cohorts() -> dict[str, list[tuple[int, int]]]:
    """Per sex, the retirement age's cohorts: (first birth month index, age in months), in birth order."""
    cohorts: dict[str, list[tuple[int, int]]] = {}
    for sex, born_from, months in RetirementAge.objects.order_by("sex", "born_from").values_list(
        "sex", "born_from", "age_months"
    ):
        cohorts.setdefault(sex, []).append((month_index_of(born_from), months))
    return cohorts


def retired_by(cohorts: list[tuple[int, int]], month_index: int) -> int | None:
    """The last birth month whose people have reached their retirement age by the end of ``month_index``.

    Someone born in month ``b`` of a cohort retiring at ``R`` months is of working age while
    ``month_index - b < R``. As ``R`` rises with the birth month, ``b + R`` rises with ``b``: the
    retired are exactly those born up to the month returned (``None``: no table for the sex). The
    first cohort also holds for everyone born before it.
    """
    bound: int | None = None
    for position, (born_from, months) in enumerate(cohorts):
        last = month_index - months  # the last birth month this cohort's age has retired
        if position and last < born_from:
            break  # b + R rises with b: no later cohort has retired anyone either
        upto = cohorts[position + 1][0] - 1 if position + 1 < len(cohorts) else last
        bound = min(last, upto)
    return bound


def load_rules(month_index: int, province_id: int | None = None) -> CountingRules:
    """Counting rules of the active computed indicators for ages at the end of ``month_index``.

    ``province_id``: with that province's own population bounds (``IndicatorPopulationBound``).
    """
    indicators = list(
        Indicator.objects.filter(kind=IndicatorKind.COMPUTED, is_active=True)
        .select_related("capability")
        .order_by("pk")
    )
    bounds = (
        {
            indicator_id: (min_age, max_age)
            for indicator_id, min_age, max_age in IndicatorPopulationBound.objects.filter(
                province_id=province_id
            ).values_list("indicator_id", "min_age", "max_age")
        }
        if province_id is not None
        else {}
    )
    derivations = load_derivations()
    resident_rules: list[ResidentRule] = []
    household_rules: list[HouseholdRule] = []
    cohorts: dict[str, list[tuple[int, int]]] | None = None
    for indicator in indicators:
        bit_mask = derivations.holders(1 << indicator.capability.bit)  # type: ignore[union-attr]  # the indicators here are capability indicators (filtered by the caller)
        if indicator.population == PopulationKind.HOUSEHOLDS:
            household_rules.append(HouseholdRule(indicator.pk, bit_mask))
            continue
        min_age, max_age = bounds.get(indicator.pk, (indicator.min_age, indicator.max_age))
        if indicator.population == PopulationKind.WORKING_AGE:
            if cohorts is None:
                cohorts = retirement_cohorts()
            min_months = (min_age if min_age is not None else WORKING_AGE_FROM_YEARS) * 12
            low = {sex: retired_by(cohorts[sex], month_index) if sex in cohorts else None for sex in Sex.values}
        else:
            min_months = (min_age or 0) * 12
            # max_age is inclusive: a resident is within it until the month they turn max_age + 1.
            limit = None if max_age is None else month_index - (max_age + 1) * 12
            low = dict.fromkeys(Sex.values, limit)
        resident_rules.append(ResidentRule(indicator.pk, bit_mask, month_index - min_months, low))
    return CountingRules(month_index, tuple(resident_rules), tuple(household_rules), derivations, province_id)


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
# ``load_rules`` reads (computed indicators, capabilities, retirement ages, derivations, the
# provinces' bounds), which a trigger moves on whenever one of those tables changes (migrations 0011, 0019). The rules are then taken from a
# per-process cache keyed on both, so a write costs one query here instead of four, and a changed
# indicator or retirement age can never be missed.
_RULES_VERSION_SQL = "(SELECT version::text FROM fieldteam_countingrules_version WHERE id = 1)"
_RULES_STATE_SQL = f"(SELECT month FROM fieldteam_rollupstate WHERE province_id = %s), {_RULES_VERSION_SQL}"  # noqa: S608
# The same state as a condition on a province id expression (``{province}``) and three parameters
# (the province, month and rules version expected): true when the rules in hand are the ones to
# count with (the rules differ by province: its own population bounds).
RULES_STATE_CHECK_SQL = (
    "{province} = %(rules_province)s::bigint AND "  # noqa: S608
    "(SELECT month FROM fieldteam_rollupstate WHERE province_id = {province}) = %(rules_month)s::date "
    f"AND {_RULES_VERSION_SQL} = %(rules_version)s::text"
)
# The process-wide caches below are keyed on the database (``_database``): rules versions are
# numbers drawn by each database's own sequence, so another database (a test database, one
# recreated under the same settings) can never be served this one's rules.
_RULES_CACHE: dict[tuple[tuple[str, str], int, str, int], CountingRules] = {}
_RULES_CACHE_SIZE = 64
# The state read by this process's latest write, with its rules: what the one-statement log
# (``fieldteam.rollup.fastlog``) assumes and has PostgreSQL confirm in its statement.
_LATEST: dict[tuple[tuple[str, str], int], tuple[date, str, CountingRules]] = {}


def _database() -> tuple[str, str]:
    """Which database the current connection is: its alias and name."""
    return connection.alias, str(connection.settings_dict["NAME"])


def clear_caches() -> None:
    """Forget every rule this process holds (tests, between databases)."""
    _RULES_CACHE.clear()
    _LATEST.clear()


def latest_rules(province_id: int) -> tuple[date, str, CountingRules] | None:
    """The (counting month, rules version, rules) the latest write of this process in the province counted with.

    Only a guess for the next write: the caller must have the database confirm the province, month
    and version (``RULES_STATE_CHECK_SQL``) under the writers' lock, as ``rules_for_writes`` reads
    them. Read without the lock when this process has none yet (or ``forget_latest_rules`` dropped
    them); ``None`` before the province counts (no ``RollupState``).
    """
    latest = _LATEST.get((_database(), province_id))
    if latest is None:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {_RULES_STATE_SQL}", [province_id])
            month, version = cursor.fetchone()
        if month is None:
            return None
        latest = _LATEST[(_database(), province_id)] = (month, version, _cached_rules(month, version, province_id))
    return latest


def forget_latest_rules() -> None:
    """Drop the guesses of ``latest_rules`` (the database did not confirm one): the next call reads them again."""
    database = _database()
    for key in [key for key in _LATEST if key[0] == database]:
        del _LATEST[key]


def rules_for_writes(province_id: int) -> CountingRules:
    """Join the province's writers (shared lock) and load the rules its live counts follow."""
    state = locks.province_counts_shared(province_id, also=_RULES_STATE_SQL, params=(province_id,))
    if state is None or state[0] is None:  # not PostgreSQL, or the province's first write
        return load_rules(counting_month(province_id), province_id)
    rules = _cached_rules(state[0], state[1], province_id)
    _LATEST[(_database(), province_id)] = (state[0], state[1], rules)
    return rules


def _cached_rules(month: date, version: str, province_id: int) -> CountingRules:
    """The rules of counting ``month`` in the province under rules ``version``, loaded once per process."""
    key = (_database(), month_index_of(month), version, province_id)
    rules = _RULES_CACHE.get(key)
    if rules is None:
        if len(_RULES_CACHE) >= _RULES_CACHE_SIZE:
            _RULES_CACHE.clear()
        rules = _RULES_CACHE[key] = load_rules(key[1], province_id)
    return rules


# The columns of a village count, in the order of a count's cell (``Deltas``, ``recompute.Counts``):
# the indicator's numerator and denominator, then the same among women, ethnic minorities and
# Kinh (the breakdown: men and an unrecorded ethnicity are what the others leave). Households
# have no breakdown (zeros).
COUNT_COLUMNS = (
    "numerator",
    "denominator",
    "women_numerator",
    "women_denominator",
    "minority_numerator",
    "minority_denominator",
    "kinh_numerator",
    "kinh_denominator",
)
CELL_WIDTH = len(COUNT_COLUMNS)
# Where a resident's breakdown goes in a cell: the numerator's position (the denominator is next).
WOMEN_AT = 2
GROUP_AT = {EthnicGroup.MINORITY.value: 4, EthnicGroup.KINH.value: 6}


def empty_cell() -> list[int]:
    return [0] * CELL_WIDTH


Deltas = dict[tuple[int, int], list[int]]


def resident_contribution(rules: CountingRules, facts: ResidentFacts | None, sign: int, into: Deltas) -> None:
    """Add ``sign`` × what ``facts`` contributes to each (village, indicator) count, breakdown included."""
    if facts is None or not facts.active:
        return
    # The positions of the cell this resident moves: the total, and their sex's and group's, if any.
    at = [0]
    if facts.sex == Sex.FEMALE:
        at.append(WOMEN_AT)
    if (group_at := GROUP_AT.get(facts.ethnic_group)) is not None:
        at.append(group_at)
    for rule in rules.residents:
        if rule.in_population(facts.birth_month_index, facts.sex):
            cell = into.setdefault((facts.village_id, rule.indicator_id), empty_cell())
            held = facts.capability_mask & rule.bit_mask
            for position in at:
                cell[position + 1] += sign
                if held:
                    cell[position] += sign


def household_contribution(rules: CountingRules, facts: HouseholdFacts | None, sign: int, into: Deltas) -> None:
    if facts is None or not facts.active:
        return
    for rule in rules.households:
        cell = into.setdefault((facts.village_id, rule.indicator_id), empty_cell())
        cell[1] += sign
        if facts.capability_mask & rule.bit_mask:
            cell[0] += sign


# A subject whose ``capability_mask`` to write with the counts: (model, primary key, new mask).
MaskWrite = tuple[type[Model], int, int]


# The commune row a village count adds to: the counted place's area at the province's next level
# (depth 2), found by the prefix of the place's path (the path has a unique index). For a village
# that is its commune; for people registered at a commune itself, that commune.
COMMUNE_DEPTH = 2


# A place's commune is its ancestor at ``COMMUNE_DEPTH`` (or itself): the first characters of its path.
_COMMUNE_PATH_LENGTH = COMMUNE_DEPTH * Area.steplen


def commune_path(path: str) -> str:
    """The path of the commune (``COMMUNE_DEPTH``) whose row counts a place of path ``path``."""
    return path[:_COMMUNE_PATH_LENGTH]


def commune_path_sql(path: str) -> str:
    """``commune_path`` in SQL, of the column or expression ``path``."""
    return f"SUBSTR({path}, 1, {_COMMUNE_PATH_LENGTH})"


def commune_upsert_sql(source: str, columns: Sequence[str] = COUNT_COLUMNS) -> str:
    """An upsert adding the rows of ``source`` to their communes' ``CommuneCount`` rows.

    ``source``: a FROM item (aliased ``d``) of village deltas: ``province_id``, ``village_id``,
    ``indicator_id`` and ``columns`` (the other columns are left as they are). Summed per commune
    first (an upsert may not touch a row twice), then written in (commune, indicator) order: every
    writer locks commune rows in the same order, after its village rows, so two writes cannot
    deadlock on them.
    """
    table, areas = CommuneCount._meta.db_table, Area._meta.db_table
    # Every column written (the others as zeros): the counts have no default in the database.
    sums = ", ".join(f"SUM(d.{column})" if column in columns else "0" for column in COUNT_COLUMNS)
    added = ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in columns)
    return (
        f"INSERT INTO {table} (province_id, commune_id, indicator_id, {', '.join(COUNT_COLUMNS)}) "  # noqa: S608
        f"SELECT d.province_id, c.id, d.indicator_id, {sums} FROM {source} "
        f"JOIN {areas} v ON v.id = d.village_id JOIN {areas} c ON c.path = {commune_path_sql('v.path')} "
        "WHERE true GROUP BY d.province_id, c.id, d.indicator_id ORDER BY c.id, d.indicator_id "
        f"ON CONFLICT (commune_id, indicator_id) DO UPDATE SET {added}"
    )


def _village_upsert_sql() -> str:
    """The upsert adding the rows of ``delta`` to the village counts, in key order (``apply_deltas``)."""
    table, columns = VillageCount._meta.db_table, ", ".join(COUNT_COLUMNS)
    added = ", ".join(f"{column} = {table}.{column} + excluded.{column}" for column in COUNT_COLUMNS)
    return (
        f"INSERT INTO {table} (province_id, village_id, indicator_id, {columns}) "  # noqa: S608
        "SELECT * FROM delta WHERE true ORDER BY village_id, indicator_id "
        f"ON CONFLICT (village_id, indicator_id) DO UPDATE SET {added}"
    )


def _deltas_statement() -> str:
    """``apply_deltas``' one statement with its values as arrays: the function ``DELTAS_FUNCTION`` runs."""
    columns = ", ".join(COUNT_COLUMNS)
    arrays = ", ".join(f"%({column})s::bigint[]" for column in COUNT_COLUMNS)
    masks = " ".join(
        f"{name} AS (UPDATE {model._meta.db_table} SET capability_mask = %(mask)s::bigint "  # noqa: S608
        f"WHERE {model._meta.pk.column} = %({name})s::bigint),"
        for name, model in (("resident_mask", Resident), ("household_mask", Household))
    )
    return (
        f"WITH {masks} delta (province_id, village_id, indicator_id, {columns}) AS ("  # noqa: S608
        f"SELECT %(province)s::bigint, u.* FROM unnest(%(villages)s::bigint[], %(indicators)s::bigint[], {arrays}) u), "
        f"village AS ({_village_upsert_sql()} RETURNING village_id, indicator_id) "
        f"{commune_upsert_sql('delta d JOIN village USING (village_id, indicator_id)')}"
    )


# On PostgreSQL ``apply_deltas`` calls its statement as a function (``fieldteam.rollup.sqlfunctions``):
# planned once per session, where the statement sent as text (its VALUES as long as the deltas) was
# planned on every write: ~0.35 ms of its ~1.3 (``bench/rollup.py``, section 3).
DELTAS_FUNCTION = SqlFunction.of("fieldteam_apply_deltas", _deltas_statement(), returns="void", body="BEGIN\n{statement};\nEND")


def install_deltas_function(connection_: BaseDatabaseWrapper, *, digest: str) -> bool:
    """Create this code's ``DELTAS_FUNCTION`` and drop any other ``fieldteam_apply_deltas_*``; for
    migrations. ``digest``: the one the calling migration was written for; when the code has moved on
    since, nothing is installed (the later migration written for it does). Returns whether it installed.
    """
    if DELTAS_FUNCTION.digest != digest:
        return False
    sqlfunctions.install(connection_, "fieldteam_apply_deltas", [DELTAS_FUNCTION.create_sql])
    return True


# Whether a connection's database (by name: a test run renames it) holds this code's function.
_DELTAS_INSTALLED: weakref.WeakKeyDictionary[BaseDatabaseWrapper, tuple[str, bool]] = weakref.WeakKeyDictionary()


def _deltas_function_installed() -> bool:
    """Whether this code's ``DELTAS_FUNCTION`` is installed: asked once per connection (a process started
    before the migration that installs it keeps sending the statement as text until it restarts)."""
    wrapper = connections[DEFAULT_DB_ALIAS]  # ``connection`` is a proxy (not weakly referenceable)
    database = wrapper.settings_dict["NAME"]
    known = _DELTAS_INSTALLED.get(wrapper)
    if known is None or known[0] != database:
        with connection.cursor() as cursor:
            cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = %s)", [DELTAS_FUNCTION.name])
            row = cursor.fetchone()
        known = _DELTAS_INSTALLED[wrapper] = (database, bool(row and row[0]))
    return known[1]


def apply_deltas(province_id: int, deltas: Deltas, *, mask: MaskWrite | None = None) -> None:
    """Add the deltas to the village counts and their communes' counts (rows in key order, so no deadlocks).

    On PostgreSQL one statement: the village upsert and the commune upsert of the same deltas in
    a data-modifying ``WITH`` (the communes' fed by the villages' ``RETURNING``, so all village rows
    are written before any commune row), run by the function ``DELTAS_FUNCTION`` (or sent as text
    where the migrations have not installed it yet); on SQLite, which has no such ``WITH``, two
    statements. ``mask``: also write that subject's new ``capability_mask`` (a derived column, not
    audited), on PostgreSQL in the same statement: one round trip less for every adoption.
    """
    rows = sorted((key, cell) for key, cell in deltas.items() if any(cell))
    postgresql = connection.vendor == "postgresql"
    if rows and postgresql and _deltas_function_installed():
        model, pk, value = mask if mask is not None else (None, None, None)
        if model not in (Resident, Household, None):
            raise ValueError(f"no capability mask on {model}")  # the function updates these two tables only
        params: dict[str, int | list[int] | None] = {
            "mask": value,
            "resident_mask": pk if model is Resident else None,
            "household_mask": pk if model is Household else None,
            "province": province_id,
            "villages": [village_id for (village_id, _indicator), _cell in rows],
            "indicators": [indicator_id for (_village, indicator_id), _cell in rows],
        }
        for position, column in enumerate(COUNT_COLUMNS):
            params[column] = [cell[position] for _key, cell in rows]
        with connection.cursor() as cursor:
            cursor.execute(DELTAS_FUNCTION.call_sql, params)
        return
    prefix, prefix_params = "", []
    if mask is not None:
        model, pk, value = mask
        update = f"UPDATE {model._meta.db_table} SET capability_mask = %s WHERE {model._meta.pk.column} = %s"  # noqa: S608
        if rows and postgresql:
            prefix, prefix_params = f"subject_mask AS ({update}), ", [value, pk]
        else:
            with connection.cursor() as cursor:
                cursor.execute(update, [value, pk])
    if not rows:
        return
    columns = ", ".join(COUNT_COLUMNS)
    values = ", ".join(["(" + ", ".join(["%s"] * (3 + CELL_WIDTH)) + ")"] * len(rows))
    values_params: list[int] = []
    for (village_id, indicator_id), cell in rows:
        values_params += [province_id, village_id, indicator_id, *cell]
    delta = f"delta (province_id, village_id, indicator_id, {columns}) AS (VALUES {values})"
    with connection.cursor() as cursor:
        if postgresql:
            written = "delta d JOIN village USING (village_id, indicator_id)"
            cursor.execute(
                f"WITH {prefix}{delta}, village AS ({_village_upsert_sql()} RETURNING village_id, indicator_id) "
                f"{commune_upsert_sql(written)}",
                [*prefix_params, *values_params],
            )
        else:
            cursor.execute(f"WITH {delta} {_village_upsert_sql()}", values_params)
            cursor.execute(f"WITH {delta} {commune_upsert_sql('delta d')}", values_params)


class CountedResident(Protocol):
    """A resident as counting reads it: a ``Resident``, or a row with the same attributes."""

    @property
    def village_id(self) -> int: ...
    @property
    def birth_month_index(self) -> int: ...
    @property
    def sex(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def capability_mask(self) -> int: ...
    @property
    def ethnic_group(self) -> str: ...


class CountedHousehold(Protocol):
    """A household as counting reads it: a ``Household``, or a row with the same attributes."""

    @property
    def village_id(self) -> int: ...
    @property
    def is_active(self) -> bool: ...
    @property
    def capability_mask(self) -> int: ...


def resident_facts(resident: CountedResident) -> ResidentFacts:
    return ResidentFacts(
        village_id=resident.village_id,
        birth_month_index=resident.birth_month_index,
        sex=resident.sex,
        active=resident.status == ResidentStatus.ACTIVE,
        capability_mask=resident.capability_mask,
        ethnic_group=resident.ethnic_group,
    )


def household_facts(household: CountedHousehold) -> HouseholdFacts:
    """What counting knows of a household: its holdings are its adoptions and those through members."""
    return HouseholdFacts(
        village_id=household.village_id,
        active=household.is_active,
        capability_mask=household.capability_mask | getattr(household, "derived_mask", 0),
    )


def derived_change(change: HouseholdChange) -> tuple[HouseholdFacts, HouseholdFacts]:
    """A household's facts before and after its ``derived_mask`` changed (``derivations.refresh_households``)."""
    household, derived = change
    before = household_facts(household)
    return before, replace(before, capability_mask=household.capability_mask | derived)


def adjust_counts(
    province_id: int,
    *,
    residents: Iterable[tuple[ResidentFacts | None, ResidentFacts | None]] = (),
    households: Iterable[tuple[HouseholdFacts | None, HouseholdFacts | None]] = (),
    rules: CountingRules | None = None,
    mask: MaskWrite | None = None,
    members_changed: Iterable[int | None] = (),
) -> None:
    """Move the village counts from each subject's ``before`` facts to its ``after`` facts.

    Call inside the service's transaction, after the subject rows are written (all but the
    ``capability_mask`` given as ``mask``, which is written here with the counts; see
    ``apply_deltas``). ``None`` stands for "did not exist". Takes the province's shared counts lock.
    ``members_changed``: households whose members came, went or changed holdings: their holdings
    through members (``derived_mask``) are brought in step and counted too.
    """
    rules = rules or rules_for_writes(province_id)
    households = [
        *households,
        *(derived_change(change) for change in refresh_households(rules.derivations, members_changed)),
    ]
    deltas: Deltas = defaultdict(empty_cell)
    for before, after in residents:
        resident_contribution(rules, before, -1, deltas)
        resident_contribution(rules, after, +1, deltas)
    for hh_before, hh_after in households:
        household_contribution(rules, hh_before, -1, deltas)
        household_contribution(rules, hh_after, +1, deltas)
    apply_deltas(province_id, deltas, mask=mask)
