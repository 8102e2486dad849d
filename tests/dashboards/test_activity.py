"""Team activity: logs per member and per week, members with no activity, scoped like the rest."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldteam.periods import Period
from fieldteam.selectors.activity import reference_month, team_activity
from fieldteam.selectors.indicators import OutOfScope
from tests.factories import MembershipFactory, TeamFactory, VillageFactory


def by_user(activity):
    return {m.user_id: m for m in activity.members}


def test_a_commune_officer_sees_every_member_and_the_weeks(scenario, june):
    """Given the commune's teams, when its officer looks at June, every member and every log is there."""
    activity = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)

    people = by_user(activity)
    assert activity.access == "all"
    assert set(people) == {scenario.leader.pk, scenario.member.pk, scenario.idle.pk, scenario.member2.pk}
    assert (people[scenario.member.pk].logs, people[scenario.member.pk].logs_in_month) == (1, 1)
    assert (people[scenario.leader.pk].logs, people[scenario.leader.pk].sessions) == (1, 1)
    assert people[scenario.leader.pk].role == "leader"
    assert people[scenario.member2.pk].logs == 0  # logged in May only
    assert activity.total_logs == 2
    assert activity.total_sessions == 1
    # June 2026 starts on a Monday; the logs fall in the weeks of 1 and 8 June.
    assert activity.weeks[0] == dt.date(2026, 6, 1)
    assert activity.logs_per_week[:3] == [1, 1, 0]
    assert sum(activity.logs_per_week) == activity.total_logs


def test_members_with_no_activity_this_month(scenario, june):
    activity = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)

    assert {m.user_id for m in activity.inactive} == {scenario.idle.pk, scenario.member2.pk}
    village, village2 = activity.children
    assert (village.area, village.members, village.active_members, village.logs) == (scenario.tree.village, 3, 2, 2)
    assert (village2.members, village2.active_members, village2.inactive_members) == (1, 0, 1)


def test_a_closed_period_counts_its_last_month_as_this_month(scenario):
    may = Period.parse("2026-Q2")  # open: "this month" is June
    assert reference_month(may).start == dt.date(2026, 6, 1)
    q1 = Period.parse("2026-Q1")
    assert reference_month(q1).start == dt.date(2026, 3, 1)

    activity = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=Period.parse("2026-05"))
    people = by_user(activity)
    assert people[scenario.member2.pk].logs_in_month == 1
    assert people[scenario.member2.pk].active_in_month
    assert scenario.leader.pk in {m.user_id for m in activity.inactive}


def test_a_leader_sees_their_team_and_a_member_only_themselves(scenario, june):
    led = team_activity(user=scenario.leader, area=scenario.tree.village, period=june)
    own = team_activity(user=scenario.member, area=scenario.tree.village, period=june)

    assert led.access == "led_teams"
    assert set(by_user(led)) == {scenario.leader.pk, scenario.member.pk, scenario.idle.pk}
    assert own.access == "own"
    assert set(by_user(own)) == {scenario.member.pk}
    assert own.total_logs == 1


@pytest.mark.parametrize("who", ["other_commune_officer", "far_officer", "member"])
def test_activity_outside_the_scope_is_a_404(scenario, june, who):
    with pytest.raises(OutOfScope):
        team_activity(user=getattr(scenario, who), area=scenario.tree.commune, period=june)


def test_constant_queries_whatever_the_number_of_villages(scenario, june):
    def count() -> int:
        officer = type(scenario.province_officer).objects.get(pk=scenario.province_officer.pk)  # no cached scope
        with CaptureQueriesContext(connection) as queries:
            team_activity(user=officer, area=scenario.tree.province, period=june)
        return len(queries)

    before = count()
    for _ in range(4):
        village = VillageFactory(parent=scenario.tree.other_commune)
        MembershipFactory(team=TeamFactory(village=village))
    assert count() == before
