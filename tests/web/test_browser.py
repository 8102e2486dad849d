"""The mobile web in a real browser (Debian's Chromium through Playwright), against a live server.

Every write goes through the outbox and ``POST /api/v1/sync/``, with and without a connection;
these tests check what the member sees and what the server ends up holding.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.utils import translation

from fieldteam.choices import Sex
from fieldteam.models import AssistanceItem, AssistanceLog, Household, Resident, SyncReceipt, VillageCount
from tests.factories import TEST_PASSWORD, ResidentFactory, make_citizen_id
from tests.web.conftest import WebWorld, launch_persistent, sign_in, wait_for_service_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST_LOAD_BUDGET = 150 * 1024


def vi(message: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message)


def smartphone_count(page, world: WebWorld) -> int:
    selector = f'[data-village="{world.village.pk}"] [data-indicator="adults_smartphone"] .num'
    return int(page.text_content(selector) or "")  # inside a closed <details>: text, not rendered


def log_done(page, capability: str = "smartphone") -> None:
    """The taps of a log from a resident's page: the capability's "done", then "save" (two taps)."""
    page.click(f'#log-form .cap[data-code="{capability}"] button[data-o="done"]')
    page.click("#log-form button[type=submit]")
    page.wait_for_selector("#toast:not([hidden])")


def outbox_client_ids(page) -> list[str]:
    return page.evaluate("fieldteam.outbox.all().then(items => items.map(i => i.client_id))")


def test_log_an_assistance_online_and_see_the_villages_count_change(live_server, phone, web_world: WebWorld) -> None:
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    before = smartphone_count(page, web_world)
    logs_before = int(page.inner_text('[data-stat="month-logs"]'))
    # From the work list on the home page to the resident's page.
    resident = web_world.residents[1]
    page.click(f'.work[data-capability="smartphone"] a[href="/residents/{resident.pk}/"]')
    page.wait_for_url(f"{live_server.url}/residents/{resident.pk}/")
    # At most three taps: here "done" and "save".
    log_done(page)
    assert page.inner_text("#toast") == vi("Saved and sent.")
    assert page.is_hidden("#outbox-chip")
    page.goto(f"{live_server.url}/")
    assert smartphone_count(page, web_world) == before + 1
    assert int(page.inner_text('[data-stat="month-logs"]')) == logs_before + 1
    log = AssistanceLog.objects.get(resident=resident)
    assert log.member == web_world.member and log.team == web_world.team
    assert VillageCount.objects.get(village=web_world.village, indicator=web_world.indicator).numerator == before + 1


def test_not_done_needs_a_reason_and_takes_three_taps(live_server, phone, web_world: WebWorld) -> None:
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    resident = web_world.residents[0]
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    page.click('#log-form .cap[data-code="smartphone"] button[data-o="not_done"]')  # tap 1
    page.click('#reasons button[data-reason="no_device"]')  # tap 2
    page.click("#log-form button[type=submit]")  # tap 3
    page.wait_for_selector("#toast:not([hidden])")
    item = AssistanceItem.objects.get(log__resident=resident)
    assert (item.outcome, item.reason) == ("not_done", "no_device")


def test_offline_work_waits_survives_a_reload_and_is_sent_once_back_online(
    live_server, phone, web_world: WebWorld
) -> None:
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    first, second, third = web_world.residents
    page.goto(f"{live_server.url}/residents/{first.pk}/")  # opened once online: kept by the worker

    phone.set_offline(True)
    log_done(page)
    assert page.inner_text("#toast") == vi("Saved on this phone. It will be sent when the connection returns.")
    # Pages never opened online are drawn from the roster kept on the phone.
    for resident in (second, third):
        page.goto(f"{live_server.url}/residents/{resident.pk}/")
        page.locator("[data-f=name]").filter(has_text=resident.full_name).wait_for()
        log_done(page)
    page.goto(f"{live_server.url}/register/")
    page.fill("[name=head_name]", "Siu H'Linh")
    page.fill("[name=full_name]", "Siu H'Linh")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1992")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")

    page.reload()
    # Three logs and one household with its person (one item: registered together or not at all).
    waiting = vi("%(n)s waiting to send") % {"n": 4}
    page.locator("#outbox-chip").filter(has_text=waiting).wait_for()  # counted from IndexedDB after the load
    assert page.inner_text("#outbox-chip") == waiting
    page.goto(f"{live_server.url}/outbox/")
    items = page.locator("#outbox-list .item")
    items.nth(3).wait_for()  # the list is drawn from IndexedDB after the page loads
    assert items.count() == 4
    for index in range(4):
        assert items.nth(index).inner_text().startswith(vi("Waiting to send"))
    client_ids = outbox_client_ids(page)
    assert not AssistanceLog.objects.filter(pk__in=client_ids).exists()  # nothing reached the server

    phone.set_offline(False)  # the "online" event sends the outbox
    page.wait_for_selector("#outbox-chip", state="hidden")
    assert outbox_client_ids(page) == []
    logs = AssistanceLog.objects.filter(pk__in=client_ids)
    assert sorted(log.resident_id for log in logs) == sorted(r.pk for r in web_world.residents)
    assert SyncReceipt.objects.filter(pk__in=client_ids).count() == 4
    household = Household.objects.get(head_name="Siu H'Linh")
    assert household.village == web_world.village
    assert Resident.objects.filter(full_name="Siu H'Linh", household=household).count() == 1

    # Sending again (a phone that lost the answers) changes nothing.
    page.reload()
    page.evaluate("fieldteam.sync()")
    assert AssistanceLog.objects.filter(member=web_world.member).count() == 3
    assert Household.objects.filter(head_name="Siu H'Linh").count() == 1


def test_the_outbox_survives_closing_the_browser(live_server, playwright_instance, tmp_path: Path, web_world) -> None:
    profile = tmp_path / "profile"
    context = launch_persistent(playwright_instance, profile)
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    resident = web_world.residents[0]
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    context.set_offline(True)
    log_done(page)
    client_ids = outbox_client_ids(page)
    assert len(client_ids) == 1
    context.close()  # the browser is closed with the log unsent
    assert not AssistanceLog.objects.filter(pk__in=client_ids).exists()

    context = launch_persistent(playwright_instance, profile)  # opened again, with a connection
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(f"{live_server.url}/")
    wait_for_service_worker(page)
    page.wait_for_selector("body[data-waiting='0'][data-rejected='0']")
    assert outbox_client_ids(page) == []
    context.close()
    assert AssistanceLog.objects.filter(pk__in=client_ids, resident=resident).count() == 1


def test_a_rejected_item_shows_its_reason_in_vietnamese_and_can_be_corrected_or_discarded(
    live_server, phone, web_world: WebWorld
) -> None:
    taken = make_citizen_id(birth_year=1970, sex=Sex.FEMALE, serial=777)
    ResidentFactory(
        household=web_world.household, full_name="Nay H'Bia", sex=Sex.FEMALE, birth_year=1970, citizen_id=taken
    )
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    page.goto(f"{live_server.url}/register/")
    page.fill("[name=head_name]", "Hộ Ksor Ni")
    people = page.locator("#people .person-form")
    page.fill("#people .person-form >> nth=0 >> [name=full_name]", "Ksor Ni")
    people.nth(0).locator("input[value=female]").check()
    people.nth(0).locator("[name=birth_year]").fill("1970")
    people.nth(0).locator("[name=citizen_id]").fill(taken)  # well formed, but already registered
    people.nth(0).locator("[name=consent]").check()  # the notice was read out and agreed to
    page.click("#add-person")
    people.nth(1).locator("[name=full_name]").fill("Ksor Y Ngông")
    people.nth(1).locator("input[value=male]").check()
    people.nth(1).locator("[name=birth_year]").fill("2001")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")

    # Nothing was saved, and the page says so: which person was refused, and why.
    reason = vi("A resident with this citizen ID is already registered.")
    assert reason != "A resident with this citizen ID is already registered."  # really Vietnamese
    done = page.inner_text("#register-done")
    assert vi("Nothing was saved: the household and its people were not registered.") in done
    assert reason in done and "Ksor Ni" in done
    assert vi("Household saved with %(n)s people.") % {"n": 2} not in done
    assert not Household.objects.filter(head_name="Hộ Ksor Ni").exists()
    assert not Resident.objects.filter(full_name__in=["Ksor Ni", "Ksor Y Ngông"]).exists()
    rejected = vi("%(n)s rejected") % {"n": 1}
    page.locator("#outbox-chip").filter(has_text=rejected).wait_for()  # redrawn once the answer is stored
    assert page.inner_text("#outbox-chip") == rejected
    page.goto(f"{live_server.url}/outbox/")
    item = page.locator("#outbox-list .item.rejected")
    item.first.wait_for()  # drawn from IndexedDB after the page loads
    assert item.count() == 1
    assert reason in item.inner_text()
    assert vi("Rejected") in item.inner_text()

    # Corrected (the CCCD removed) it is sent again, under the same client id, and received.
    item.get_by_role("button", name=vi("Correct")).click()
    citizen_id = item.locator("form.editor [name='residents.0.citizen_id']")
    assert "invalid" in (citizen_id.get_attribute("class") or "")
    citizen_id.fill("")
    item.get_by_role("button", name=vi("Save and send again")).click()
    page.wait_for_selector("#outbox-list .item", state="detached")
    assert Resident.objects.filter(full_name="Ksor Ni").count() == 1
    assert Resident.objects.filter(full_name="Ksor Y Ngông", household__head_name="Hộ Ksor Ni").count() == 1
    assert page.is_hidden("#outbox-chip")

    # A rejected item can also be discarded; it never reaches the server.
    household = Household.objects.get(head_name="Hộ Ksor Ni")
    page.goto(f"{live_server.url}/register/?household={household.pk}")
    page.fill("[name=full_name]", "Ksor H'Nhi")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1970")
    page.fill("[name=citizen_id]", taken)
    page.check("[name=consent]")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")
    assert reason in page.inner_text("#register-done")
    page.goto(f"{live_server.url}/outbox/")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=vi("Discard")).click()
    page.wait_for_selector("#outbox-list .item", state="detached")
    assert outbox_client_ids(page) == []
    assert not Resident.objects.filter(full_name="Ksor H'Nhi").exists()


def test_a_rejected_item_does_not_hold_back_the_rest_of_the_queue(live_server, phone, web_world: WebWorld) -> None:
    taken = make_citizen_id(birth_year=1970, sex=Sex.FEMALE, serial=778)
    ResidentFactory(
        household=web_world.household, full_name="Nay H'Bia", sex=Sex.FEMALE, birth_year=1970, citizen_id=taken
    )
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    page.goto(f"{live_server.url}/register/?household={web_world.household.pk}")
    phone.set_offline(True)
    page.fill("[name=full_name]", "Rơ Châm Thư")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1970")
    page.fill("[name=citizen_id]", taken)
    page.check("[name=consent]")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")
    resident = web_world.residents[0]
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    log_done(page)
    phone.set_offline(False)
    page.wait_for_selector("body[data-waiting='0'][data-rejected='1']")
    assert AssistanceLog.objects.filter(resident=resident).count() == 1  # sent after the rejected one


def test_search_works_offline_from_the_roster(live_server, phone, web_world: WebWorld) -> None:
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    phone.set_offline(True)
    page.goto(f"{live_server.url}/search/")
    page.fill("#search-form [name=q]", "tran van")  # no diacritics typed
    page.wait_for_selector("#results a")
    assert page.inner_text("#results").startswith("Trần Văn Bình")
    assert "Ksor" not in page.inner_text("#results")


def test_record_a_training_session_and_tick_attendees(live_server, phone, web_world: WebWorld) -> None:
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    page.goto(f"{live_server.url}/training/")
    page.wait_for_selector("#attendees input[type=checkbox]")
    for resident in web_world.residents[:2]:
        page.check(f'#attendees input[value="{resident.pk}"]')
    assert page.inner_text("#att-count") == vi("%(n)s selected") % {"n": 2}
    page.click("#training-form button[type=submit]")
    page.wait_for_selector("#toast:not([hidden])")
    assert page.inner_text("#toast") == vi("Saved and sent.")
    from fieldteam.models import TrainingSession

    session = TrainingSession.objects.get(team=web_world.team)
    assert {a.resident_id for a in session.attendances.all()} == {r.pk for r in web_world.residents[:2]}
    assert session.capability == web_world.skills


def test_first_load_of_the_home_page_is_light_and_later_loads_come_from_the_cache(
    live_server, phone, web_world: WebWorld
) -> None:
    page = phone.new_page()
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", web_world.member.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    transferred: list[tuple[str, int]] = []

    def count(response) -> None:
        if response.from_service_worker:
            return  # answered by the worker: counted when (and if) the worker itself fetched it
        sizes = response.request.sizes()
        transferred.append((response.url, max(sizes["responseBodySize"], 0) + max(sizes["responseHeadersSize"], 0)))

    phone.on("response", count)
    page.click("button[type=submit]")  # the sign-in answers with a redirect to the home page
    page.wait_for_url(f"{live_server.url}/")
    wait_for_service_worker(page)  # installed: shell, pages and roster cached
    page.wait_for_load_state("networkidle")
    first_load = sum(size for _url, size in transferred)
    print(f"\nfirst load of the home page: {first_load / 1024:.1f} KB in {len(transferred)} responses")  # noqa: T201
    assert first_load < FIRST_LOAD_BUDGET, transferred

    transferred.clear()
    served_by_worker: list[str] = []
    page.on("response", lambda r: served_by_worker.append(r.url) if r.from_service_worker else None)
    page.reload()
    page.wait_for_load_state("networkidle")
    assert any(re.search(r"/static/web/app\.js", url) for url in served_by_worker)
    assert any(re.search(r"/static/web/app\.css", url) for url in served_by_worker)
    later = sum(size for url, size in transferred if "/static/" in url)
    assert later == 0, transferred  # the shell is not fetched again
    print(f"later load: {sum(s for _u, s in transferred) / 1024:.1f} KB over the network", transferred)  # noqa: T201


def test_a_queued_item_reuses_its_client_id_when_resent(live_server, phone, web_world: WebWorld) -> None:
    """An answer lost on the way back: the phone sends again and the server says "already received"."""
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    resident = web_world.residents[0]
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    # Drop the first answer of the sync endpoint after the server has applied the batch.
    dropped = {"n": 0}

    def lose_answer(route) -> None:
        if dropped["n"] == 0:
            dropped["n"] += 1
            route.fetch()  # reaches the server
            route.abort("connectionreset")  # but the phone never hears back
        else:
            route.continue_()

    page.route("**/api/v1/sync/", lose_answer)
    log_done(page)
    assert page.inner_text("#toast") == vi("Saved on this phone. It will be sent when the connection returns.")
    client_id = outbox_client_ids(page)[0]
    assert AssistanceLog.objects.filter(pk=client_id).count() == 1
    page.evaluate("fieldteam.sync()")  # resolves once the attempt is over
    assert outbox_client_ids(page) == []
    assert AssistanceLog.objects.filter(pk=uuid.UUID(client_id)).count() == 1
    assert AssistanceLog.objects.filter(resident=resident).count() == 1


def test_the_app_is_installable(live_server, playwright_instance, tmp_path: Path, web_world: WebWorld) -> None:
    # A profile on disk: Chrome never offers to install from an incognito context.
    context = launch_persistent(playwright_instance, tmp_path / "profile")
    page = context.pages[0] if context.pages else context.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    cdp = context.new_cdp_session(page)
    manifest = cdp.send("Page.getAppManifest")
    assert not manifest.get("errors"), manifest.get("errors")
    errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    context.close()
    assert errors == [], errors


def test_identifiers_need_the_consent_box_after_the_notice_in_vietnamese(
    live_server, phone, web_world: WebWorld
) -> None:
    from fieldteam.services.consent import CURRENT_NOTICE_VERSION, NOTICES

    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    page.goto(f"{live_server.url}/register/?household={web_world.household.pk}")
    with translation.override("en"):
        english = str(NOTICES[CURRENT_NOTICE_VERSION])
    notice = vi(english)
    assert notice != english  # really Vietnamese
    page.click("#consent-notice summary")
    assert notice in page.inner_text("#consent-notice")

    page.fill("[name=full_name]", "Rơ Châm Hiên")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1996")
    page.fill("[name=phone]", "0987001122")
    page.click("#register-form button[type=submit]")
    # Not queued: the box is not ticked, and the member is told why, in Vietnamese.
    assert vi("Read the notice and tick the consent before writing down a CCCD or phone number.") in page.inner_text(
        "#people"
    )
    assert page.is_hidden("#register-done")

    page.check("[name=consent]")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")
    page.wait_for_selector("body[data-waiting='0'][data-rejected='0']")
    resident = Resident.objects.get(full_name="Rơ Châm Hiên")
    consent = resident.consents.get()
    assert (consent.channel, consent.notice_version, consent.recorded_by) == (
        "in_person",
        CURRENT_NOTICE_VERSION,
        web_world.member,
    )
    assert resident.phone_masked.endswith("122")


def test_signing_in_survives_a_new_csrf_cookie_given_while_the_page_was_open(
    live_server, phone, web_world: WebWorld
) -> None:
    """After cookies are cleared (a session lost), a request made without a cookie while the sign-in page
    is open (the service worker's, another tab's) is given a new CSRF cookie: the form must send that
    cookie's token, not the one written in the page, or signing in is refused with a 403."""
    page = phone.new_page()
    page.goto(f"{live_server.url}/login/")
    phone.clear_cookies()
    page.evaluate("fetch('/login/', {credentials: 'same-origin'})")  # answered with a new csrftoken cookie
    page.wait_for_function("document.cookie.includes('csrftoken=')")
    page.fill("input[name=username]", web_world.member.username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
