"""Leak matrix of Django admin: every registered ModelAdmin × every staff role.

The ModelAdmins are read from ``admin.site._registry``, and the rows out of a role's scope are
found generically (what a superuser's queryset holds and the role's does not), so a new admin is
covered without being named here. Changelists name nothing out of scope and no raw identifier;
change, history and delete views of an out-of-scope row answer like a missing row (never 200);
autocomplete and admin search offer nothing out of scope.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from tests.security.conftest import (
    NOBODYS_CCCD,
    STAFF_ROLES,
    LeakWorld,
    assert_no_identifiers,
    assert_nothing_of,
    hidden_places,
    marker,
)

pytestmark = pytest.mark.django_db

ROWS_TRIED = 3
SEARCH_BOX = re.compile(
    r'<input type="text" size="40" name="q" value="[^"]*"'
)  # out-of-scope rows of each table asked for by id (the first few by pk)


def _registry() -> list[tuple[str, Any]]:
    return sorted(
        (
            (f"{model._meta.app_label}_{model._meta.model_name}", model_admin)
            for model, model_admin in admin.site._registry.items()
        ),
        key=lambda pair: pair[0],
    )


def _queryset(model_admin: Any, user: Any) -> Any:
    request = RequestFactory().get("/admin/")
    request.user = user
    return model_admin.get_queryset(request)


def _url(info: str, view: str, *args: object) -> str | None:
    try:
        return reverse(f"admin:{info}_{view}", args=args)
    except NoReverseMatch:
        return None


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_admin_changelists_name_nothing_out_of_scope(leak_world: LeakWorld, web_client, role) -> None:
    client = web_client(leak_world.users[role])
    for info, _model_admin in _registry():
        url = _url(info, "changelist")
        response = client.get(url)
        if response.status_code == 403:  # a table this role may not open at all
            continue
        assert response.status_code == 200, (info, response.status_code)
        assert_nothing_of(leak_world, hidden_places(role), response.content, (role, url))
        assert_no_identifiers(leak_world, response.content, (role, url))


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_admin_views_of_an_out_of_scope_row_answer_like_a_missing_row(leak_world: LeakWorld, web_client, role) -> None:
    user, superuser = leak_world.users[role], leak_world.users["superuser"]
    client = web_client(user)
    wrong, tried = [], 0
    for info, model_admin in _registry():
        mine = _queryset(model_admin, user).values("pk")
        hidden = list(
            _queryset(model_admin, superuser)
            .exclude(pk__in=mine)
            .order_by("pk")
            .values_list("pk", flat=True)[:ROWS_TRIED]
        )
        for view in ("change", "history", "delete"):
            if _url(info, view, 1) is None:
                continue
            missing = client.get(_url(info, view, "987654321"))
            for pk in hidden:
                tried += 1
                response = client.get(_url(info, view, pk))
                if response.status_code == 200 or response.status_code != missing.status_code:
                    wrong.append((info, view, pk, response.status_code, missing.status_code))
                followed = client.get(_url(info, view, pk), follow=True)
                assert_nothing_of(leak_world, hidden_places(role), followed.content, (role, info, view, pk))
    assert tried, "the world has rows out of this role's scope"
    assert not wrong, f"{role}: (table, view, pk, status, status of a missing row) {wrong}"


@pytest.mark.parametrize("role", [*STAFF_ROLES, "superuser"])
def test_admin_change_and_history_views_show_no_raw_identifier(leak_world: LeakWorld, web_client, role) -> None:
    user = leak_world.users[role]
    client = web_client(user)
    for info, model_admin in _registry():
        for pk in _queryset(model_admin, user).order_by("pk").values_list("pk", flat=True)[:ROWS_TRIED]:
            for view in ("change", "history"):
                url = _url(info, view, pk)
                if url is None:
                    continue
                response = client.get(url, follow=True)
                assert_no_identifiers(leak_world, response.content, (role, url))


def _autocomplete_fields() -> list[tuple[Any, str]]:
    found = []
    for _info, model_admin in _registry():
        for field_name in model_admin.get_autocomplete_fields(None):
            found.append((model_admin.model, field_name))
        for inline in model_admin.inlines:
            for field_name in getattr(inline, "autocomplete_fields", ()):
                found.append((inline.model, field_name))
    return found


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_autocomplete_offers_nothing_out_of_scope(leak_world: LeakWorld, web_client, role) -> None:
    user = leak_world.users[role]
    client = web_client(user)
    fields = _autocomplete_fields()
    assert fields
    for model, field_name in fields:
        related = model._meta.get_field(field_name).remote_field.model
        visible = {str(pk) for pk in _queryset(admin.site._registry[related], user).values_list("pk", flat=True)}
        for term in ("", "Leakcheck", *(leak_world.places[p].village.name for p in hidden_places(role))):
            response = client.get(
                "/admin/autocomplete/",
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field_name,
                    "term": term,
                },
            )
            if response.status_code == 403:
                continue
            assert response.status_code == 200, (model, field_name, response.status_code)
            offered = {row["id"] for row in response.json()["results"]}
            assert offered <= visible, (model.__name__, field_name, term, offered - visible)
            assert_nothing_of(leak_world, hidden_places(role), response.content, (role, model, field_name, term))


@pytest.mark.parametrize("role", STAFF_ROLES)
def test_admin_search_finds_nothing_out_of_scope(leak_world: LeakWorld, web_client, role) -> None:
    user = leak_world.users[role]
    client = web_client(user)
    for info, model_admin in _registry():
        if not model_admin.search_fields:
            continue
        url = _url(info, "changelist")
        visible = set(_queryset(model_admin, user).values_list("pk", flat=True))
        for place in hidden_places(role):
            for term in (marker(place), leak_world.places[place].village.name):
                response = client.get(url, {"q": term}, follow=True)
                if response.status_code == 403:
                    continue
                assert {row.pk for row in response.context["cl"].result_list} <= visible, (info, term)
                # The search box shows what was typed; nothing else may name the place.
                body = SEARCH_BOX.sub("", response.content.decode())
                assert_nothing_of(leak_world, [place], body, (role, info, term))
    # By identifier: an out-of-scope resident's CCCD or phone finds as much as nobody's (nothing).
    url = reverse("admin:fieldteam_resident_changelist")
    nobody = client.get(url, {"q": NOBODYS_CCCD}, follow=True)
    for place in hidden_places(role):
        for term in (leak_world.citizen_ids[place], leak_world.phones[place]):
            response = client.get(url, {"q": term}, follow=True)
            assert response.status_code == nobody.status_code == 200
            assert_nothing_of(leak_world, [place], response.content, (role, "identifier search"))
            assert_no_identifiers(leak_world, response.content, (role, "identifier search"))
            assert response.context["cl"].result_count == nobody.context["cl"].result_count == 0
