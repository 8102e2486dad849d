"""Dashboard pages: the numbers are the selectors', the scope holds, the province costs constant queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fieldteam.choices import AssistanceChannel, AssistanceOutcome
from fieldteam.dashboards.data import MEMBER_LIMIT, trend_window
from fieldteam.formatting import fmt
from fieldteam.models import User
from fieldteam.periods import Period, month_start
from fieldteam.selectors import frames
from fieldteam.selectors.activity import team_activity
from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values, indicator_series
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.dashboards.conftest import at, login
from tests.factories import (
    CommuneFactory,
    HouseholdFactory,
    MembershipFactory,
    OfficialPopulationFactory,
    ResidentFactory,
    TeamFactory,
    VillageFactory,
)

VIEWS = [("leader", "village"), ("commune_officer", "commune"), ("province_officer", "province")]
PERIODS = ["2026-06", "2026-05", "2026-Q1", "2026-Q2", "2026"]


def url(area) -> str:
    return reverse("dashboards:area", kwargs={"area_id": area.pk})


def reading_key(reading):
    return (
        reading.indicator.pk,
        reading.numerator,
        reading.denominator,
        reading.value,
        reading.is_live,
        reading.target,
        reading.gap,
        reading.expected_now,
        reading.on_track,
        reading.projection,
        reading.projected_date,
    )


def fresh(user: User) -> User:
    """The user as a new request sees it (no scope cached on the object)."""
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("period", PERIODS)
@pytest.mark.parametrize(("who", "where"), VIEWS)
def test_the_numbers_on_the_dashboard_are_the_selectors(client, scenario, who, where, period):
    """Given an area and a period, each number the page shows equals issue 2's selectors for them."""
    user, area, p = getattr(scenario, who), getattr(scenario.tree, where), Period.parse(period)

    response = login(client, user).get(url(area), {"period": period})

    assert response.status_code == 200
    dashboard = response.context["dashboard"]
    expected = area_indicator_values(user=fresh(user), area=area, period=p)
    assert [reading_key(c.reading) for c in dashboard.cards] == [reading_key(r) for r in expected]
    first, last = trend_window(p)
    for card in dashboard.cards:
        series = indicator_series(
            user=fresh(user),
            area=area,
            indicator=card.indicator,
            first_month=month_start(first),
            last_month=month_start(last),
        )
        assert card.series == series
    children = child_indicator_values(user=fresh(user), area=area, period=p)
    shown = sorted(dashboard.children + dashboard.children_empty, key=lambda row: row.rank)
    assert [(row.child.area.pk, row.child.gap_score) for row in shown] == [(c.area.pk, c.gap_score) for c in children]
    for row, child in zip(shown, children, strict=True):
        assert [reading_key(r) for r in row.child.readings] == [reading_key(r) for r in child.readings]
    activity = team_activity(user=fresh(user), area=area, period=p, member_limit=MEMBER_LIMIT if children else None)
    assert dashboard.activity.logs_per_week == activity.logs_per_week
    assert dashboard.activity.total_logs == activity.total_logs
    assert [(m.user_id, m.logs, m.logs_in_month, m.sessions) for m in dashboard.activity.members] == [
        (m.user_id, m.logs, m.logs_in_month, m.sessions) for m in activity.members
    ]
    assert [m.user_id for m in dashboard.activity.inactive] == [m.user_id for m in activity.inactive]
    # And the page prints them, in Vietnamese number format.
    html = response.content.decode()
    for reading in expected:
        if reading.value is not None:
            assert f"{fmt(reading.value)}{reading.indicator.unit}" in html


def test_the_page_shows_values_targets_and_projection(client, scenario):
    response = login(client, scenario.commune_officer).get(url(scenario.tree.commune))

    html = response.content.decode()
    # The commune's adults: 6 of 9 hold a smartphone in June (3 in each village; see the scenario).
    card = next(c for c in response.context["dashboard"].cards if c.indicator == scenario.adults)
    assert (card.reading.numerator, card.reading.denominator) == (6, 9)
    assert "66,7%" in html
    assert "6/9" in html
    assert 'class="chart bar-chart"' in html
    assert 'class="chart trend-chart"' in html
    assert "≥95%" in html  # the 2030 target, inherited from the province
    assert card.reading.projection_label in html


def test_drill_down_links_to_each_child(client, scenario):
    response = login(client, scenario.province_officer).get(url(scenario.tree.province), {"period": "2026-Q1"})

    html = response.content.decode()
    for child in (scenario.tree.commune, scenario.tree.other_commune):
        assert f'href="{url(child)}?period=2026-Q1"' in html
    response = client.get(url(scenario.tree.commune), {"period": "2026-Q1"})
    assert f'href="{url(scenario.tree.village)}?period=2026-Q1"' in response.content.decode()


def test_children_ranked_by_one_indicator(client, scenario):
    response = login(client, scenario.commune_officer).get(url(scenario.tree.commune), {"rank": scenario.adults.code})

    dashboard = response.context["dashboard"]
    expected = child_indicator_values(
        user=fresh(scenario.commune_officer),
        area=scenario.tree.commune,
        period=Period.parse("2026-06"),
        indicator=scenario.adults,
    )
    assert dashboard.rank_card.indicator == scenario.adults
    assert [row.child.area for row in dashboard.children] == [c.area for c in expected]


@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("commune_officer", "other_commune"),
        ("commune_officer", "other_village"),
        ("commune_officer", "province"),
        ("commune_officer", "far_commune"),
        ("other_commune_officer", "commune"),
        ("far_officer", "province"),
        ("member", "province"),
        ("member", "commune"),
        ("member", "village2"),
        ("leader", "other_village"),
    ],
)
def test_out_of_scope_dashboards_are_404(client, scenario, who, where):
    response = login(client, getattr(scenario, who)).get(url(getattr(scenario.tree, where)))
    assert response.status_code == 404


def test_anonymous_is_sent_to_log_in(client, scenario):
    response = client.get(url(scenario.tree.commune))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dashboards:login"))


def test_log_in_page_leads_to_the_dashboards(client, scenario):
    scenario.leader.set_password("pw-for-the-test-123")
    scenario.leader.save()
    response = client.post(
        reverse("dashboards:login"), {"username": scenario.leader.username, "password": "pw-for-the-test-123"}
    )
    assert response.status_code == 302
    # One village in scope: the landing page goes straight to its dashboard.
    assert client.get(response["Location"])["Location"] == url(scenario.tree.village)


def test_a_bad_or_future_period_falls_back_to_this_month(client, scenario):
    login(client, scenario.commune_officer)
    for bad in ("2026-13", "next year", "2027-01", "0000", "1999"):
        response = client.get(url(scenario.tree.commune), {"period": bad})
        assert response.status_code == 200
        assert response.context["dashboard"].period == Period.parse("2026-06")
        assert list(response.context["messages"])


def test_the_period_picker_offers_months_quarters_and_years(client, scenario):
    response = login(client, scenario.commune_officer).get(url(scenario.tree.commune), {"period": "2026-Q1"})
    html = response.content.decode()
    for value in ("2026-06", "2025-07", "2026-Q1", "2025-Q3", "2026", "2024"):
        assert f'value="{value}"' in html
    assert '<option value="2026-Q1" selected>' in html


def test_a_village_dashboard_has_its_work_list(client, scenario):
    response = login(client, scenario.leader).get(url(scenario.tree.village))
    html = response.content.decode()
    assert reverse("dashboards:work_list", kwargs={"area_id": scenario.tree.village.pk, "fmt": "xlsx"}) in html
    assert response.context["dashboard"].work_list


def test_the_admin_index_links_to_the_officer_areas(client, scenario):
    response = login(client, scenario.commune_officer).get(reverse("admin:index"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="dashboards-module"' in html
    assert f'href="{url(scenario.tree.commune)}"' in html
    assert "app-fieldteam" in html  # the stock index is still there


def test_province_dashboard_queries_do_not_grow_with_villages(client, scenario):
    """Given a province, adding villages, teams, people and logs does not add queries to its page."""
    login(client, scenario.province_officer)
    province = scenario.tree.province

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(province)).status_code == 200
        return len(captured)

    before = queries()
    for n in range(6):
        village = VillageFactory(parent=scenario.tree.other_commune if n % 2 else scenario.tree.commune)
        team = TeamFactory(village=village)
        member = MembershipFactory(team=team).user
        household = HouseholdFactory(village=village)
        resident = ResidentFactory(household=household, birth_year=1975)
        log_assistance(
            actor=member,
            team=team,
            occurred_at=at("2026-06-03"),
            channel=AssistanceChannel.HOME_VISIT,
            items=[ItemInput(scenario.adults.capability, AssistanceOutcome.DONE)],
            resident=resident,
        )
    assert queries() == before


# The province dashboard's selector: the scope, the indicators (with the province's own age bounds),
# the live counts, the official figures, the period's stored values, the targets and the history
# (each series' first month, then the rows of those months and of the pace's: two); on PostgreSQL,
# the frame's version and, the frame being kept, the area read afresh (``fieldteam.selectors.frames``).
PROVINCE_SELECTOR_QUERIES = 8


def province_selector_queries() -> int:
    """``PROVINCE_SELECTOR_QUERIES`` on this database, with no frame read yet by this process."""
    frames.clear_caches()
    return PROVINCE_SELECTOR_QUERIES + 2 * (connection.vendor == "postgresql")


def test_a_province_of_six_communes_costs_the_queries_of_two(client, scenario, django_assert_num_queries):
    """The province's page and its selector take the same queries for 2 communes as for 6 (each new one
    with a village, a team, people, a log, an official figure): one query per section, none per commune."""
    login(client, scenario.province_officer)
    province = scenario.tree.province
    period = Period.parse("2026-06")
    officer = fresh(scenario.province_officer)
    OfficialPopulationFactory(area=scenario.tree.village, year=2026, total=40, age_18_plus=30)

    def page_queries() -> int:
        frames.clear_caches()  # the page reads its frames (PostgreSQL keeps them until their rows change)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url(province)).status_code == 200
        return len(captured)

    page_queries()  # the session and the caches warm
    with django_assert_num_queries(province_selector_queries()):
        area_indicator_values(user=officer, area=province, period=period)
    two = page_queries()
    for n in range(4):
        commune = CommuneFactory(parent=province)
        village = VillageFactory(parent=commune)
        team = TeamFactory(village=village)
        member = MembershipFactory(team=team).user
        resident = ResidentFactory(household=HouseholdFactory(village=village), birth_year=1980 + n)
        OfficialPopulationFactory(area=commune, year=2026, total=50 + n, age_18_plus=30)
        log_assistance(
            actor=member,
            team=team,
            occurred_at=at("2026-06-03"),
            channel=AssistanceChannel.HOME_VISIT,
            items=[ItemInput(scenario.adults.capability, AssistanceOutcome.DONE)],
            resident=resident,
        )
    assert province.__class__.objects.filter(path__startswith=province.path, depth=2).count() == 6

    officer = fresh(scenario.province_officer)
    with django_assert_num_queries(province_selector_queries()):
        area_indicator_values(user=officer, area=province, period=period)
    assert page_queries() == two
