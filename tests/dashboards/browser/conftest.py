"""Browser tests of the dashboards: real time (a frozen clock would stall the browser driver's event loop)."""

from __future__ import annotations

import pytest

from tools import chromium

PHONE = {"width": 360, "height": 740}


@pytest.fixture(autouse=True)
def _frozen_today() -> None:
    """Overrides the directory's frozen clock: these tests run on today's date."""


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch):
    """Chromium through Playwright's sync API. Ask for it after the fixtures that write data: once it
    runs, code in this thread runs in another greenlet, whose new database connection nobody closes."""
    if not chromium.EXECUTABLE.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are safe.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium.EXECUTABLE), args=chromium.ARGS)
        yield browser
        browser.close()
