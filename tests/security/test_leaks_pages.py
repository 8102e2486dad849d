"""Leak matrix of the mobile web (``fieldteam/web/urls.py``) and the dashboards (``fieldteam/dashboards/urls.py``).

Pages are read from the URL resolver: a page taking an id is asked for every area, resident or
household the role may not see (404, exactly like a missing id); every other page is drawn for each
role and must not name anything out of scope nor show a raw citizen ID or phone number.
"""

from __future__ import annotations

import pytest
from django.urls import get_resolver, reverse

from fieldteam.models import Area
from fieldteam.permissions import scope_for
from tests.api.conftest import PLACES, SEES
from tests.security.conftest import (
    NOBODYS_CCCD,
    NOBODYS_PHONE,
    ROLES,
    LeakWorld,
    assert_no_identifiers,
    assert_nothing_of,
    hidden_places,
    marker,
)
from tests.security.test_leaks_api import walk

pytestmark = pytest.mark.django_db

MISSING = 987654321


def page_routes() -> dict[str, object]:
    return {
        name: pattern for name, pattern in walk(get_resolver().url_patterns) if name.startswith(("web:", "dashboards:"))
    }


# Pages taking an id: the id's kind. Pages drawn without one: drawn for every role.
WITH_IDS = {
    "web:resident": "resident",
    "web:household": "household",
    "web:work": "village",
    "dashboards:area": "area",
    "dashboards:report": "area",  # POST: test_leaks_files
    "dashboards:work_list": "area",  # test_leaks_files
    "dashboards:reason_list": "area",  # tests/dashboards/test_reasons.py (every role, 404 like a missing area)
    "dashboards:month_report": "area",  # test_leaks_files; tests/dashboards/test_month_report.py
    "dashboards:job": "job",  # test_leaks_files
    "dashboards:job_download": "job",
    "dashboards:subscribe": "area",  # POST; tests/dashboards/test_report_mail.py (404 out of scope, members refused)
    "dashboards:unsubscribe": "area",  # POST; one's own subscription only (another's: 404)
}
WITHOUT_IDS = {
    "web:home",
    "web:search",
    "web:resident_shell",
    "web:household_shell",
    "web:register",
    "web:training",
    "web:history",
    "web:outbox",
    "web:offline",
    "web:roster",
    "web:manifest",
    "web:sw",
    "dashboards:home",
}
NO_DATA = {"web:login", "web:logout", "web:set_language", "web:favicon", "dashboards:login", "dashboards:logout"}
# The national level (issue 18): 404 to every area role (below), drawn for a superuser.
NATIONAL = {"dashboards:nation", "dashboards:nation_report"}


def test_every_page_is_in_the_matrix() -> None:
    assert set(page_routes()) - (set(WITH_IDS) | WITHOUT_IDS | NO_DATA | NATIONAL) == set(), "a new page: add it here"


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_the_national_pages_are_a_superusers_not_an_area_roles(leak_world: LeakWorld, web_client, role) -> None:
    client = web_client(leak_world.users[role])
    page = client.get(reverse("dashboards:nation"))
    report = client.post(reverse("dashboards:nation_report"), {"format": "csv"})
    if role == "superuser":
        assert (page.status_code, report.status_code) == (200, 200)
    else:
        assert (page.status_code, report.status_code) == (404, 404)
    for response in (page, report):
        assert_no_identifiers(leak_world, response.content, (role, "nation"))


def _hidden_areas(lw: LeakWorld, role: str) -> list[Area]:
    scope = scope_for(lw.users[role])
    return [a for a in vars(lw.world.tree).values() if not scope.contains(a)]


def _as_missing(response, url: str) -> tuple[int, str]:
    """Status and body, the page's own address (a 404 page may show it) replaced."""
    return response.status_code, response.content.decode().replace(url, "<url>")


@pytest.mark.parametrize("role", ROLES)
def test_out_of_scope_ids_in_page_urls_are_404_like_missing_ones(leak_world: LeakWorld, web_client, role) -> None:
    client = web_client(leak_world.users[role])
    urls = {
        "resident": lambda pk: reverse("web:resident", args=[pk]),
        "household": lambda pk: reverse("web:household", args=[pk]),
        "work": lambda pk: reverse("web:work", args=[pk, "smartphone"]),
        "register": lambda pk: f"{reverse('web:register')}?household={pk}",
        "area": lambda pk: reverse("dashboards:area", args=[pk]),
    }
    cases: list[tuple[str, int]] = []
    for place in hidden_places(role):
        p = leak_world.places[place]
        cases += [
            ("resident", p.resident.pk),
            ("household", p.household.pk),
            ("work", p.village.pk),
            ("register", p.household.pk),
        ]
    cases += [("area", a.pk) for a in _hidden_areas(leak_world, role)]
    missing = {kind: _as_missing(client.get(url(MISSING)), url(MISSING)) for kind, url in urls.items()}
    wrong = []
    for kind, pk in cases:
        url = urls[kind](pk)
        response = client.get(url)
        if response.status_code != 404 or _as_missing(response, url) != missing[kind]:
            wrong.append((url, response.status_code))
        assert_nothing_of(leak_world, hidden_places(role), response.content, url)
    assert not wrong, f"{role}: {wrong}"


@pytest.mark.parametrize("role", [*ROLES, "superuser"])
def test_pages_name_nothing_out_of_scope_and_no_raw_identifier(leak_world: LeakWorld, web_client, role) -> None:
    client = web_client(leak_world.users[role])
    urls = [reverse(name) for name in sorted(WITHOUT_IDS)]
    urls.append(f"{reverse('dashboards:home')}?all=1")
    for place in SEES[role]:
        p = leak_world.places[place]
        urls += [
            reverse("web:resident", args=[p.resident.pk]),
            reverse("web:household", args=[p.household.pk]),
            reverse("dashboards:area", args=[p.village.pk]),
        ]
        if role in ("member", "leader"):
            urls.append(reverse("web:work", args=[p.village.pk, "smartphone"]))
    for area in vars(leak_world.world.tree).values():
        if scope_for(leak_world.users[role]).contains(area) and area.depth < 3:
            urls.append(reverse("dashboards:area", args=[area.pk]))
    for url in urls:
        response = client.get(url, follow=True)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert_no_identifiers(leak_world, body, (role, url))
        assert_nothing_of(leak_world, hidden_places(role), body, (role, url))


@pytest.mark.parametrize("role", ROLES)
def test_page_search_finds_nothing_out_of_scope_and_gives_no_existence_oracle(
    leak_world: LeakWorld, web_client, role
) -> None:
    client = web_client(leak_world.users[role])
    url = reverse("web:search")

    def results(query: str) -> str:
        response = client.post(url, {"q": query})
        assert response.status_code == 200
        body = response.content.decode()
        # The answer without the search box (which shows what was typed) and the CSRF token.
        return body[body.index('id="results"') :]

    nobody = {"cccd": results(NOBODYS_CCCD), "phone": results(NOBODYS_PHONE)}
    for place in PLACES:
        p = leak_world.places[place]
        answers = {
            "name": results(marker(place)),
            "cccd": results(leak_world.citizen_ids[place]),
            "phone": results(leak_world.phones[place]),
        }
        for kind, body in answers.items():
            if place in SEES[role]:
                assert reverse("web:resident", args=[p.resident.pk]) in body, (kind, place)
            else:
                assert_nothing_of(leak_world, [place], body, (role, kind))
                if kind != "name":
                    assert body == nobody[kind], (role, kind, place)
            assert_no_identifiers(leak_world, body, (role, kind, place))
    # A GET never searches an identifier, nor echoes it.
    got = client.get(url, {"q": leak_world.citizen_ids["V1"]})
    assert_no_identifiers(leak_world, got.content, "GET search")


def test_admin_pages_are_closed_to_team_members(leak_world: LeakWorld, web_client) -> None:
    for role in ("member", "leader"):
        client = web_client(leak_world.users[role])
        response = client.get(reverse("admin:fieldteam_resident_changelist"))
        assert response.status_code == 302
        assert reverse("admin:login") in response["Location"]
