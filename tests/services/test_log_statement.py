"""The one-statement log (``fieldteam.services.log_statement``) writes what the ORM path writes.

Each case logs the same help for two twins of the same village, one through the ORM path (turned
off) and one through the statement (on), and compares everything the two leave behind: the log,
its items, the adoptions, the masks, the village counts (both equal to a full recompute), the sync
receipt and the trail's entries. Then what the statement must leave to the ORM path: bad places,
stale counting rules, a resend.
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

from fieldteam import audit
from fieldteam.choices import MembershipRole, Sex
from fieldteam.models import (
    Adoption,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    Capability,
    Household,
    Resident,
    SyncReceipt,
)
from fieldteam.services import counting, log_statement, people, rollup, sync
from fieldteam.services.adoption import set_adoption
from fieldteam.services.reference import load_reference
from tests.conftest import AreaTree
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres_only]


@pytest.fixture
def place(area_tree: AreaTree, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    # What earlier tests left in this process's caches names rows of their own databases.
    monkeypatch.setattr(counting, "_LATEST", None)
    monkeypatch.setattr(log_statement, "_catalogue", None)
    load_reference()
    team = TeamFactory(village=area_tree.village, founded_on=dt.date(2024, 1, 1))
    member = MembershipFactory(team=team, role=MembershipRole.MEMBER).user
    return {"team": team, "member": member, "village": area_tree.village, "tree": area_tree}


@pytest.fixture
def statement_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The rows the statement answered (``None``: it wrote nothing and left the item to the ORM path)."""
    answers: list[object] = []
    execute = log_statement._execute

    def spy(statement: object, params: dict[str, object]) -> tuple | None:
        row = execute(statement, params)
        answers.append(row)
        return row

    monkeypatch.setattr(log_statement, "_execute", spy)
    return answers


def _twins(village, *, birth_year: int, sex: str) -> tuple[Resident, Resident]:
    household = people.register_household(actor=None, village=village)
    return tuple(  # type: ignore[return-value]
        people.register_resident(
            actor=None, household=household, full_name=f"Người {n}", sex=sex, birth_year=birth_year
        )
        for n in (1, 2)
    )


def _send(
    member, data: dict[str, Any], *, client_id: uuid.UUID | None = None, statement: bool, settings
) -> sync.ItemResult:
    settings.FIELDTEAM_LOG_IN_ONE_STATEMENT = statement
    with audit.acting_as(member):
        return sync.receive_item(actor=member, kind=sync.ASSISTANCE_LOG, client_id=client_id or uuid.uuid4(), data=data)


WHEN = timezone.now() - dt.timedelta(hours=3)


def _log_data(place: dict[str, Any], subject: Resident | Household, items: list[dict[str, str]], when=WHEN) -> dict:
    field = "resident" if isinstance(subject, Resident) else "household"
    return {
        "team": place["team"].pk,
        field: subject.pk,
        "occurred_at": when.isoformat(),
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
    village = place["village"]
    by_orm, by_statement = _twins(village, birth_year=birth_year, sex=sex)
    before = _counts(village)

    orm = _send(place["member"], _log_data(place, by_orm, CASES[case]), statement=False, settings=settings)
    after_orm = _counts(village)
    assert statement_calls == []
    fast = _send(place["member"], _log_data(place, by_statement, CASES[case]), statement=True, settings=settings)
    after_fast = _counts(village)

    assert (orm.status, orm.errors, fast.status, fast.errors) == (sync.CREATED, {}, sync.CREATED, {})
    assert len(statement_calls) == 1 and statement_calls[0] is not None
    assert _written(fast.id, by_statement) == _written(orm.id, by_orm)
    # Both moved the counts by the same amounts, and those are the counts a recompute finds.
    moved_by_orm = {k: (v[0] - before.get(k, (0, 0))[0], v[1] - before.get(k, (0, 0))[1]) for k, v in after_orm.items()}
    moved_by_fast = {k: (v[0] - after_orm[k][0], v[1] - after_orm[k][1]) for k, v in after_fast.items()}
    assert moved_by_fast == moved_by_orm
    assert rollup.recompute_province(province_id=village.province_id).drift == []


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
    assert rollup.recompute_province(province_id=village.province_id).drift == []


def test_a_household_log_writes_what_the_orm_path_writes(place, statement_calls, settings):
    village = place["village"]
    first = people.register_household(actor=None, village=village)
    second = people.register_household(actor=None, village=village)
    items = [{"capability": "fibre_broadband", "outcome": "done"}]

    orm = _send(place["member"], _log_data(place, first, items), statement=False, settings=settings)
    fast = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert statement_calls[-1] is not None
    assert _written(fast.id, second) == _written(orm.id, first)
    assert rollup.recompute_province(province_id=village.province_id).drift == []


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


def test_rules_out_of_date_leave_the_log_to_the_orm_path_and_are_read_again(place, statement_calls, settings):
    first, second = _twins(place["village"], birth_year=1985, sex=Sex.MALE)
    items = [{"capability": "smartphone", "outcome": "done"}]
    latest = counting.latest_rules()
    assert latest is not None
    counting._LATEST = (latest[0] - dt.timedelta(days=31), latest[1], latest[2])  # a month behind

    stale = _send(place["member"], _log_data(place, first, items), statement=True, settings=settings)
    fresh = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert stale.status == fresh.status == sync.CREATED
    assert statement_calls[0] is None and statement_calls[-1] is not None
    assert rollup.recompute_province(province_id=place["village"].province_id).drift == []


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
    assert rollup.recompute_province(province_id=place["village"].province_id).drift == []


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


def test_a_session_that_forgot_the_prepared_statement_prepares_it_again(place, statement_calls, settings):
    first, second = _twins(place["village"], birth_year=1990, sex=Sex.FEMALE)
    items = [{"capability": "smartphone", "outcome": "done"}]
    _send(place["member"], _log_data(place, first, items), statement=True, settings=settings)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as a connection pooler resetting the session would

    result = _send(place["member"], _log_data(place, second, items), statement=True, settings=settings)

    assert result.status == sync.CREATED
    assert statement_calls[-1] is not None


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
    before = counting.rules_for_writes(province_id)
    indicator = Indicator.objects.filter(pk__in=[rule.indicator_id for rule in before.residents]).first()
    Indicator.objects.filter(pk=indicator.pk).update(min_age=(indicator.min_age or 0) + 5)

    after = counting.rules_for_writes(province_id)

    changed = {rule.indicator_id: rule.high_bmi for rule in after.residents}
    was = {rule.indicator_id: rule.high_bmi for rule in before.residents}
    assert changed[indicator.pk] == was[indicator.pk] - 60
