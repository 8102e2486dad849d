"""Sensitive columns are never filtered, searched or ordered on, by anyone (issue 13, item 11).

The sensitive columns are the ``SENSITIVE_FIELDS`` of each model (``Resident``: ethnicity and the
identifier columns; ``User``: the password hash). Django admin lets any local field be filtered
from the query string (``?ethnicity__icontains=``); ``ScopedAdminMixin.lookup_allowed`` refuses
every lookup path that reaches one of them, from any model, and a sensitive column is never an
order (``?o=``). Every registered ModelAdmin is walked, every path to a sensitive column up to
two relations away is tried, as a superuser and as each staff role; the API's filter sets and
ordering are walked through the URL resolver the same way.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from fieldteam.admin.base import touches_sensitive_field
from fieldteam.models import Resident, User
from tests.security.conftest import LeakWorld

pytestmark = pytest.mark.django_db

SUFFIXES = ("", "__icontains", "__isnull")


def _sensitive_models() -> dict[type[models.Model], tuple[str, ...]]:
    return {m: m.SENSITIVE_FIELDS for m in apps.get_models() if getattr(m, "SENSITIVE_FIELDS", ())}


def _relations(model: type[models.Model]) -> list[tuple[str, type[models.Model]]]:
    found = []
    for field in model._meta.get_fields():
        if field.is_relation and field.related_model is not None and field.related_model is not model:
            found.append((field.name, field.related_model))
    return found


def sensitive_paths(model: type[models.Model], depth: int = 2) -> list[str]:
    """Every lookup path from ``model`` to a sensitive column, through at most ``depth`` relations."""
    sensitive = _sensitive_models()
    paths = [*sensitive.get(model, ())]
    if depth:
        for name, related in _relations(model):
            paths += [f"{name}__{p}" for p in sensitive_paths(related, depth - 1)]
    return sorted(set(paths))


def test_the_lists_name_what_the_issue_names() -> None:
    assert "ethnicity" in Resident.SENSITIVE_FIELDS
    assert set(Resident.IDENTIFIER_FIELDS) <= set(Resident.SENSITIVE_FIELDS)
    assert "password" in User.SENSITIVE_FIELDS
    for path in ("ethnicity", "ethnicity__icontains", "household__residents__ethnicity", "pk__in"):
        assert touches_sensitive_field(Resident, path) is (path != "pk__in"), path


def _registry() -> list[tuple[type[models.Model], Any]]:
    return sorted(admin.site._registry.items(), key=lambda pair: pair[0]._meta.label)


def test_no_admin_offers_a_sensitive_column_to_search_filter_or_dates() -> None:
    for model, model_admin in _registry():
        for term in model_admin.search_fields:
            assert not touches_sensitive_field(model, term.lstrip("^=@")), (model, term)
        for item in model_admin.list_filter:
            name = item[0] if isinstance(item, (list, tuple)) else item
            if isinstance(name, str):
                assert not touches_sensitive_field(model, name), (model, name)
        if model_admin.date_hierarchy:
            assert not touches_sensitive_field(model, model_admin.date_hierarchy), model


@pytest.mark.parametrize("role", ["superuser", "viewer", "commune_officer"])
def test_every_admin_refuses_every_sensitive_lookup(leak_world: LeakWorld, web_client, role: str) -> None:
    Resident.objects.update(ethnicity="Jrai")  # something a filter could find
    client = web_client(leak_world.users[role])
    tried = 0
    for model, _model_admin in _registry():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        if client.get(url).status_code != 200:
            continue  # this role does not see the table at all
        for path in sensitive_paths(model):
            for suffix in SUFFIXES:
                value = "1" if suffix in ("__isnull", "__gt") else "J"
                response = client.get(url, {f"{path}{suffix}": value})
                assert response.status_code == 400, (role, model.__name__, f"{path}{suffix}", response.status_code)
                tried += 1
    assert tried > 100  # the walk reached the tables that lead to residents and users


@pytest.mark.parametrize("role", ["superuser", "province_officer"])
def test_no_admin_orders_by_a_sensitive_column(leak_world: LeakWorld, web_client, role: str) -> None:
    client = web_client(leak_world.users[role])
    checked = 0
    for model, model_admin in _registry():
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        request = type("R", (), {"user": leak_world.users[role]})()
        columns = list(model_admin.get_list_display(request))
        for index, column in enumerate(columns):
            if not (isinstance(column, str) and touches_sensitive_field(model, column)):
                continue
            for order in (str(index), f"-{index}"):
                response = client.get(url, {"o": order})
                assert response.status_code == 200
                ordering = [str(o) for o in response.context["cl"].queryset.query.order_by]
                assert not any(touches_sensitive_field(model, o.lstrip("-")) for o in ordering), (model, ordering)
                assert column not in response.context["cl"].sortable_by
                checked += 1
    assert checked  # the residents' masked identifier columns at least


# --- the API ------------------------------------------------------------------------------------


def _api_views() -> list[tuple[str, Any]]:
    found = []

    def walk(patterns: list, prefix: str = "") -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                view = getattr(p.callback, "cls", None) or getattr(p.callback, "view_class", None)
                if view is not None and hasattr(view, "filter_backends"):
                    found.append((prefix + str(p.pattern), view))

    walk(get_resolver().url_patterns)
    return found


def _filter_paths(filterset_class: Any) -> list[str]:
    paths = []
    for name, flt in filterset_class.base_filters.items():
        paths.append(name)
        if flt.field_name:
            paths.append(flt.field_name)
    return paths


def test_no_api_filter_or_ordering_reaches_a_sensitive_column() -> None:
    from rest_framework.filters import OrderingFilter, SearchFilter

    views = _api_views()
    assert len(views) > 10
    for route, view in views:
        model = getattr(view, "model", None) or getattr(getattr(view, "queryset", None), "model", None)
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None:
            model = filterset_class._meta.model or model
            for path in _filter_paths(filterset_class):
                assert model is None or not touches_sensitive_field(model, path), (route, path)
        assert getattr(view, "filterset_fields", None) != "__all__", route
        for backend in view.filter_backends:
            if issubclass(backend, OrderingFilter):
                fields = getattr(view, "ordering_fields", None)
                assert fields not in (None, "__all__"), (route, "ordering on every field")
                assert not any(touches_sensitive_field(model, f) for f in fields), (route, fields)
            if issubclass(backend, SearchFilter):
                terms = getattr(view, "search_fields", ())
                assert not any(touches_sensitive_field(model, t.lstrip("^=@$")) for t in terms), (route, terms)


@pytest.mark.parametrize("role", ["superuser", "commune_officer", "member"])
def test_api_lists_ignore_sensitive_filters_and_ordering(leak_world: LeakWorld, client_for, role: str) -> None:
    Resident.objects.filter(pk=leak_world.places["V1"].resident.pk).update(ethnicity="Jrai")
    client = client_for(leak_world.users[role])
    for url in ("/api/v1/residents/", "/api/v1/households/"):
        plain = client.get(url)
        assert plain.status_code == 200
        for params in (
            {"ethnicity": "Jrai"},
            {"ethnicity__icontains": "J"},
            {"residents__ethnicity": "Jrai"},
            {"ordering": "ethnicity"},
            {"ordering": "-citizen_id_hash"},
            {"citizen_id_masked__endswith": "1"},
        ):
            response = client.get(url, params)
            assert response.status_code in (200, 400), (url, params)
            if response.status_code == 200:
                assert response.json() == plain.json(), (role, url, params)
