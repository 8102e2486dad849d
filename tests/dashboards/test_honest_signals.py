"""Issue 16: the dashboards say what the field app and the API say (one status rule, one count of help given)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from fieldteam.models import Resident, User
from fieldteam.selectors.activity import team_activity
from fieldteam.selectors.web import my_work
from fieldteam.services.training import record_training_session
from tests.dashboards.conftest import at, login
from tests.factories import HouseholdFactory, ResidentFactory

pytestmark = pytest.mark.django_db


def test_a_missed_past_target_reads_missed_on_the_phone_dashboard(client, scenario):
    """The team leader's village dashboard (their phone's): the 2025 target, over, not met, reads "không đạt"."""
    response = login(client, scenario.leader).get(
        reverse("dashboards:area", kwargs={"area_id": scenario.tree.village.pk}), HTTP_ACCEPT_LANGUAGE="vi"
    )

    card = next(c for c in response.context["d"].cards if c.reading.indicator.pk == scenario.adults.pk)
    statuses = {info.year: status for info, status in card.targets}
    assert (statuses[2025].code, statuses[2025].label) == ("missed", "không đạt")
    assert statuses[2030].code != "missed"
    assert '<span class="status t-far">không đạt</span>' in response.content.decode()


def _trained(scenario, attendees: list[Resident]) -> None:
    record_training_session(
        actor=User.objects.get(pk=scenario.leader.pk),  # as a new request sees them (no scope cached)
        team=scenario.team,
        village=scenario.tree.village,
        topic="Dùng điện thoại thông minh",
        started_at=at("2026-06-13", 8),
        capability=scenario.adults.capability,
        attendees=attendees,
    )


def test_a_training_session_is_one_help_given_on_the_dashboards(scenario, june):
    """Three attend one session: the trainer, the village, the week and the total count it once."""
    before = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)
    household = HouseholdFactory(village=scenario.tree.village)
    _trained(scenario, [ResidentFactory(household=household, birth_year=1970 + i) for i in range(3)])

    after = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)

    def leader(activity):
        return next(m for m in activity.members if m.user_id == scenario.leader.pk)

    assert leader(after).logs == leader(before).logs + 1
    assert leader(after).logs_in_month == leader(before).logs_in_month + 1
    assert after.total_logs == before.total_logs + 1
    assert sum(after.logs_per_week) == after.total_logs
    village_before, village_after = before.children[0], after.children[0]
    assert village_after.area == scenario.tree.village
    assert village_after.logs == village_before.logs + 1
    # The member's home counts the same help given with the same definition.
    assert my_work(user=scenario.leader).month.logs == leader(after).logs_in_month


def test_a_session_with_people_of_two_villages_is_one_for_its_trainer(scenario, june):
    """Attendees from the team's two villages: still one session for the trainer and the commune."""
    scenario.team.areas.add(scenario.tree.village2)
    here = ResidentFactory(household=HouseholdFactory(village=scenario.tree.village), birth_year=1975)
    there = ResidentFactory(household=HouseholdFactory(village=scenario.tree.village2), birth_year=1976)
    before = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)

    _trained(scenario, [here, there])
    after = team_activity(user=scenario.commune_officer, area=scenario.tree.commune, period=june)

    assert after.total_logs == before.total_logs + 1
    assert sum(c.logs for c in after.children) == sum(c.logs for c in before.children) + 1
    assert after.children[0].logs == before.children[0].logs + 1  # where it was held
    leader = next(m for m in after.members if m.user_id == scenario.leader.pk)
    assert leader.logs == next(m for m in before.members if m.user_id == scenario.leader.pk).logs + 1
    assert dt.date(2026, 6, 8) in after.weeks
