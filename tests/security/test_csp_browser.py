"""The Content-Security-Policy in a real browser: the mobile web, a dashboard and the admin work under it.

Chromium (through Playwright) reports every refused script, style, image or connection as a
``securitypolicyviolation`` event and a console error; both are collected on every page a team
member, an officer and an administrator go through, and there must be none.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import translation

from fieldteam.models import AssistanceLog
from tests.factories import TEST_PASSWORD
from tests.web.conftest import (  # noqa: F401 (fixtures)
    WebWorld,
    browser,
    phone,
    playwright_instance,
    web_world,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Runs before any of the page's own scripts (Playwright injects it outside the policy): every
# violation is also written to the console, where the test collects it.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
                " at " + e.sourceFile + ":" + e.lineNumber);
});
"""


def _watch(context) -> list[str]:
    """Collect the CSP violations of every page of ``context`` (and of its service worker's pages)."""
    violations: list[str] = []
    context.add_init_script(REPORT_VIOLATIONS)

    def on_console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or text.startswith("CSP violation"):
            violations.append(f"{message.location.get('url', '')}: {text}")

    context.on("console", on_console)
    return violations


# Playwright's ``wait_for_function`` evaluates its predicate with ``eval``, which this policy
# refuses (no 'unsafe-eval'); ``evaluate`` awaiting a promise is not affected.
WAIT_FOR_SERVICE_WORKER = """async () => {
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener("controllerchange", resolve, {once: true}));
  }
}"""


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")
    page.evaluate(WAIT_FOR_SERVICE_WORKER)


def vi(message: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message)


def test_the_mobile_web_works_under_the_policy(live_server, phone, web_world: WebWorld) -> None:  # noqa: F811
    violations = _watch(phone)
    page = phone.new_page()
    first = page.goto(f"{live_server.url}/login/")
    assert "default-src 'self'" in first.headers["content-security-policy"]

    sign_in(page, live_server.url, web_world.member.username)
    # The progress bars get their lengths from data attributes (no style attributes).
    widths = page.eval_on_selector_all(".progress .bar i", "bars => bars.map(b => b.style.width)")
    assert widths and all(w.endswith("%") for w in widths)

    resident = web_world.residents[1]
    page.goto(f"{live_server.url}/residents/{resident.pk}/")
    page.click('#log-form .cap[data-code="smartphone"] button[data-o="done"]')
    page.click("#log-form button[type=submit]")
    page.wait_for_selector("#toast:not([hidden])")
    assert page.inner_text("#toast") == vi("Saved and sent.")
    assert AssistanceLog.objects.filter(resident=resident).count() == 1

    page.goto(f"{live_server.url}/search/")
    page.fill("#search-form input[name=q]", "Hoa")
    page.press("#search-form input[name=q]", "Enter")
    page.wait_for_selector(f'a[href="/residents/{resident.pk}/"]')
    for path in ("/history/", "/outbox/", "/register/", "/training/", f"/households/{web_world.household.pk}/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")

    assert violations == []


def test_a_dashboard_and_the_admin_work_under_the_policy(live_server, browser, web_world: WebWorld, superuser) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    violations = _watch(context)
    page = context.new_page()

    # A dashboard, and its period picker (which submits itself when changed, from a static script).
    page.goto(f"{live_server.url}{reverse('dashboards:login')}")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("load")
    area_url = f"{live_server.url}{reverse('dashboards:area', kwargs={'area_id': web_world.village.pk})}"
    page.goto(area_url)
    assert page.locator("h1").inner_text() == web_world.village.name
    options = page.eval_on_selector_all("#period option", "opts => opts.map(o => o.value)")
    chosen = next(value for value in options if value != page.input_value("#period"))
    page.select_option("#period", chosen)
    page.wait_for_url(f"**period={chosen}*")

    # The admin: its index, lists (with and without actions), a search, a change form.
    for url in (
        reverse("admin:index"),
        reverse("admin:fieldteam_resident_changelist") + "?q=Hoa",
        reverse("admin:fieldteam_resident_change", args=[web_world.residents[1].pk]),
        reverse("admin:fieldteam_area_changelist"),
        reverse("admin:fieldteam_household_change", args=[web_world.household.pk]),
    ):
        page.goto(f"{live_server.url}{url}")
        page.wait_for_load_state("load")
        assert page.locator("#content").count() == 1, url

    assert violations == []
