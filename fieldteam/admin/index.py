"""The admin index grouped the way officers think: people, teams, indicators and targets, imports and reports.

Django's index lists each app's tables alphabetically; an officer met 23 tables, internals among
them. ``group_app_list`` gives the site a ``get_app_list`` that keeps Django's own permission
checks (a table is listed only if its ModelAdmin admits the user: the internals' admins,
``superuser_only``, refuse officers by URL too) and regroups fieldteam's tables into ``SECTIONS``.
A superuser also sees the rest, the system's internals, in a section of their own, and the other
apps (groups, tokens, sign-in attempts) as Django lists them.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

APP_LABEL = "fieldteam"

#: Each section and its tables (model names), in the order listed.
SECTIONS: tuple[tuple[Promise, tuple[str, ...]], ...] = (
    (_("People"), ("area", "household", "resident", "consentrecord", "adoption")),
    (
        _("Digital-technology teams"),
        ("team", "membership", "membertraining", "user", "arearole", "assistancelog", "trainingsession"),
    ),
    (
        _("Indicators and targets"),
        (
            "indicator",
            "target",
            "indicatorvalue",
            "monthapproval",
            "officialpopulation",
            "plan",
            "plantarget",
            "indicatorpopulationbound",
            "capability",
            "capabilityderivation",
            "followuprule",
        ),
    ),
    (_("Imports and reports"), ("backgroundjob", "reportsubscription", "auditentry")),
)
INTERNALS = _("System internals")

#: Tables named in the index for what they hold for officers rather than by their model's name.
LABELS: dict[str, Promise] = {"backgroundjob": _("Imports, exports and reports")}


def _section(name: Promise, app: dict[str, Any], models: list[dict[str, Any]]) -> dict[str, Any]:
    return {**app, "name": str(name), "models": models}


def grouped_app_list(site: admin.AdminSite, request: HttpRequest) -> list[dict[str, Any]]:
    """The index's sections for ``request.user``: fieldteam's tables in ``SECTIONS``, then the rest."""
    apps = admin.AdminSite.get_app_list(site, request)
    own = next((app for app in apps if app["app_label"] == APP_LABEL), None)
    if own is None:
        return apps
    by_name = {model["object_name"].lower(): model for model in own["models"]}
    for name, label in LABELS.items():
        if name in by_name:
            by_name[name] = {**by_name[name], "name": str(label)}
    sections = []
    for title, names in SECTIONS:
        models = [by_name.pop(name) for name in names if name in by_name]
        if models:
            sections.append(_section(title, own, models))
    if by_name:  # what no section names: the internals, listed to superusers only (their admins say so)
        sections.append(_section(INTERNALS, own, sorted(by_name.values(), key=lambda m: m["name"])))
    return sections + [app for app in apps if app["app_label"] != APP_LABEL]


def group_app_list(site: admin.AdminSite) -> None:
    """Give ``site`` the grouped index (and sidebar); an app's own page (``app_label``) stays Django's."""

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        if app_label is not None:
            return admin.AdminSite.get_app_list(site, request, app_label)
        return grouped_app_list(site, request)

    site.get_app_list = get_app_list  # type: ignore[method-assign]  # the site's own hook, per instance (like its autocomplete view)
