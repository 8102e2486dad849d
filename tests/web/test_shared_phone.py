"""A phone shared by team members keeps no one's citizen ID or phone number (issue 13, item 13).

A member's refused registration (a CCCD already registered) and an offline one (a phone number)
wait in the IndexedDB outbox. Logging out first says what will be lost, listing the records not
sent; once confirmed, every CCCD and phone number is gone from IndexedDB before the session ends,
and the next member to sign in finds none. A session that ends without the button (cookies
cleared, expired) is covered too: the next user's first page removes them.
"""

from __future__ import annotations

import json

import pytest
from django.utils import translation

from fieldteam.choices import MembershipRole, Sex
from tests.factories import MembershipFactory, ResidentFactory, make_citizen_id
from tests.web.conftest import WebWorld, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TAKEN_CCCD = make_citizen_id(birth_year=1970, sex=Sex.FEMALE, serial=777)
OFFLINE_PHONE = "0987001133"

READ_INDEXEDDB = """async () => {
  const db = await new Promise((resolve, reject) => {
    const request = indexedDB.open("fieldteam");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const stores = Array.from(db.objectStoreNames);
  const out = {};
  for (const name of stores) {
    out[name] = await new Promise((resolve) => {
      db.transaction([name], "readonly").objectStore(name).getAll().onsuccess = (e) => resolve(e.target.result);
    });
  }
  db.close();
  return JSON.stringify(out);
}"""


def vi(message: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message)


def indexeddb(page) -> dict:
    return json.loads(page.evaluate(READ_INDEXEDDB))


def identifiers_in(page) -> list[str]:
    text = json.dumps(indexeddb(page))
    return [n for n in (TAKEN_CCCD, OFFLINE_PHONE, OFFLINE_PHONE[1:]) if n in text]


def queue_a_refusal_and_an_offline_registration(page, context, base_url: str, world: WebWorld) -> None:
    ResidentFactory(
        household=world.household, full_name="Nay H'Bia", sex=Sex.FEMALE, birth_year=1970, citizen_id=TAKEN_CCCD
    )
    page.goto(f"{base_url}/register/?household={world.household.pk}")
    page.fill("[name=full_name]", "Ksor Ni")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1970")
    page.fill("[name=citizen_id]", TAKEN_CCCD)  # well formed, already registered: refused
    page.check("[name=consent]")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("body[data-rejected='1']")

    context.set_offline(True)
    page.goto(f"{base_url}/register/?household={world.household.pk}")  # from the service worker's cache
    page.fill("[name=full_name]", "Rơ Châm Hiên")
    page.check("#people input[type=radio][value=female]")
    page.fill("[name=birth_year]", "1996")
    page.fill("[name=phone]", OFFLINE_PHONE)
    page.check("[name=consent]")
    page.click("#register-form button[type=submit]")
    page.wait_for_selector("#register-done:not([hidden])")
    assert {TAKEN_CCCD, OFFLINE_PHONE} <= set(identifiers_in(page))  # held while signed in
    context.set_offline(False)


def test_logging_out_says_what_is_lost_and_leaves_no_identifier_for_the_next_member(
    live_server, phone, web_world: WebWorld
) -> None:
    other = MembershipFactory(team=web_world.team, role=MembershipRole.MEMBER).user
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    phone.set_offline(False)
    queue_a_refusal_and_an_offline_registration(page, phone, live_server.url, web_world)
    phone.set_offline(True)  # the offline record stays unsent while the member logs out

    page.goto(f"{live_server.url}/")
    # Cancelled: nothing is removed, the member stays signed in.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#logout-form button")
    page.wait_for_timeout(300)
    assert page.url.rstrip("/") == live_server.url.rstrip("/")
    assert identifiers_in(page)

    phone.set_offline(False)
    messages: list[str] = []

    def confirm(dialog) -> None:
        messages.append(dialog.message)
        dialog.accept()

    page.once("dialog", confirm)
    page.click("#logout-form button")
    page.wait_for_url(f"{live_server.url}/login/")
    prompt = vi(
        "These records have not been sent yet. Logging out removes the citizen IDs and phone numbers typed "
        "into them from this phone; the rest stays here and is sent when you sign in again. Log out?"
    )
    assert messages and messages[0].startswith(prompt), messages
    assert "Ksor Ni" in messages[0] and vi("Rejected") in messages[0]  # the refused record, named
    assert identifiers_in(page) == []  # gone before the session ended
    kept = indexeddb(page)["outbox"]
    assert {item["label"]["title"] for item in kept} >= {"Ksor Ni"}  # the records themselves stay

    sign_in(page, live_server.url, other.username)
    assert identifiers_in(page) == []


def test_the_next_user_removes_identifiers_left_by_a_session_that_ended_without_logging_out(
    live_server, phone, web_world: WebWorld
) -> None:
    other = MembershipFactory(team=web_world.team, role=MembershipRole.MEMBER).user
    page = phone.new_page()
    sign_in(page, live_server.url, web_world.member.username)
    queue_a_refusal_and_an_offline_registration(page, phone, live_server.url, web_world)
    phone.set_offline(True)
    phone.clear_cookies()  # the session ends without the button (expired, cleared)
    phone.set_offline(False)
    sign_in(page, live_server.url, other.username)
    page.evaluate("fieldteam.refreshStatus()")
    # The first page of the other user removes them (its start-up runs before the page settles).
    for _attempt in range(20):
        if not identifiers_in(page):
            break
        page.wait_for_timeout(250)
    assert identifiers_in(page) == []
