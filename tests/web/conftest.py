"""Fixtures of the mobile web tests: a village with people to help, and a browser.

``web_world``: the member's village (``area_tree.village``, served by ``team``) with one household
of three residents who lack a smartphone, a household capability, an indicator with a target, and
a resident of another village (out of the member's scope).

Browser tests (``@pytest.mark.browser``) drive Debian's Chromium through Playwright for Python
against pytest-django's ``live_server`` (a transactional database); they are skipped only where
``/usr/bin/chromium`` is absent.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connections

from fieldteam.choices import Sex
from fieldteam.models import Area, Capability, Household, Indicator, Resident, Team, User
from tests.conftest import AreaTree
from tests.factories import (
    TEST_PASSWORD,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    ResidentFactory,
    TargetFactory,
    make_citizen_id,
)
from tools import chromium

PHONE = {"width": 360, "height": 740}


@dataclass
class WebWorld:
    village: Area
    other_village: Area
    team: Team
    member: User
    smartphone: Capability
    skills: Capability
    fibre: Capability
    indicator: Indicator
    household: Household
    residents: list[Resident]
    outsider: Resident
    outsider_household: Household


@pytest.fixture
def web_world(area_tree: AreaTree, team: Team, member: User) -> WebWorld:
    smartphone = CapabilityFactory(code="smartphone", name="Có điện thoại thông minh", sort_order=1)
    skills = CapabilityFactory(code="basic_digital_skills", name="Được đào tạo kỹ năng số cơ bản", sort_order=7)
    fibre = CapabilityFactory(code="fibre_broadband", name="Có Internet cáp quang", for_household=True, sort_order=20)
    indicator = IndicatorFactory(
        code="adults_smartphone", name="Người lớn có điện thoại thông minh", capability=smartphone
    )
    IndicatorFactory(code="households_fibre", name="Hộ có cáp quang", capability=fibre, households=True, min_age=None)
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030)
    household = HouseholdFactory(village=area_tree.village, code="H-001", head_name="Rơ Mah An")
    residents = [
        ResidentFactory(household=household, full_name="Rơ Mah An", sex=Sex.MALE, birth_year=1980),
        ResidentFactory(household=household, full_name="Nguyễn Thị Hoa", sex=Sex.FEMALE, birth_year=1985),
        ResidentFactory(
            household=household,
            full_name="Trần Văn Bình",
            sex=Sex.MALE,
            birth_year=1990,
            citizen_id=make_citizen_id(birth_year=1990, sex=Sex.MALE, serial=424242),
            phone="0912345678",
        ),
    ]
    outsider_household = HouseholdFactory(village=area_tree.other_village, code="X-001", head_name="Ksor Y")
    outsider = ResidentFactory(household=outsider_household, full_name="Ksor Y Blih", sex=Sex.MALE, birth_year=1975)
    return WebWorld(
        village=area_tree.village,
        other_village=area_tree.other_village,
        team=team,
        member=member,
        smartphone=smartphone,
        skills=skills,
        fibre=fibre,
        indicator=indicator,
        household=household,
        residents=residents,
        outsider=outsider,
        outsider_household=outsider_household,
    )


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture
def playwright_instance(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Playwright (sync API), started for one test and stopped after it.

    Playwright's sync API runs an event loop in this thread while it is started, so Django's ORM
    would refuse to run here ("async context"); the test's own database reads are safe (one
    thread), hence ``DJANGO_ALLOW_ASYNC_UNSAFE`` for the length of the test only. With a loop
    running, Django keeps the test's database connection in a context variable rather than the
    thread's: it is closed here, inside that context, or it would outlive the test database.
    """
    if not chromium.EXECUTABLE.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        try:
            yield playwright
        finally:
            connections.close_all()


@pytest.fixture
def browser(playwright_instance):
    browser = playwright_instance.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.ARGS)
    yield browser
    browser.close()


def launch_persistent(playwright_instance, user_data_dir: Path):
    """A browser with a profile on disk: closing it and launching again is a phone's browser restarted."""
    return playwright_instance.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(chromium.EXECUTABLE), args=chromium.ARGS, viewport=PHONE
    )


@pytest.fixture
def phone(browser):
    """A browser context the size of a cheap phone's screen (no locale set: Vietnamese is the default)."""
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(int(os.environ.get("BROWSER_TIMEOUT_MS", "45000")))
    yield context
    context.close()


def sign_in(page, base_url: str, username: str, password: str = TEST_PASSWORD) -> None:
    """Sign in through the login page and wait until the service worker controls the home page."""
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    wait_for_service_worker(page)


# The worker claims the page once installed, i.e. once the shell, pages and roster are cached.
# Not ``wait_for_function``: Playwright evaluates its predicate with ``eval``, which the pages'
# Content-Security-Policy refuses; ``evaluate`` awaiting a promise is not affected.
WAIT_FOR_SERVICE_WORKER = """async () => {
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, {once: true}));
  }
}"""


def wait_for_service_worker(page) -> None:
    page.evaluate(WAIT_FOR_SERVICE_WORKER)
