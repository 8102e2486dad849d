"""An identifier typed into an admin autocomplete never reaches a URL (issue: identifiers out of URLs).

Django's stock autocomplete sends each keystroke as ``GET …/autocomplete/?term=…``; fieldteam's
admin pages post it instead (``admin/fieldteam/autocomplete-post.js``). Every request the browser
makes while an officer types a citizen ID into a resident field is recorded: none may carry the
number (or a prefix of it) in its URL, and the resident is still found.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from fieldteam.choices import Sex
from tests.factories import TEST_PASSWORD, ResidentFactory, make_citizen_id
from tests.web.conftest import (  # noqa: F401 (fixtures)
    WebWorld,
    browser,
    playwright_instance,
    web_world,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_citizen_id_typed_into_an_autocomplete_is_posted_not_put_in_a_url(
    live_server,
    browser,  # noqa: F811
    web_world: WebWorld,  # noqa: F811
    superuser,
) -> None:
    cccd = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, province_code="064", serial=739214)
    resident = ResidentFactory(
        household=web_world.household, full_name="Ksor H'Bia", sex=Sex.FEMALE, birth_year=1985, citizen_id=cccd
    )
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requests: list[tuple[str, str]] = []
    context.on("request", lambda request: requests.append((request.method, request.url)))
    page = context.new_page()
    page.goto(f"{live_server.url}{reverse('admin:login')}")
    page.fill("#id_username", superuser.username)
    page.fill("#id_password", TEST_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state("load")

    page.goto(f"{live_server.url}{reverse('admin:fieldteam_adoption_add')}")
    page.click("#id_resident + .select2")
    with page.expect_response(lambda response: "autocomplete" in response.url and response.request.method == "POST"):
        page.keyboard.type(cccd, delay=20)
    page.wait_for_selector(f'.select2-results__option:has-text("{resident.full_name}")')

    autocompletes = [(method, url) for method, url in requests if "/admin/autocomplete/" in url]
    assert autocompletes and all(method == "POST" for method, _url in autocompletes)
    assert not [url for _method, url in requests if cccd[:4] in url.split("?", 1)[-1] and "?" in url]
    context.close()
