"""A citizen ID or phone number typed into a search never reaches a URL (issue 13, item 9).

Every search box that can receive one is walked: each admin changelist with a search box (read
from ``admin.site._registry``), the mobile web's search and the API's resident search. A search
for a number posts it; the answer's ``Location``, every URL of the redirect chain, the page and
every log line written meanwhile (through the project's JSON formatter) hold no spelling of it. A
number typed into a URL by hand is not searched, and the redirect drops it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest
from django.contrib import admin
from django.urls import reverse

from fieldteam.logging import JsonFormatter
from fieldteam.models import Resident
from tests.security.conftest import LeakWorld, leaked

pytestmark = pytest.mark.django_db

SEARCH_FORM = re.compile(r'<form id="changelist-search" method="post"[^>]*>.*?</form>', re.S)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every log line written (any logger, any level), as the production JSON formatter writes it."""
    handler = _Lines()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("django.request", "django.server", "django.security"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _numbers(lw: LeakWorld, place: str) -> list[str]:
    cccd, phone = lw.citizen_ids[place], lw.phones[place]
    return [cccd, phone, f"+84{phone[1:]}", f"{phone[:4]} {phone[4:7]} {phone[7:]}", f"{cccd[:6]}.{cccd[6:]}"]


def _search_admins() -> list[tuple[str, type]]:
    return sorted(
        (f"{model._meta.app_label}_{model._meta.model_name}", model)
        for model, model_admin in admin.site._registry.items()
        if model_admin.search_fields
    )


def _assert_clean(lw: LeakWorld, where: object, *texts: str | bytes) -> None:
    for text in texts:
        found = leaked(text, lw.secrets())
        assert not found, f"identifier {found} in {where}"


@pytest.mark.parametrize("role", ["superuser", "commune_officer", "viewer"])
def test_every_admin_search_box_posts(leak_world: LeakWorld, web_client, role: str) -> None:
    client = web_client(leak_world.users[role])
    for info, _model in _search_admins():
        page = client.get(reverse(f"admin:{info}_changelist"))
        if page.status_code != 200:
            continue
        html = page.content.decode()
        assert SEARCH_FORM.search(html), f"{info}: the search box does not post"
        assert 'method="get" role="search"' not in html, info


@pytest.mark.parametrize("role", ["superuser", "commune_officer", "viewer"])
def test_an_identifier_searched_in_admin_is_in_no_url_page_or_log_line(
    leak_world: LeakWorld, web_client, role: str, log_lines: list[str]
) -> None:
    client = web_client(leak_world.users[role])
    resident_admin = "fieldteam_resident"
    for info, _model in _search_admins():
        url = reverse(f"admin:{info}_changelist")
        if client.get(url).status_code != 200:
            continue
        for number in _numbers(leak_world, "V1"):
            posted = client.post(url, {"_search": "1", "q": number, "status": "active"})
            assert posted.status_code == 302, (info, posted.status_code)
            location = posted["Location"]
            _assert_clean(leak_world, (role, info, "Location"), location)
            assert "status=active" in location  # the filters in force are kept
            page = client.get(location, follow=True)
            assert page.status_code == 200
            _assert_clean(leak_world, (role, info, "redirect chain"), *[u for u, _code in page.redirect_chain])
            _assert_clean(leak_world, (role, info, "page"), page.content)
            if info == resident_admin:
                assert [r.pk for r in page.context["cl"].result_list] == [leak_world.places["V1"].resident.pk]
    _assert_clean(leak_world, (role, "log lines"), "\n".join(log_lines))


def test_a_name_search_still_lands_in_the_url(leak_world: LeakWorld, web_client) -> None:
    client = web_client(leak_world.users["superuser"])
    url = reverse("admin:fieldteam_resident_changelist")
    posted = client.post(url, {"_search": "1", "q": "Leakcheck V1"})
    assert posted.status_code == 302 and "q=Leakcheck+V1" in posted["Location"]
    page = client.get(posted["Location"])
    assert [r.pk for r in page.context["cl"].result_list] == [leak_world.places["V1"].resident.pk]


def test_a_search_post_needs_the_right_to_see_the_table(leak_world: LeakWorld, web_client) -> None:
    member = web_client(leak_world.users["member"])  # not staff: the admin sends them to its login
    url = reverse("admin:fieldteam_resident_changelist")
    response = member.post(url, {"_search": "1", "q": leak_world.citizen_ids["V1"]})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    _assert_clean(leak_world, "login redirect", response["Location"])


@pytest.mark.parametrize("role", ["superuser", "viewer"])
def test_an_identifier_typed_into_an_admin_url_is_dropped(leak_world: LeakWorld, web_client, role: str) -> None:
    client = web_client(leak_world.users[role])
    for info, _model in _search_admins():
        url = reverse(f"admin:{info}_changelist")
        if client.get(url).status_code != 200:
            continue
        number = leak_world.citizen_ids["V1"]
        response = client.get(url, {"q": number})
        assert response.status_code == 302, info
        _assert_clean(leak_world, (info, "Location"), response["Location"])
        page = client.get(response["Location"])
        _assert_clean(leak_world, (info, "page"), page.content)


def test_the_mobile_search_posts_and_a_number_in_its_url_is_not_searched(leak_world: LeakWorld, web_client) -> None:
    client = web_client(leak_world.users["member"])
    page = client.get(reverse("web:search"))
    form = re.search(r'<form[^>]*id="search-form"[^>]*>', page.content.decode())
    assert form and 'method="post"' in form.group(0)
    resident = leak_world.places["V1"].resident
    for number in _numbers(leak_world, "V1"):
        found = client.post(reverse("web:search"), {"q": number})
        assert found.status_code == 200 and resident.full_name in found.content.decode()
        _assert_clean(leak_world, "mobile search page", found.content)
        by_url = client.get(reverse("web:search"), {"q": number})
        assert resident.full_name not in by_url.content.decode()
        _assert_clean(leak_world, "mobile search by URL", by_url.content)


def test_the_api_takes_identifiers_only_in_a_body(leak_world: LeakWorld, client_for) -> None:
    client = client_for(leak_world.users["member"])
    resident = leak_world.places["V1"].resident
    number = leak_world.citizen_ids["V1"]
    found = client.post("/api/v1/residents/search/", {"citizen_id": number}, format="json")
    assert found.status_code == 200, found.content
    assert resident.pk in [r["id"] for r in found.json()]
    _assert_clean(leak_world, "API search answer", found.content)
    # No GET parameter of any list looks a number up: with one, a list is as without it, or refused.
    for url in ("/api/v1/residents/", "/api/v1/households/"):
        plain = client.get(url).json()
        for param in ("citizen_id", "phone", "citizen_id_hash", "phone_hash", "search", "identifier"):
            response = client.get(url, {param: number})
            assert response.status_code in (200, 400), (url, param)
            if response.status_code == 200:
                assert response.json() == plain, (url, param)
            _assert_clean(leak_world, (url, param), response.content)
        by_name = client.get(url, {"q": number})
        assert by_name.status_code in (200, 400) and resident.pk not in [
            r["id"] for r in by_name.json().get("results", [])
        ]
    assert Resident.objects.filter(pk=resident.pk).exists()
