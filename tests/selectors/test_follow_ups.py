"""Follow-up visits (issue 17): derived from the logs, due by the reason's rule, closed by a later log."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from fieldteam.choices import AreaRoleKind, AssistanceChannel, AssistanceOutcome, NotDoneReason
from fieldteam.models import Capability, FollowUpRule, Household, Resident, Team, User
from fieldteam.models.follow_ups import DEFAULT_DELAYS
from fieldteam.selectors import follow_ups
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.follow_ups import delete_follow_up_rule, set_follow_up_rule
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    MembershipFactory,
    ResidentFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

START = dt.date(2026, 3, 2)


def at(day: dt.date, hour: int = 9) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


class Field:
    def __init__(self, tree: AreaTree) -> None:
        self.tree = tree
        self.team: Team = TeamFactory(village=tree.village, areas=[tree.commune])
        self.worker: User = MembershipFactory(team=self.team).user
        self.colleague: User = MembershipFactory(team=self.team).user
        self.phone: Capability = CapabilityFactory(code="smartphone")
        self.account: Capability = CapabilityFactory(code="payment_account")
        self.fibre: Capability = CapabilityFactory(code="fibre", for_household=True)
        self.resident: Resident = ResidentFactory(household=HouseholdFactory(village=tree.village))

    def log(
        self,
        subject: Resident | Household,
        day: dt.date,
        capability: Capability,
        reason: str = "",
        *,
        by: User | None = None,
        hour: int = 9,
    ) -> None:
        outcome = AssistanceOutcome.NOT_DONE if reason else AssistanceOutcome.DONE
        kind = "resident" if isinstance(subject, Resident) else "household"
        log_assistance(
            actor=by or self.worker,
            team=self.team,
            occurred_at=at(day, hour),
            channel=AssistanceChannel.HOME_VISIT,
            items=[ItemInput(capability, outcome, reason)],
            **{kind: subject},
        )

    def open(self, user: User | None = None) -> list[follow_ups.FollowUp]:
        return follow_ups.follow_ups(user=user or self.worker, villages=[self.tree.village, self.tree.village2])


@pytest.fixture
def field(area_tree: AreaTree) -> Field:
    return Field(area_tree)


def test_the_national_defaults_are_seeded_and_hold_without_rows(area_tree: AreaTree):
    seeding = importlib.import_module("fieldteam.migrations.0023_follow_up_rules")
    assert {str(reason): delay for reason, delay in DEFAULT_DELAYS.items()} == seeding.DEFAULT_DELAYS
    assert set(DEFAULT_DELAYS) == set(NotDoneReason.values)
    FollowUpRule.objects.all().delete()  # as a transactional test's flush leaves the table
    delays = follow_ups.follow_up_delays([area_tree.province.pk])
    assert delays[(area_tree.province.pk, NotDoneReason.ABSENT)] == 3
    assert delays[(area_tree.province.pk, NotDoneReason.MISSING_DOCUMENTS)] == 30
    assert delays[(area_tree.province.pk, NotDoneReason.DECLINED)] == 90
    assert delays[(area_tree.province.pk, NotDoneReason.NO_SIGNAL)] is None


def test_a_national_rule_replaces_the_default(field: Field):
    set_follow_up_rule(actor=None, province=None, reason=NotDoneReason.ABSENT, delay_days=None)
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    assert field.open() == []


def test_a_not_done_opens_a_follow_up_due_by_its_reason(field: Field):
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    [item] = field.open()
    assert (item.subject, item.subject_id, item.capability_id) == ("resident", field.resident.pk, field.phone.pk)
    assert item.reason == NotDoneReason.ABSENT
    assert item.due_on == START + dt.timedelta(days=3)
    assert item.visited_at == at(START)
    assert item.visited_by == field.worker.pk
    assert item.name == field.resident.full_name


def test_a_later_log_of_the_capability_closes_it_another_capability_does_not(field: Field):
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    field.log(field.resident, START + dt.timedelta(days=1), field.account)
    assert [f.capability_id for f in field.open()] == [field.phone.pk]
    field.log(field.resident, START + dt.timedelta(days=2), field.phone)
    assert field.open() == []


def test_a_later_not_done_restarts_with_the_new_reasons_delay(field: Field):
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    field.log(field.resident, START + dt.timedelta(days=3), field.phone, NotDoneReason.MISSING_DOCUMENTS)
    [item] = field.open()
    assert item.reason == NotDoneReason.MISSING_DOCUMENTS
    assert item.due_on == START + dt.timedelta(days=33)


def test_a_reason_without_delay_opens_none_and_closes_the_earlier(field: Field):
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    field.log(field.resident, START + dt.timedelta(days=1), field.phone, NotDoneReason.NO_SIGNAL)
    assert field.open() == []


def test_the_provinces_own_rule_replaces_the_national_one(field: Field):
    set_follow_up_rule(actor=None, province=field.tree.province, reason=NotDoneReason.NO_SIGNAL, delay_days=14)
    set_follow_up_rule(actor=None, province=field.tree.province, reason=NotDoneReason.ABSENT, delay_days=None)
    household = field.resident.household
    field.log(household, START, field.fibre, NotDoneReason.NO_SIGNAL)
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    [item] = field.open()
    assert (item.subject, item.subject_id, item.due_on) == ("household", household.pk, START + dt.timedelta(days=14))
    assert (item.name, item.capability_code) == (household.head_name or household.code, "fibre")


def test_same_day_logs_are_ordered_by_time(field: Field):
    field.log(field.resident, START, field.phone, hour=8)
    field.log(field.resident, START, field.phone, NotDoneReason.DECLINED, hour=15)
    [item] = field.open()
    assert item.due_on == START + dt.timedelta(days=90)


def test_counts_per_member_and_village(field: Field):
    day = START + dt.timedelta(days=10)
    other = ResidentFactory(household=HouseholdFactory(village=field.tree.village2))
    # Closed on time by the colleague, this month.
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    field.log(field.resident, START + dt.timedelta(days=2), field.phone, by=field.colleague)
    # Overdue: absent, left open past its 3 days.
    field.log(other, START, field.phone, NotDoneReason.ABSENT)
    # Due within the week: missing papers (30 days) from 25 days before ``day``.
    field.log(field.resident, day - dt.timedelta(days=25), field.account, NotDoneReason.MISSING_DOCUMENTS)
    # Closed late: counts nowhere.
    field.log(other, START, field.account, NotDoneReason.ABSENT)
    field.log(other, START + dt.timedelta(days=6), field.account, by=field.colleague)
    villages = [field.tree.village, field.tree.village2]
    by_member = follow_ups.follow_up_counts_by_member(user=field.worker, villages=villages, day=day)
    assert (by_member[field.worker.pk].due, by_member[field.worker.pk].overdue) == (1, 1)
    assert by_member[field.worker.pk].done_on_time == 0
    assert by_member[field.colleague.pk].done_on_time == 1
    by_village = follow_ups.follow_up_counts_by_village(user=field.worker, villages=villages, day=day)
    assert (by_village[field.tree.village.pk].due, by_village[field.tree.village.pk].done_on_time) == (1, 1)
    assert by_village[field.tree.village2.pk].overdue == 1
    # Last month's closings are not this month's work.
    next_month = follow_ups.follow_up_counts_by_member(user=field.worker, villages=villages, day=dt.date(2026, 4, 20))
    assert field.colleague.pk not in next_month


def test_scoped_to_the_users_areas(field: Field):
    field.log(field.resident, START, field.phone, NotDoneReason.ABSENT)
    outsider = MembershipFactory(team=TeamFactory(village=field.tree.far_village)).user
    with pytest.raises(OutOfScope):
        follow_ups.follow_ups(user=outsider, villages=[field.tree.village])
    officer = UserFactory(is_staff=True)
    AreaRoleFactory(user=officer, area=field.tree.commune, role=AreaRoleKind.COMMUNE_OFFICER)
    assert len(follow_ups.follow_ups(user=officer, villages=[field.tree.village])) == 1


def test_one_query_for_the_list_and_one_for_the_rules(field: Field, django_assert_num_queries):
    for _ in range(3):
        resident = ResidentFactory(household=HouseholdFactory(village=field.tree.village))
        field.log(resident, START, field.phone, NotDoneReason.ABSENT)
    field.open()  # the scope, cached on the user
    with django_assert_num_queries(2):
        assert len(field.open()) == 3


# --- the rules: who sets them, bad input ----------------------------------------------------------


def province_officer(tree: AreaTree) -> User:
    officer = UserFactory(is_staff=True)
    AreaRoleFactory(user=officer, area=tree.province, role=AreaRoleKind.PROVINCE_OFFICER)
    return officer


def test_a_province_officer_sets_and_removes_the_provinces_rule(area_tree: AreaTree):
    officer = province_officer(area_tree)
    rule = set_follow_up_rule(actor=officer, province=area_tree.province, reason=NotDoneReason.ABSENT, delay_days=5)
    again = set_follow_up_rule(actor=officer, province=area_tree.province, reason=NotDoneReason.ABSENT, delay_days=6)
    assert again.pk == rule.pk and again.delay_days == 6
    assert follow_ups.follow_up_delays([area_tree.province.pk])[(area_tree.province.pk, NotDoneReason.ABSENT)] == 6
    delete_follow_up_rule(actor=officer, rule=again)
    assert follow_ups.follow_up_delays([area_tree.province.pk])[(area_tree.province.pk, NotDoneReason.ABSENT)] == 3


@pytest.mark.parametrize(
    ("province", "reason", "delay", "field_name", "code"),
    [
        ("province", NotDoneReason.ABSENT, -1, "delay_days", "negative"),
        ("province", "holiday", 3, "reason", "invalid_choice"),
        ("commune", NotDoneReason.ABSENT, 3, "province", "not_a_province"),
        ("other_province", NotDoneReason.ABSENT, 3, "province", "forbidden"),
        (None, NotDoneReason.ABSENT, 3, "province", "read_only"),
    ],
)
def test_bad_input_is_refused_naming_the_field_nothing_changed(area_tree, province, reason, delay, field_name, code):
    officer = province_officer(area_tree)
    AreaRoleFactory(user=officer, area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER)
    before = list(FollowUpRule.objects.values_list("province_id", "reason", "delay_days").order_by("pk"))
    with pytest.raises(ValidationError) as refused:
        set_follow_up_rule(
            actor=officer,
            province=getattr(area_tree, province) if province else None,
            reason=reason,
            delay_days=delay,
        )
    [error] = refused.value.error_dict[field_name]
    assert error.code == code or field_name == "province"
    assert list(FollowUpRule.objects.values_list("province_id", "reason", "delay_days").order_by("pk")) == before


def test_a_negative_delay_is_refused_in_vietnamese(area_tree: AreaTree):
    officer = province_officer(area_tree)
    with translation.override("vi"), pytest.raises(ValidationError) as refused:
        set_follow_up_rule(actor=officer, province=area_tree.province, reason=NotDoneReason.ABSENT, delay_days=-3)
    [message] = refused.value.message_dict["delay_days"]
    assert "âm" in message
