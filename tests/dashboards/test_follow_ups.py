"""The commune dashboard's follow-up visits per village (issue 17): the selector's numbers, constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason
from fieldteam.models import Area
from fieldteam.selectors.follow_ups import commune_follow_ups
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.dashboards.conftest import Scenario, at, login
from tests.factories import HouseholdFactory, MembershipFactory, ResidentFactory, TeamFactory, VillageFactory

pytestmark = pytest.mark.django_db


def url(area: Area) -> str:
    return reverse("dashboards:area", kwargs={"area_id": area.pk})


def not_done(scenario: Scenario, village: Area, day: str, reason: str = NotDoneReason.ABSENT) -> None:
    team = TeamFactory(village=village)
    member = MembershipFactory(team=team).user
    resident = ResidentFactory(household=HouseholdFactory(village=village), birth_year=1975)
    log_assistance(
        actor=member,
        team=team,
        occurred_at=at(day),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(scenario.adults.capability, AssistanceOutcome.NOT_DONE, reason)],
        resident=resident,
    )


def test_the_commune_dashboard_shows_each_villages_follow_ups(client, scenario):
    not_done(scenario, scenario.tree.village, "2026-06-01")  # absent: due 4 June, overdue on the 15th
    not_done(scenario, scenario.tree.village2, "2026-06-14")  # due 17 June: due within the week
    rows = {r.village.pk: r.counts for r in commune_follow_ups(user=scenario.commune_officer, area=scenario.tree.commune)}
    assert (rows[scenario.tree.village.pk].overdue, rows[scenario.tree.village.pk].due) == (1, 0)
    assert (rows[scenario.tree.village2.pk].overdue, rows[scenario.tree.village2.pk].due) == (0, 1)
    html = login(client, scenario.commune_officer).get(url(scenario.tree.commune)).content.decode()
    assert 'id="follow-ups"' in html
    assert f'data-village="{scenario.tree.village.pk}"' in html
    # A province's dashboard has no such table (its villages are a commune's business).
    assert commune_follow_ups(user=scenario.province_officer, area=scenario.tree.province) is None


def test_commune_dashboard_queries_do_not_grow_with_villages_and_follow_ups(client, scenario):
    login(client, scenario.commune_officer)
    commune = scenario.tree.commune

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(commune)).status_code == 200
        return len(captured)

    before = queries()
    for n in range(4):
        village = VillageFactory(parent=commune)
        not_done(scenario, village, f"2026-06-0{n + 2}", NotDoneReason.MISSING_DOCUMENTS)
    assert queries() == before
