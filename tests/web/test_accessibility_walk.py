"""A walk through every page as every demo role, in Chromium: no axe-core violation, no small tap target, no English.

The demo (``services.demo.seed_demo``, a small one) is served by the live server; ``tools.a11y_walk``
signs in as each role, opens every kind of page it can reach (one page per URL pattern of the field
app and the dashboards, each role's home and dashboard; in the admin one changelist, change form and
add form per group of models rendered alike, then the index, import, export and password pages) on a
360 px phone, and on a desktop window where the layout changes with the width, and runs axe-core's
WCAG 2.1 A/AA rules and the 44 px tap target check (inline links inside a sentence exempt, WCAG
2.5.5/2.5.8).
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import get_resolver, resolve, reverse

from fieldteam.models import Area, User
from fieldteam.services import reports
from fieldteam.services.demo import DEMO_PROVINCE_CODE, seed_demo
from tests.factories import TEST_PASSWORD
from tests.test_pages_language import english_in
from tools import a11y_walk

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# The superuser first: the admin's kinds are walked as the user who sees them all, and the officers'
# admin pages (the same templates, fewer rows) are not walked again.
ROLES = ["admin", "canbo.xa", "canbo.tinh", "xem.tinh", "totruong.01", "thanhvien.01.1"]
# URL patterns of the field app and the dashboards that are not pages: sign-out, downloads, files
# for the service worker, a form's POST target, the language switch.
NOT_PAGES = {
    "web:logout",
    "web:roster",
    "web:manifest",
    "web:favicon",
    "web:sw",
    "web:set_language",
    "dashboards:logout",
    "dashboards:report",
    "dashboards:work_list",
    "dashboards:reason_list",
    "dashboards:job_download",
    "dashboards:month_report",
    "dashboards:nation_report",
    "dashboards:subscribe",
    "dashboards:unsubscribe",
}
# The admin's pages besides the models' own (an index, a form of every import and export).
# The phone province dashboard as served against the same with its long sections unfolded. Measured
# (the demo, 3 households a village): 10,271 px against 25,804 px (8,123 against 20,614 before the
# month's sign-off section, 5,152 px, not folded, was added); the five folded sections take 229 px
# against 15,751 px unfolded (team coverage 4,815, not-done reasons 5,212, team activity 3,086, child
# areas 1,449, breakdowns 1,189).
BOUND_FOLDED = 0.5
FOLDED_SECTIONS_PX = 300
ADMIN_PAGES = {"/admin/", "admin app index", "admin import", "admin export", "/admin/password_change/"}


def url_names(namespace: str) -> set[str]:
    """Every named URL pattern of a namespace (``web:home``, …)."""
    _, resolver = get_resolver().namespace_dict[namespace]
    names = set()
    for pattern in resolver.url_patterns:
        for inner in getattr(pattern, "url_patterns", [pattern]):
            if inner.name:
                names.add(f"{namespace}:{inner.name}")
    return names


@pytest.fixture
def demo(transactional_db) -> None:
    seed_demo(password=TEST_PASSWORD, households_per_village=3)


def test_every_page_as_every_role_passes_axe_and_has_large_tap_targets(live_server, demo, browser) -> None:
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(username="admin")
    kinds = a11y_walk.admin_kinds(admin.site, request)
    # A report's page (a large area's report is made in the background): no link leads to it.
    officer = User.objects.get(username="canbo.tinh")
    job = reports.report_job_create(user=officer, area=Area.objects.get(code=DEMO_PROVINCE_CODE), fmt="csv")

    walk = a11y_walk.walk_site(
        browser,
        live_server.url,
        ROLES,
        TEST_PASSWORD,
        max_pages=80,
        kind=kinds.kind,
        seeds={"admin": list(kinds.pages.values()), officer.username: [reverse("dashboards:job", args=[job.pk])]},
        foreign_words=english_in,  # as the browser shows it, text the scripts build included
    )

    print(  # noqa: T201
        f"\n{len(walk.pages)} pages checked ({walk.axe_runs} axe runs), {len(walk.kinds)} kinds, "
        f"{len(kinds.pages)} of the admin's models"
    )
    print("\n".join(f"{height:>7} px  {name}" for name, height in walk.pages.items()))  # noqa: T201
    # Every page of the field app and the dashboards, every group of the admin's pages.
    reached_views = {resolve(key.split(" ", 1)[1]).view_name for key in walk.pages}
    expected_views = (url_names("web") | url_names("dashboards")) - NOT_PAGES
    assert expected_views - reached_views == set(), "the walk never reached these pages"
    assert (set(kinds.pages) | ADMIN_PAGES) - set(walk.kinds) == set(), "the walk never reached these admin pages"
    for role in ROLES:  # each role's own dashboard, and the field roles' home, were checked
        assert any(key.startswith(f"{role} /dashboards/areas/") for key in walk.pages), role
    for role in ("totruong.01", "thanhvien.01.1"):
        assert f"{role} /" in walk.pages, role
    assert not walk.findings, "\n".join(str(f) for f in walk.findings)


def test_the_province_dashboard_on_a_phone_opens_one_indicator_at_a_time_and_folds_long_sections(
    live_server, demo, browser
) -> None:
    province = Area.objects.get(code=DEMO_PROVINCE_CODE)
    context = browser.new_context(viewport=a11y_walk.PHONE)
    a11y_walk.sign_in(context, live_server.url, "canbo.tinh", TEST_PASSWORD)
    page = context.new_page()
    page.goto(live_server.url + reverse("dashboards:area", kwargs={"area_id": province.pk}))

    open_details = page.locator("details.more[open]")
    assert open_details.count() == 1  # the first indicator's
    folds = page.locator("details.fold")
    folded_ids = page.evaluate("() => [...document.querySelectorAll('details.fold')].map((d) => d.parentElement.id)")
    assert folded_ids == ["children", "breakdowns", "team-coverage", "reasons", "sign-off", "activity"]  # no work list here
    assert page.locator("details.fold[open]").count() == 0
    folded_page = page.evaluate("document.documentElement.scrollHeight")
    sections = (
        "() => [...document.querySelectorAll('details.fold')].map((d) => Math.round(d.getBoundingClientRect().height))"
    )
    folded_sections = page.evaluate(sections)
    assert sum(folded_sections) < FOLDED_SECTIONS_PX  # each a heading
    page.evaluate("() => { for (const d of document.querySelectorAll('details.fold')) d.open = true; }")
    unfolded_page = page.evaluate("document.documentElement.scrollHeight")
    unfolded_sections = page.evaluate(sections)
    print(f"\nsections {folded_ids} at 360 px, folded: {folded_sections}, unfolded: {unfolded_sections}")  # noqa: T201
    page.evaluate("() => { for (const d of document.querySelectorAll('details.fold')) d.open = false; }")
    # A heading is a 44 px tap target that unfolds its section; the contents link to it unfolds it.
    coverage = page.locator("#team-coverage details.fold")
    coverage.locator("summary").click()
    assert coverage.get_attribute("open") is not None
    page.locator("nav.toc a[href='#children']").click()
    assert page.locator("#children details.fold").get_attribute("open") is not None
    page.evaluate("() => { for (const d of document.querySelectorAll('details.fold')) d.open = false; }")
    indicators = "document.getElementById('indicators').getBoundingClientRect().height"
    served = page.evaluate(indicators)
    served_page = page.evaluate("document.documentElement.scrollHeight")
    # Another indicator opened: the first closes (an exclusive accordion).
    page.locator("details.more summary").nth(2).click()
    assert open_details.count() == 1
    assert page.locator("details.more").nth(2).get_attribute("open") is not None
    # Every indicator open, as the page was before the accordion.
    page.evaluate(
        "() => { for (const d of document.querySelectorAll('details.more')) { d.removeAttribute('name'); d.open = true; } }"
    )
    everything = page.evaluate(indicators)
    everything_page = page.evaluate("document.documentElement.scrollHeight")
    print(  # noqa: T201
        f"\nprovince dashboard at 360 px: indicators {served:.0f} px ({everything:.0f} px all open), "
        f"page {served_page} px, {unfolded_page} px with the sections unfolded ({folded_page} px folded), "
        f"{everything_page} px with everything open"
    )
    assert served < everything * 0.7  # measured: 4,057 px against 6,687 px (the demo, 3 households a village)
    assert served_page == folded_page
    assert served_page < unfolded_page * BOUND_FOLDED
    assert page.evaluate("document.documentElement.scrollWidth") <= a11y_walk.PHONE["width"]

    # On a wide screen every card shows its details at once.
    page.set_viewport_size(a11y_walk.DESKTOP)
    page.reload()
    assert open_details.count() == page.locator("details.more").count() > 1
    assert page.locator("details.fold[open]").count() == folds.count()
    context.close()
