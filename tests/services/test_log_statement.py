"""The one-statement log (``fieldteam.rollup.fastlog``) writes what the ORM path writes.

Each case logs the same help for two twins of the same village, one through the ORM path (turned
off) and one through the statement (on), and compares everything the two leave behind: the log,
its items, the adoptions, the masks, the village counts and their communes' stored sums (both
equal to a full recompute), the sync receipt and the trail's entries. Then what the statement must
leave to the ORM path: bad places, stale counting rules, a resend.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from fieldteam import audit, sync
from fieldteam.choices import MembershipRole, Sex
from fieldteam.models import (
    Adoption,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    Capability,
    CommuneCount,
    Household,
    Indicator,
    Resident,
    SyncReceipt,
)
from fieldteam.rollup import fastlog, recompute, rules
from fieldteam.services import people
from fieldteam.services.adoption import set_adoption
from fieldteam.services.reference import load_reference
from tests.conftest import AreaTree
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture
def place(area_tree: AreaTree) -> dict[str, Any]:
    # The process-wide caches are emptied for every test (tests/conftest.py).
    load_reference()
    team = TeamFactory(village=area_tree.village, founded_on=dt.date(2024, 1, 1))
    member = MembershipFactory(team=team, role=MembershipRole.MEMBER).user
    # When the test's logs happened: a few hours ago, the same for both paths (their rows are compared).
    when = timezone.now() - dt.timedelta(hours=3)
    return {"team": team, "member": member, "village": area_tree.village, "tree": area_tree, "when": when}


@pytest.fixture
def statement_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The rows the statement answered (``None``: it wrote nothing and left the item to the ORM path)."""
    answers: list[object] = []
    execute = fastlog._execute

    def spy(statement: object, params: dict[str, object]) -> tuple | None:
        row = execute(statement, params)
        answers.append(row)
        return row

    monkeypatch.setattr(fastlog, "_execute", spy)
    return answers


def _twins(village, *, birth_year: int, sex: str) -> tuple[Resident, Resident]:
    # Each in a household of their own: what a household holds through a member moves the same way for both.
    return tuple(
        people.register_resident(
            actor=None,
            household=people.register_household(actor=None, village=village),
            full_name=f"Người {n}",
            sex=sex,
            birth_year=birth_year,
        )
        for n in (1, 2)
    )


def _send(
    member, data: dict[str, Any], *, client_id: uuid.UUID | None = None, statement: bool, settings
) -> sync.ItemResult:
    settings.FIELDTEAM_LOG_IN_ONE_STATEMENT = statement
    with audit.acting_as(member):
        return sync.receive_item(actor=member, kind=sync.ASSISTANCE_LOG, client_id=client_id or uuid.uuid4(), data=data)


def _log_data(place: dict[str, Any], subject: Resident | Household, items: list[dict[str, str]], when=None) -> dict:
    field = "resident" if isinstance(subject, Resident) else "household"
    return {
        "team": place["team"].pk,
        field: subject.pk,
        "occurred_at": (when or place["when"]).isoformat(),
        "channel": "home_visit",
        "note": "Cài ứng dụng",
        "items": items,
    }


def _written(log_id: str, subject: Resident | Household) -> dict[str, Any]:
    """What a log left behind, with its own ids and the subject's replaced by placeholders."""
    log = AssistanceLog.objects.get(pk=log_id)
    subject.refresh_from_db()

    def plain(value: object) -> object:
        """A value with the ids, times and hashes that differ between the twins named instead."""
        text = str(value).replace(str(log.pk), "LOG")
        text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", "TIME", text)  # when each was recorded
        text = re.sub(r"[0-9a-f]{64}", "HASH", text)  # the content hash names the subject
        return re.sub(r"#\d+", "#ID", text)

    field = "resident" if isinstance(subject, Resident) else "household"
    adoptions = Adoption.objects.filter(**{field: subject}).order_by("capability_id")
    item_ids = [str(pk) for pk in log.items.values_list("pk", flat=True)]
    adoption_ids = [str(pk) for pk in adoptions.values_list("pk", flat=True)]
    types = ContentType.objects.get_for_models(AssistanceLog, AssistanceItem, Adoption)
    entries = AuditEntry.objects.filter(
        Q(content_type=types[AssistanceLog], object_pk=str(log.pk))
        | Q(content_type=types[AssistanceItem], object_pk__in=item_ids)
        | Q(content_type=types[Adoption], object_pk__in=adoption_ids)
    )
    receipt = SyncReceipt.objects.get(pk=log.pk)
    return {
        "log": (log.team_id, log.member_id, log.village_id, log.province_id, log.channel, log.note, log.occurred_at),
        "items": sorted(log.items.values_list("capability__code", "outcome", "reason")),
        "adoptions": [
            (a.capability.code, a.since, a.source, a.recorded_by_id, a.ended_on, plain(a.assistance_log_id))
            for a in adoptions
        ],
        "mask": subject.capability_mask,
        "receipt": (receipt.kind, receipt.member_id, receipt.province_id, receipt.object_id == str(log.pk)),
        "entries": sorted(
            (
                e.content_type.model,
                e.action,
                plain(e.object_repr),
                sorted((k, _plain_change(k, old, new, plain)) for k, (old, new) in (e.changes or {}).items()),
                e.actor_id,
                e.area_id,
                e.province_id,
            )
            for e in entries
        ),
    }


def _plain_change(key: str, old: object, new: object, plain) -> object:
    """One field's change in an entry, with the values that differ between the twins named by the field."""
    if key in ("id", "resident", "household"):
        return key.upper()
    return (plain(old), plain(new))


def _counts(village) -> dict[int, tuple[int, int]]:
    from fieldteam.models import VillageCount

    return {c.indicator_id: (c.numerator, c.denominator) for c in VillageCount.objects.filter(village=village)}


def _commune_counts(commune) -> dict[int, tuple[int, ...]]:
    """The commune's stored sums (issue 18), every column."""
    return {
        c.indicator_id: tuple(getattr(c, column) for column in rules.COUNT_COLUMNS)
        for c in CommuneCount.objects.filter(commune=commune)
    }


def _moved(before: dict[int, tuple[int, ...]], after: dict[int, tuple[int, ...]]) -> dict[int, tuple[int, ...]]:
    return {k: tuple(a - b for a, b in zip(v, before.get(k, (0,) * len(v)), strict=True)) for k, v in after.items()}


CASES = {
    "new capabilities, one not done": [
        {"capability": "smartphone", "outcome": "done"},
        {"capability": "vneid_level2", "outcome": "done"},
        {"capability": "basic_digital_skills", "outcome": "not_done", "reason": "no_device"},
    ],
    "nothing done": [{"capability": "payment_account", "outcome": "not_done", "reason": "declined"}],
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize(("birth_year", "sex"), [(1990, Sex.FEMALE), (1962, Sex.MALE), (2015, Sex.FEMALE)])
def test_the_statement_writes_what_the_orm_path_writes(place, statement_calls, settings, case, birth_year, sex):
    village, commune = place["village"], place["tree"].commune
    by_orm, by_statement = _twins(village, birth_year=birth_year, sex=sex)
    before, commune_before = _counts(village), _commune_counts(commune)

    orm = _send(place["member"], _log_data(place, by_orm, CASES[case]), statement=False, settings=settings)
    after_orm, commune_after_orm = _counts(village), _commune_counts(commune)
    assert statement_calls == []
    fast = _send(place["member"], _log_data(place, by_statement, CASES[case]), statement=True, settings=settings)
    after_fast, commune_after_fast = _counts(village), _commune_counts(commune)

    assert (orm.status, orm.errors, fast.status, fast.errors) == (sync.CREATED, {}, sync.CREATED, {})
    assert len(statement_calls) == 1 and statement_calls[0] is not None
    assert _written(fast.id, by_statement) == _written(orm.id, by_orm)
    # Both moved the counts by the same amounts, and those are the counts a recompute finds.
    moved_by_orm = {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1]) for k, v in after_orm.items()}
    moved_by_fast = {k: (v[0] - after_orm[k][0], v[1] - after_orm[k][1]) for k, v in after_fast.items()}
    assert moved_by_fast == moved_by_orm
    # The commune's stored sums too, every column (issue 18).
    assert _moved(commune_after_orm, commune_after_fast) == _moved(commune_before, commune_after_orm)
    # The recompute compares the commune rows with their villages' sums as well.
    assert recompute.recompute_province(province_id=village.province_id).drift == []


def test_an_earlier_date_moves_an_open_adoption_back_as_the_orm_path_does(place, statement_calls, settings):
    village = place["village"]
    by_orm, by_statement = _twins(village, birth_year=1980, sex=Sex.MALE)
    smartphone = Capability.objects.get(code="smartphone")
    for resident in (by_orm, by_statement):
        set_adoption(actor=None, capability=smartphone, since=timezone.localdate(), source="survey", resident=resident)
    items = [{"capability": "smartphone", "outcome": "done"}, {"capability": "telehealth", "outcome": "done"}]

    when = timezone.now() - dt.timedelta(days=2)
    orm = _send(place["member"], _log_data(place, by_orm, items, when), statement=False, settings=settings)
    fast = _send(place["member"], _log_data(place, by_statement, items, when), statement=True, settings=settings)

    assert statement_calls[-1] is not None
    assert _written(fast.id, by_statement) == _written(orm.id, by_orm)
    moved = Adoption.objects.get(resident=by_statement, capability=smartphone)
    assert moved.since == timezone.localdate(when)
    assert recompute.recompute_province(province_id=village.province_id).drift == []


def test_a_household_log_writes_what_the_orm_path_writes(place, statement_calls, settings):
    village = place["village"]
    first = people.register_household(actor=None, village=village)
    second = people.register_household(actor=None, village=village)
    items = [{"capability": "fibre_broadband", "outcome": "done"}]

    orm = _send(place["member"], _log_data(place, first, items), statement=False, settings=settings)
    fast = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert statement_calls[-1] is not None
    assert _written(fast.id, second) == _written(orm.id, first)
    assert recompute.recompute_province(province_id=village.province_id).drift == []


def test_a_resident_outside_the_teams_villages_gets_the_orm_paths_error_and_nothing_is_written(
    place, statement_calls, settings
):
    household = people.register_household(actor=None, village=place["tree"].village2)
    resident = people.register_resident(actor=None, household=household, full_name="A", sex=Sex.MALE, birth_year=1990)
    # The member sees the village through a second team, but logs for the first one.
    MembershipFactory(user=place["member"], team=TeamFactory(village=place["tree"].village2))
    items = [{"capability": "smartphone", "outcome": "done"}]

    result = _send(place["member"], _log_data(place, resident, items), statement=True, settings=settings)

    assert statement_calls == [None]
    assert result.status == sync.REJECTED
    assert result.codes == {"resident": ["outside_team"]}
    assert not AssistanceLog.objects.filter(resident=resident).exists()
    assert not Adoption.objects.filter(resident=resident).exists()


def test_a_departed_resident_is_refused_as_before(place, statement_calls, settings):
    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    Resident.objects.filter(pk=resident.pk).update(status="moved_out", left_on=timezone.localdate())

    result = _send(
        place["member"], _log_data(place, resident, CASES["nothing done"]), statement=True, settings=settings
    )

    assert statement_calls == [None]
    assert result.status == sync.REJECTED and "resident" in result.errors


@pytest.mark.log_fallback("rules out of date are the fallback under test")
def test_rules_out_of_date_leave_the_log_to_the_orm_path_and_are_read_again(place, statement_calls, settings):
    first, second = _twins(place["village"], birth_year=1985, sex=Sex.MALE)
    items = [{"capability": "smartphone", "outcome": "done"}]
    province_id = place["village"].province_id
    latest = rules.latest_rules(province_id)
    assert latest is not None
    rules._LATEST[(rules._database(), province_id)] = (latest[0] - dt.timedelta(days=31), latest[1], latest[2])

    stale = _send(place["member"], _log_data(place, first, items), statement=True, settings=settings)
    fresh = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert stale.status == fresh.status == sync.CREATED
    assert statement_calls[0] is None and statement_calls[-1] is not None
    assert recompute.recompute_province(province_id=place["village"].province_id).drift == []


def test_a_resend_is_recognised_and_a_reused_id_with_other_content_is_a_conflict(place, statement_calls, settings):
    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    client_id = uuid.uuid4()
    data = _log_data(place, resident, [{"capability": "smartphone", "outcome": "done"}])

    first = _send(place["member"], data, client_id=client_id, statement=True, settings=settings)
    again = _send(place["member"], data, client_id=client_id, statement=True, settings=settings)
    other = _send(place["member"], {**data, "channel": "phone"}, client_id=client_id, statement=True, settings=settings)

    assert (first.status, again.status, other.status) == (sync.CREATED, sync.ALREADY_RECEIVED, sync.CONFLICT)
    assert AssistanceLog.objects.filter(resident=resident).count() == 1
    assert Adoption.objects.filter(resident=resident).count() == 1
    assert recompute.recompute_province(province_id=place["village"].province_id).drift == []


def test_inside_an_open_transaction_a_failed_statement_leaves_the_transaction_usable(place, settings):
    from django.db import transaction

    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    client_id = uuid.uuid4()
    data = _log_data(place, resident, [{"capability": "smartphone", "outcome": "done"}])
    _send(place["member"], data, client_id=client_id, statement=True, settings=settings)

    with transaction.atomic():
        again = _send(place["member"], data, client_id=client_id, statement=True, settings=settings)
        assert again.status == sync.ALREADY_RECEIVED
        assert connection.is_usable() and Resident.objects.filter(pk=resident.pk).exists()


def test_a_session_reset_by_a_pooler_still_writes_in_one_statement(place, statement_calls, settings):
    first, second = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    items = [{"capability": "smartphone", "outcome": "done"}]
    _send(place["member"], _log_data(place, first, items), statement=True, settings=settings)
    with connection.cursor() as cursor:
        cursor.execute("DISCARD ALL")  # as pgbouncer resets a server connection between clients

    result = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert result.status == sync.CREATED
    assert statement_calls[-1] is not None


def test_the_migrations_install_the_function_of_this_code():
    """A changed statement (or member or population rule) needs a migration installing it (see 0016)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT proname FROM pg_proc WHERE proname LIKE 'fieldteam\\_log\\_%%'")
        installed = {name for (name,) in cursor.fetchall()}
    assert installed == {function.name for function in fastlog.FUNCTIONS.values()}


def test_a_function_not_installed_leaves_logs_to_the_orm_path(place, statement_calls, settings, monkeypatch):
    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    gone = fastlog._Function.of("resident", "SELECT 1")
    monkeypatch.setitem(fastlog.FUNCTIONS, "resident", gone)
    items = [{"capability": "smartphone", "outcome": "done"}]

    result = _send(place["member"], _log_data(place, resident, items), statement=True, settings=settings)

    assert result.status == sync.CREATED and statement_calls == [None]
    assert fastlog.USE.missing == 1 and fastlog.USE.by_orm == 1
    fastlog.USE.reset()  # the fallback is what this test is about


def _rules_version() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM fieldteam_countingrules_version WHERE id = 1")
        return cursor.fetchone()[0]


def test_the_rules_version_moves_on_with_every_change_and_no_number_comes_back_after_a_rollback(place):
    from django.db import transaction

    from fieldteam.models import Indicator, RetirementAge

    first = _rules_version()
    Indicator.objects.filter(population="residents").update(is_active=True)
    second = _rules_version()
    transaction.set_autocommit(False)
    try:
        RetirementAge.objects.update(age_months=720)
        seen_then_rolled_back = _rules_version()
        transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert _rules_version() == second
    Capability.objects.filter(code="telehealth").update(is_active=False)
    third = _rules_version()

    assert len({first, second, seen_then_rolled_back, third}) == 4


def test_a_write_after_an_indicator_changed_counts_with_the_new_rules(place):
    from fieldteam.models import Indicator

    province_id = place["village"].province_id
    _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)  # the province has counts and rules in use
    before = rules.rules_for_writes(province_id)
    indicator = Indicator.objects.filter(pk__in=[rule.indicator_id for rule in before.residents]).first()
    Indicator.objects.filter(pk=indicator.pk).update(min_age=(indicator.min_age or 0) + 5)

    after = rules.rules_for_writes(province_id)

    changed = {rule.indicator_id: rule.high_bmi for rule in after.residents}
    was = {rule.indicator_id: rule.high_bmi for rule in before.residents}
    assert changed[indicator.pk] == was[indicator.pk] - 60


# The member rule (``permissions.member_may_work_sql``): each way a member may not log for a team, made
# true of the fixture's member and team, and the code the ORM path refuses it with.
def _membership_ended(place: dict[str, Any]) -> None:
    from fieldteam.models import Membership

    Membership.objects.filter(user=place["member"]).update(ended_on=timezone.localdate() - dt.timedelta(days=1))


def _team_deactivated(place: dict[str, Any]) -> None:
    from fieldteam.models import Team

    Team.objects.filter(pk=place["team"].pk).update(is_active=False)


def _team_founded_after_the_work(place: dict[str, Any]) -> None:
    from fieldteam.models import Team

    Team.objects.filter(pk=place["team"].pk).update(founded_on=timezone.localdate(place["when"]) + dt.timedelta(days=1))


REFUSALS = {
    "membership ended": (_membership_ended, {"team": ["does_not_exist"]}),
    "team deactivated": (_team_deactivated, {"team": ["does_not_exist"]}),
    "team founded after the work": (_team_founded_after_the_work, {"occurred_at": ["before_team"]}),
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
@pytest.mark.parametrize("statement", [True, False], ids=["one_statement", "orm"])
def test_the_member_rule_refuses_the_same_on_both_paths(place, statement_calls, settings, refusal, statement):
    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    make_it_so, codes = REFUSALS[refusal]
    make_it_so(place)

    result = _send(place["member"], _log_data(place, resident, CASES["nothing done"]), statement=statement, settings=settings)

    assert (result.status, result.codes) == (sync.REJECTED, codes)
    assert statement_calls == ([None] if statement else [])
    assert not AssistanceLog.objects.filter(resident=resident).exists()


# Each part of the member rule taken out of the installed function, one at a time: the refusal of
# the test above must then no longer hold (the statement writes the log), which shows that test
# would catch the SQL drifting from the rule.
MUTATIONS = {
    "membership ended": (r"m\.ended_on IS NULL AND ", ""),
    "team deactivated": (r"\bt\.is_active\b", "true"),
    "team founded after the work": (r"t\.founded_on <= \$\d+::date", "true"),
}


@pytest.mark.parametrize("refusal", list(MUTATIONS))
def test_each_part_of_the_member_rule_taken_out_of_the_statement_is_caught(place, settings, refusal):
    function = fastlog.FUNCTIONS["resident"]
    pattern, replacement = MUTATIONS[refusal]
    mutated, found = re.subn(pattern, replacement, function.create_sql)
    assert found == 1, "the member rule's SQL changed: update the mutations"
    resident, _twin = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    REFUSALS[refusal][0](place)
    try:
        with connection.cursor() as cursor:
            cursor.execute(mutated)
        result = _send(
            place["member"], _log_data(place, resident, CASES["nothing done"]), statement=True, settings=settings
        )
    finally:
        with connection.cursor() as cursor:
            cursor.execute(function.create_sql)

    assert result.status == sync.CREATED  # the mutant writes what the rule refuses


def test_the_population_rule_in_sql_is_the_python_rule(place):
    """``rules.IN_POPULATION_SQL`` against ``ResidentRule.in_population``, for every rule and age around its bounds."""
    import json

    in_use = rules.load_rules(rules.counting_month(place["village"].province_id))
    condition = rules.IN_POPULATION_SQL.format(bmi="t.bmi", sex="t.sex", rule="r")
    cases = []
    for rule in in_use.residents:
        bounds = [rule.high_bmi, *(b for b in rule.low_bmi.values() if b is not None)]
        for bmi in {b + d for b in bounds for d in (-1, 0, 1)}:
            cases += [(rule, bmi, sex) for sex in Sex.values]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {condition} FROM jsonb_to_recordset(%s::jsonb) AS t(bmi integer, sex text, record jsonb, n integer), "  # noqa: S608
            "jsonb_to_record(t.record) AS r(high integer, low jsonb) ORDER BY t.n",
            [json.dumps([{"bmi": b, "sex": s, "record": r.record(), "n": n} for n, (r, b, s) in enumerate(cases)])],
        )
        in_sql = [row[0] for row in cursor.fetchall()]
    assert in_sql == [rule.in_population(bmi, sex) for rule, bmi, sex in cases]


def test_a_members_gain_reaches_the_household_in_the_same_statement(place, statement_calls, settings):
    """A household holds a smartphone through any member (Sơn La): the one statement counts it once."""
    village = place["village"]
    household = people.register_household(actor=None, village=village)
    first, second = (
        people.register_resident(actor=None, household=household, full_name=f"Người {n}", sex=Sex.MALE, birth_year=1980)
        for n in (1, 2)
    )
    households_smartphone = Indicator.objects.get(code="households_smartphone").pk
    before = _counts(village).get(households_smartphone, (0, 0))
    items = [{"capability": "smartphone", "outcome": "done"}]

    for resident in (first, second):
        result = _send(place["member"], _log_data(place, resident, items), statement=True, settings=settings)
        assert result.status == sync.CREATED

    assert len(statement_calls) == 2 and None not in statement_calls
    household.refresh_from_db()
    assert household.derived_mask == Capability.objects.get(code="household_smartphone").mask
    assert household.capability_mask == 0  # held through its members: no adoption of its own
    assert _counts(village)[households_smartphone] == (before[0] + 1, before[1])
    assert recompute.recompute_province(province_id=village.province_id).drift == []
