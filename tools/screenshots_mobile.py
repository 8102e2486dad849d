"""Screenshots of the mobile web's main screens at phone size, for ``docs/mobile.md``.

Run by hand against a server holding the demo (``make run``; it writes to the database, so use a
scratch one)::

    .venv/bin/python -m tools.screenshots_mobile --base-url http://127.0.0.1:8000

Needs Playwright for Python (a development dependency) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from tools import chromium

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

SIZE: ViewportSize = {"width": 360, "height": 740}
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
# A CCCD that fits a woman born in 1970; registered once online, then again to be rejected.
DUPLICATE_CITIZEN_ID = "052170012345"


def take(base_url: str, username: str, password: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium.EXECUTABLE, args=[*chromium.ARGS, "--lang=vi-VN"])
        context = browser.new_context(
            viewport=SIZE, is_mobile=True, has_touch=True, locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh"
        )
        page = context.new_page()

        def shot(name: str) -> None:
            page.wait_for_timeout(300)
            path = out / f"mobile-{name}.png"
            page.screenshot(path=str(path))
            shots.append(path)

        page.goto(f"{base_url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        shot("login")
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        # Not wait_for_function: Playwright evals its predicate, which the Content-Security-Policy refuses.
        page.evaluate(
            "navigator.serviceWorker.ready.then(() => navigator.serviceWorker.controller || new Promise("
            "(resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, {once: true})))"
        )
        shot("home")
        page.click(".progress-box summary")
        page.evaluate("document.querySelector('.progress-box').scrollIntoView()")
        shot("progress")

        page.locator(".work").first.scroll_into_view_if_needed()
        page.evaluate("document.querySelector('.work').closest('.card').scrollIntoView()")
        shot("work-list")

        # Log help from a resident's page: "done" for one thing, "not done" with a reason for another.
        page.locator(".work a[href^='/residents/']").first.click()
        page.wait_for_selector("#log-form")
        caps = page.locator("#log-form .cap:not(.held)")
        caps.nth(0).locator("button[data-o=done]").click()
        caps.nth(1).locator("button[data-o=not_done]").click()
        page.click("#reasons button[data-reason=no_device]")
        page.evaluate("document.querySelector('#log-form .cap:not(.held)').scrollIntoView({block: 'center'})")
        shot("log")
        page.click("#log-form button[type=submit]")
        page.wait_for_selector("#toast:not([hidden])")
        page.evaluate("window.scrollTo(0, 0)")
        shot("resident")

        page.goto(f"{base_url}/search/")
        page.fill("#search-form [name=q]", "nguyen")
        page.wait_for_selector("#results a")
        shot("search")

        # A person registered once with a CCCD; registering it again is rejected with the reason.
        page.goto(f"{base_url}/register/")
        page.fill("[name=head_name]", "Nay H'Bia")
        page.fill("[name=address]", "Đường Hùng Vương")
        people = page.locator("#people .person-form")
        people.nth(0).locator("[name=full_name]").fill("Nay H'Bia")
        people.nth(0).locator("input[value=female]").check()
        people.nth(0).locator("[name=birth_year]").fill("1970")
        people.nth(0).locator("[name=citizen_id]").fill(DUPLICATE_CITIZEN_ID)
        page.click("#add-person")
        people.nth(1).locator("[name=full_name]").fill("Rơ Châm Thư")
        people.nth(1).locator("input[value=male]").check()
        people.nth(1).locator("[name=birth_year]").fill("1996")
        people.nth(1).locator("[name=phone]").fill("0905 123 456")
        page.evaluate("document.querySelector('#people').scrollIntoView()")
        shot("register")
        page.click("#register-form button[type=submit]")
        page.wait_for_selector("#register-done:not([hidden])")
        page.goto(f"{base_url}/register/")
        page.fill("[name=full_name]", "Nay H'Bia")
        page.check("#people input[value=female]")
        page.fill("[name=birth_year]", "1970")
        page.fill("[name=citizen_id]", DUPLICATE_CITIZEN_ID)
        page.click("#register-form button[type=submit]")
        page.wait_for_selector("#register-done:not([hidden])")

        page.goto(f"{base_url}/training/")
        page.wait_for_selector("#attendees input")
        boxes = page.locator("#attendees input[type=checkbox]")
        for index in range(4):
            boxes.nth(index).check()
        page.evaluate("window.scrollTo(0, document.querySelector('#training-form h2').offsetTop - 120)")
        shot("training")

        # Without a connection: work waits in the outbox, next to the rejected registration.
        context.set_offline(True)
        page.goto(f"{base_url}/")
        page.locator(".work a[href^='/residents/']").nth(1).click()
        page.wait_for_selector("#log-form .cap")
        page.locator("#log-form .cap:not(.held) button[data-o=done]").first.click()
        page.click("#log-form button[type=submit]")
        page.wait_for_selector("#toast:not([hidden])")
        shot("offline")
        page.goto(f"{base_url}/outbox/")
        page.wait_for_selector("#outbox-list .item")
        shot("outbox")
        context.set_offline(False)
        page.wait_for_selector("body[data-waiting='0']")

        page.goto(f"{base_url}/history/")
        shot("history")
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="thanhvien.01.1")
    parser.add_argument("--password", default="fieldteam-demo")
    parser.add_argument("--out", type=Path, default=OUT)
    options = parser.parse_args()
    for path in take(options.base_url, options.username, options.password, options.out):
        print(path)  # noqa: T201


if __name__ == "__main__":
    main()
