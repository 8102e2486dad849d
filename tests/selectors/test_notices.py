"""In-app notices (issue 17): overdue follow-ups for a team, each member's for a leader, a returned month
for a commune officer, communes waiting for approval or late for a province officer. Scoped, and a
number of queries that does not grow with the villages, follow-ups or communes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation
from freezegun import freeze_time

from fieldteam.choices import AreaRoleKind, AssistanceChannel, AssistanceOutcome, MembershipRole, NotDoneReason
from fieldteam.models import Capability, Resident, Team, User
from fieldteam.selectors.approvals import due_date
from fieldteam.selectors.notices import (
    COMMUNES_LATE,
    MEMBERS_OVERDUE,
    MONTH_RETURNED,
    MONTH_TO_SUBMIT,
    MONTHS_SUBMITTED,
    OVERDUE_FOLLOW_UPS,
    Notice,
    notices_for,
)
from fieldteam.services import approvals
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.clock import last_month
from tests.factories import (
    AreaRoleFactory,
    CommuneFactory,
    HouseholdFactory,
    MembershipFactory,
    ResidentFactory,
    TeamFactory,
    UserFactory,
    VillageFactory,
)
from tests.services.test_approvals import closed
from tests.web.conftest import WebWorld, web_world

__all__ = ["closed", "web_world"]

pytestmark = pytest.mark.django_db

def after_due() -> dt.date:
    """A day after last month's sign-off was due."""
    return due_date(last_month()).replace(day=20)


def log(actor: User, team: Team, resident: Resident, capability: Capability, days_ago: int, reason: str = "") -> None:
    log_assistance(
        actor=actor,
        team=team,
        occurred_at=timezone.now() - dt.timedelta(days=days_ago),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(capability, AssistanceOutcome.NOT_DONE if reason else AssistanceOutcome.DONE, reason)],
        resident=resident,
    )


def of_kind(notices: list[Notice], kind: str) -> list[Notice]:
    return [n for n in notices if n.kind == kind]


def vi_notices(user: User) -> list[Notice]:
    with translation.override("vi"):
        return notices_for(user=user)


# --- members and leaders -------------------------------------------------------------------------


def test_a_member_is_told_how_many_of_the_teams_follow_ups_are_overdue(web_world: WebWorld, leader: User) -> None:
    an, hoa, binh = web_world.residents
    # "Not at home" is due 3 days after the visit: two overdue (one left by the leader), one due tomorrow.
    log(web_world.member, web_world.team, an, web_world.smartphone, 5, NotDoneReason.ABSENT)
    log(leader, web_world.team, hoa, web_world.smartphone, 4, NotDoneReason.ABSENT)
    log(web_world.member, web_world.team, binh, web_world.smartphone, 2, NotDoneReason.ABSENT)
    [notice] = vi_notices(web_world.member)
    assert notice.kind == OVERDUE_FOLLOW_UPS and notice.severity == "warning"
    assert notice.text == "2 lượt hẹn quay lại đã quá hạn"
    assert notice.link == f"{reverse('web:home')}#work-{web_world.village.pk}"


def test_no_notice_while_nothing_is_overdue(web_world: WebWorld) -> None:
    an, hoa, _binh = web_world.residents
    log(web_world.member, web_world.team, an, web_world.smartphone, 2, NotDoneReason.ABSENT)  # due tomorrow
    log(web_world.member, web_world.team, hoa, web_world.smartphone, 6, NotDoneReason.ABSENT)
    log(web_world.member, web_world.team, hoa, web_world.smartphone, 1)  # done since: closed
    assert notices_for(user=web_world.member) == []


def test_a_leader_also_sees_each_members_overdue_count(web_world: WebWorld, leader: User) -> None:
    an, hoa, binh = web_world.residents
    log(web_world.member, web_world.team, an, web_world.smartphone, 5, NotDoneReason.ABSENT)
    log(web_world.member, web_world.team, hoa, web_world.skills, 9, NotDoneReason.ABSENT)
    log(leader, web_world.team, binh, web_world.smartphone, 4, NotDoneReason.ABSENT)
    notices = vi_notices(leader)
    assert [n.kind for n in notices] == [OVERDUE_FOLLOW_UPS, MEMBERS_OVERDUE]
    assert notices[0].text == "3 lượt hẹn quay lại đã quá hạn"
    # The most overdue member first, each with their count.
    member_text = notices[1].text
    assert member_text.startswith("Lượt hẹn quá hạn theo thành viên: ")
    assert member_text.index(f"{web_world.member.display_name}: 2") < member_text.index(f"{leader.display_name}: 1")
    # A plain member is not shown the others' counts.
    assert not of_kind(notices_for(user=web_world.member), MEMBERS_OVERDUE)


def test_another_teams_follow_ups_are_never_counted(web_world: WebWorld, area_tree) -> None:
    far_team = TeamFactory(village=area_tree.far_village)
    far_member = MembershipFactory(team=far_team, role=MembershipRole.LEADER).user
    far_resident = ResidentFactory(household=HouseholdFactory(village=area_tree.far_village))
    log(far_member, far_team, far_resident, web_world.smartphone, 10, NotDoneReason.ABSENT)
    assert notices_for(user=web_world.member) == []
    assert [n.kind for n in notices_for(user=far_member)] == [OVERDUE_FOLLOW_UPS, MEMBERS_OVERDUE]
    # Neither a viewer of the province nor a superuser without a role signs anything off or visits.
    viewer = AreaRoleFactory(area=area_tree.other_province, role=AreaRoleKind.VIEWER).user
    assert notices_for(user=viewer) == []
    assert notices_for(user=UserFactory(superuser=True)) == []


def test_a_leaders_notices_take_the_same_queries_whatever_the_villages_and_follow_ups(
    web_world: WebWorld, leader: User, area_tree, django_assert_max_num_queries
) -> None:
    log(web_world.member, web_world.team, web_world.residents[0], web_world.smartphone, 5, NotDoneReason.ABSENT)

    def queries() -> int:
        fresh = User.objects.get(pk=leader.pk)  # the scope is read again, as in a new request
        with CaptureQueriesContext(connection) as captured:
            assert notices_for(user=fresh)
        return len(captured)

    before = queries()
    # More villages for the team, more members, more overdue follow-ups in each.
    for n in range(3):
        village = VillageFactory(parent=area_tree.commune, name=f"Thôn mới {n}")
        web_world.team.areas.add(village)
        helper = MembershipFactory(team=web_world.team).user
        for resident in ResidentFactory.create_batch(2, household=HouseholdFactory(village=village)):
            log(helper, web_world.team, resident, web_world.skills, 8, NotDoneReason.ABSENT)
    assert queries() == before
    fresh = User.objects.get(pk=leader.pk)
    with django_assert_max_num_queries(5):  # scope, villages, rules, follow-ups, members' names
        notices_for(user=fresh)


# --- officers ------------------------------------------------------------------------------------


def test_a_commune_officer_is_told_their_month_was_returned_with_the_comment(
    closed, commune_officer, province_officer
) -> None:
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.return_month(
        actor=province_officer, area=closed.commune, month=last_month(), comment="Số hộ có cáp quang chưa khớp"
    )
    [notice] = vi_notices(commune_officer)
    assert notice.kind == MONTH_RETURNED and notice.severity == "warning"
    assert notice.text == (
        f"Báo cáo tháng {last_month():%m/%Y} của Xã Ia Grai đã bị trả lại: Số hộ có cáp quang chưa khớp"
    )
    assert notice.link == (f"{reverse('dashboards:area', args=[closed.commune.pk])}?period={last_month():%Y-%m}#sign-off")
    # Submitted again: the notice is gone.
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    assert not of_kind(notices_for(user=commune_officer), MONTH_RETURNED)


def test_a_commune_officer_is_reminded_of_the_closed_month_until_it_is_submitted(closed, commune_officer) -> None:
    with freeze_time(due_date(last_month()).replace(day=2)):
        [reminder] = vi_notices(commune_officer)
    assert (reminder.kind, reminder.severity) == (MONTH_TO_SUBMIT, "info")
    assert f"{last_month():%m/%Y}" in reminder.text and "Xã Ia Grai" in reminder.text
    assert f"{due_date(last_month()):%d/%m/%Y}" in reminder.text
    assert reminder.link == f"{reverse('dashboards:area', args=[closed.commune.pk])}?period={last_month():%Y-%m}#sign-off"
    with freeze_time(after_due()):
        [late] = vi_notices(commune_officer)
    assert (late.kind, late.severity) == (MONTH_TO_SUBMIT, "warning")
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with freeze_time(after_due()):
        assert notices_for(user=commune_officer) == []


def test_a_province_officer_is_told_who_waits_for_approval_and_who_is_late(
    closed, commune_officer, province_officer
) -> None:
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with freeze_time(after_due()):
        notices = vi_notices(province_officer)
    [waiting] = of_kind(notices, MONTHS_SUBMITTED)
    assert waiting.text == f"1 xã đã nộp báo cáo tháng {last_month():%m/%Y}, chờ bạn duyệt: Xã Ia Grai"
    assert waiting.link.startswith(reverse("dashboards:area", args=[closed.province.pk]))
    [late] = of_kind(notices, COMMUNES_LATE)
    assert late.text == f"1 xã chậm nộp báo cáo tháng {last_month():%m/%Y}: Xã Ia Hrung"
    # Before the due day nobody is late; once approved, nobody waits.
    approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    with freeze_time(due_date(last_month()).replace(day=2)):
        assert notices_for(user=province_officer) == []
    # Nothing of this province reaches another province's officer, nor the commune officer.
    far_officer = AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user
    with freeze_time(after_due()):
        far = notices_for(user=far_officer)
        assert all("Ia" not in n.text for n in far)
        assert [n.kind for n in far] == [COMMUNES_LATE]  # its own late commune
        assert notices_for(user=commune_officer) == []


def test_a_province_officers_notices_take_the_same_queries_whatever_the_communes(
    closed, commune_officer, province_officer
) -> None:
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())

    def queries() -> int:
        fresh = User.objects.get(pk=province_officer.pk)
        with freeze_time(after_due()), CaptureQueriesContext(connection) as captured:
            assert notices_for(user=fresh)
        return len(captured)

    before = queries()
    for n in range(4):
        commune = CommuneFactory(parent=closed.province, name=f"Xã Mới {n}")
        officer = AreaRoleFactory(area=commune, role=AreaRoleKind.COMMUNE_OFFICER).user
        approvals.submit_month(actor=officer, area=commune, month=last_month())
    assert queries() == before <= 7  # scope, areas, returned, submitted, and the sign-off's three
