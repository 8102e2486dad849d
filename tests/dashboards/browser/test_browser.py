"""The dashboards in Chromium at a cheap phone's width: readable without sideways scrolling, drill-down works."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from fieldteam.choices import AdoptionSource, AreaRoleKind, MembershipRole
from fieldteam.periods import today
from fieldteam.services.adoption import set_adoption
from tests.dashboards.browser.conftest import PHONE
from tests.factories import (
    TEST_PASSWORD,
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    ResidentFactory,
    TargetFactory,
    TeamFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def people(area_tree):
    indicator = IndicatorFactory(name="Tỷ lệ dân số trưởng thành có điện thoại thông minh")
    TargetFactory(indicator=indicator, area=area_tree.province, year=2025, value=Decimal(80))
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    for village, adopted in ((area_tree.village, 2), (area_tree.village2, 1)):
        household = HouseholdFactory(village=village)
        for i in range(3):
            resident = ResidentFactory(household=household, birth_year=1980 + i)
            if i < adopted:
                set_adoption(
                    actor=None,
                    capability=indicator.capability,
                    since=today() - dt.timedelta(days=40),
                    source=AdoptionSource.SURVEY,
                    resident=resident,
                )
    team = TeamFactory(village=area_tree.village, name="Tổ công nghệ số cộng đồng Thôn 1")
    leader = MembershipFactory(team=team, role=MembershipRole.LEADER).user
    officer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    return leader, officer


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}{reverse('dashboards:login')}")
    page.fill("#id_username", username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")


def test_a_leader_reads_the_village_dashboard_on_a_phone(live_server, area_tree, people, browser):
    leader, _officer = people
    page = browser.new_context(viewport=PHONE).new_page()

    sign_in(page, live_server.url, leader.username)

    assert page.url.endswith(reverse("dashboards:area", kwargs={"area_id": area_tree.village.pk}))
    assert page.locator("h1").inner_text() == area_tree.village.name
    assert page.locator("svg.bar-chart").first.is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    box = page.locator("svg.bar-chart").first.bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]


def test_an_officer_drills_down_and_changes_the_period(live_server, area_tree, people, browser):
    _leader, officer = people
    page = browser.new_context(viewport=PHONE).new_page()
    sign_in(page, live_server.url, officer.username)

    assert page.url.endswith(reverse("dashboards:area", kwargs={"area_id": area_tree.commune.pk}))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    ranking = page.locator("table.rank")
    assert not ranking.is_visible()  # on a phone the child areas fold under their heading
    page.locator("#children summary").click()
    ranking.get_by_role("link", name=area_tree.village.name).click()
    page.wait_for_load_state("load")
    assert f"/areas/{area_tree.village.pk}/" in page.url

    year = str(today().year)
    page.select_option("#period", year)  # submits on change
    page.wait_for_url(f"**period={year}")
    assert page.locator("h1").inner_text() == area_tree.village.name
