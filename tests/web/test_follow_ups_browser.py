"""Follow-up visits in a real browser (issue 17): the first load stays within its budget with them cached,
and one logged on the phone, not yet sent, is marked on the work list."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.factories import TEST_PASSWORD, HouseholdFactory, ResidentFactory
from tests.web.conftest import WebWorld, wait_for_service_worker
from tests.web.test_browser import FIRST_LOAD_BUDGET

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FOLLOW_UPS = 40


def with_follow_ups(world: WebWorld) -> None:
    household = HouseholdFactory(village=world.village)
    for n in range(FOLLOW_UPS):
        resident = world.residents[0] if n == 0 else ResidentFactory(household=household, birth_year=1970 + n % 30)
        log_assistance(
            actor=world.member,
            team=world.team,
            occurred_at=timezone.now() - dt.timedelta(days=1 + n % 5, hours=1),
            channel=AssistanceChannel.HOME_VISIT,
            items=[ItemInput(world.smartphone, AssistanceOutcome.NOT_DONE, NotDoneReason.ABSENT)],
            resident=resident,
        )


def test_first_load_within_budget_with_follow_ups_and_a_pending_log_marked(
    live_server, phone, web_world: WebWorld
) -> None:
    with_follow_ups(web_world)
    page = phone.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", web_world.member.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    transferred: list[int] = []

    def count(response) -> None:
        if not response.from_service_worker:
            sizes = response.request.sizes()
            transferred.append(max(sizes["responseBodySize"], 0) + max(sizes["responseHeadersSize"], 0))

    phone.on("response", count)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    wait_for_service_worker(page)
    page.wait_for_load_state("networkidle")
    first_load = sum(transferred)
    print(f"\nfirst load with {FOLLOW_UPS} follow-ups: {first_load / 1024:.1f} KB")  # noqa: T201
    assert first_load < FIRST_LOAD_BUDGET
    assert page.locator("[data-follow-ups] li[data-id]").count() == FOLLOW_UPS

    # Offline: a log of the first one waits in the outbox; back on the work list it is marked.
    resident = web_world.residents[0]
    phone.set_offline(True)
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    page.click('#log-form .cap[data-code="smartphone"] button[data-o="done"]')
    page.click("#log-form button[type=submit]")
    page.wait_for_selector("#toast:not([hidden])")
    page.goto(f"{live_server.url}/")
    page.wait_for_selector(f'[data-follow-ups] li[data-id="{resident.pk}"].pending')
    assert page.locator("[data-follow-ups] li.pending").count() == 1
    phone.set_offline(False)
