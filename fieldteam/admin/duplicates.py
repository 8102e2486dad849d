"""Likely duplicate residents in the admin: the list of groups, and the merge (kept record chosen by the officer).

The list comes from ``fieldteam.selectors.duplicates`` (scoped to the officer); merging calls
``fieldteam.services.duplicates.merge_residents``, which keeps both histories and the counts right.
Identifiers are shown masked only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fieldteam.models import Area, Resident
from fieldteam.selectors.duplicates import SAME_CITIZEN_ID, DuplicateGroup, likely_duplicate_residents
from fieldteam.services.duplicates import merge_residents

from .base import AdminMixinBase, is_admin_staff, request_scope
from .typed import staff_user

PAGE = "admin/fieldteam/duplicates.html"

HEADERS = (
    _("full name"),
    _("birth"),
    _("sex"),
    _("village"),
    _("household"),
    _("citizen ID"),
    _("phone"),
    _("status"),
    _("registered"),
)


def _cells(resident: Resident) -> list[Any]:
    return [
        resident.full_name,
        resident.birth_date.strftime("%d/%m/%Y") if resident.birth_date else resident.birth_year,
        resident.get_sex_display(),
        resident.village.name,
        str(resident.household),
        resident.citizen_id_masked or "–",
        resident.phone_masked or "–",
        resident.get_status_display(),
        resident.created_at.date().strftime("%d/%m/%Y") if resident.created_at else "",
    ]


class DuplicatesAdminMixin(AdminMixinBase):
    """For ``ResidentAdmin``: the likely-duplicates page, the merge page and the merge action."""

    def extra_object_tools(self, request: HttpRequest) -> list[tuple[str, Any]]:
        tools = list(super().extra_object_tools(request))  # type: ignore[misc]  # mixin: the admin it is mixed into provides it
        tools.append((reverse("admin:fieldteam_resident_duplicates"), gettext("Likely duplicates")))
        return tools

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("duplicates/", wrap(self.duplicates_view), name="fieldteam_resident_duplicates"),
            path("merge/", wrap(self.merge_view), name="fieldteam_resident_merge"),
            *super().get_urls(),
        ]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        if self.may_write(request):
            actions["merge_selected"] = (
                DuplicatesAdminMixin.merge_selected,
                "merge_selected",
                _("Merge the two selected residents (same person registered twice)"),
            )
        return actions

    def _page(self, request: HttpRequest, context: dict[str, Any]) -> TemplateResponse:
        labels = {
            "home": gettext("Home"),
            "area": gettext("Only in the area with the code"),
            "filter": gettext("Show"),
            "kept": gettext("kept"),
            "none": gettext("No likely duplicates in your area."),
            "merge": gettext("Merge"),
            "swap": gettext("Keep the other record instead"),
        }
        base = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "labels": labels,
            "headers": [str(h) for h in HEADERS],
        }
        return TemplateResponse(request, PAGE, {**base, **context})

    def duplicates_view(self, request: HttpRequest) -> HttpResponse:
        if not is_admin_staff(request):
            raise PermissionDenied
        code = (request.GET.get("area") or "").strip()
        area = Area.objects.filter(code=code).first() if code else None
        scope = request_scope(request)
        if area is not None and not (scope.contains(area) or any(p.startswith(area.path) for p in scope.paths)):
            area = None
        groups = likely_duplicate_residents(actor=staff_user(request), area=area)
        may_merge = self.may_write(request)
        return self._page(
            request,
            {
                "title": gettext("Likely duplicate residents"),
                "intro": gettext(
                    "Records with the same citizen ID, or the same name and birth year in one household. "
                    "Open both before merging: the merge keeps the history of both and cannot be undone."
                ),
                "area_form": True,
                "area_code": code,
                "groups": [self._group(g, may_merge) for g in groups],
            },
        )

    def _group(self, group: DuplicateGroup, may_merge: bool) -> dict[str, Any]:
        keep = group.keep_candidate
        rows = []
        for resident in group.residents:
            merge_url = None
            if may_merge and resident.pk != keep.pk:
                merge_url = (
                    reverse("admin:fieldteam_resident_merge")
                    + "?"
                    + urlencode({"keep": keep.pk, "duplicate": resident.pk})
                )
            rows.append(
                {
                    "cells": _cells(resident),
                    "change_url": reverse("admin:fieldteam_resident_change", args=[resident.pk]),
                    "merge_url": merge_url,
                    "merge_label": gettext("Merge into the kept record"),
                }
            )
        reason = (
            gettext("Same citizen ID")
            if group.reason == SAME_CITIZEN_ID
            else gettext("Same name and birth year in one household")
        )
        rows.sort(key=lambda r: r["merge_url"] is not None)
        return {"reason": reason, "rows": rows}

    def merge_view(self, request: HttpRequest) -> HttpResponse:
        if not self.may_write(request):
            raise PermissionDenied
        data = request.POST if request.method == "POST" else request.GET
        visible = self.get_queryset(request)
        keep = visible.filter(pk=_int(data.get("keep"))).select_related("village", "household").first()
        duplicate = visible.filter(pk=_int(data.get("duplicate"))).select_related("village", "household").first()
        changelist = reverse("admin:fieldteam_resident_changelist")
        if keep is None or duplicate is None or keep.pk == duplicate.pk:
            self.message_user(request, gettext("Choose two residents of your area."), messages.ERROR)
            return HttpResponseRedirect(changelist)
        if request.method == "POST":
            try:
                kept = merge_residents(actor=staff_user(request), keep=keep, duplicate=duplicate)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return HttpResponseRedirect(changelist)
            self.log_change(
                request, kept, gettext("Merged the duplicate record #%(pk)s into this one.") % {"pk": duplicate.pk}
            )
            self.message_user(
                request, gettext("The records were merged; the kept record now holds both histories."), messages.SUCCESS
            )
            return HttpResponseRedirect(reverse("admin:fieldteam_resident_change", args=[kept.pk]))
        rows = [
            {
                "cells": _cells(keep),
                "change_url": reverse("admin:fieldteam_resident_change", args=[keep.pk]),
                "merge_url": None,
            },
            {
                "cells": _cells(duplicate),
                "change_url": reverse("admin:fieldteam_resident_change", args=[duplicate.pk]),
                "merge_url": None,
            },
        ]
        rows[1]["merge_label"] = ""
        return self._page(
            request,
            {
                "title": gettext("Merge two records of one resident"),
                "intro": gettext(
                    "The second record's adoptions, assistance logs, training attendance and consent records move to "
                    "the first, which also takes any citizen ID or phone it lacks; the second is marked as merged. "
                    "The counts follow."
                ),
                "groups": [{"reason": gettext("Kept record, then the duplicate"), "rows": rows}],
                "confirm": True,
                "keep_id": keep.pk,
                "duplicate_id": duplicate.pk,
                "swap_url": reverse("admin:fieldteam_resident_merge")
                + "?"
                + urlencode({"keep": duplicate.pk, "duplicate": keep.pk}),
            },
        )

    @staticmethod
    def merge_selected(model_admin: Any, request: HttpRequest, queryset: QuerySet[Resident]) -> HttpResponse | None:
        residents = list(queryset.order_by("pk")[:3])
        if len(residents) != 2:
            model_admin.message_user(request, gettext("Select exactly two residents to merge."), messages.WARNING)
            return None
        keep = DuplicateGroup("selected", residents).keep_candidate
        duplicate = residents[1] if keep.pk == residents[0].pk else residents[0]
        return HttpResponseRedirect(
            reverse("admin:fieldteam_resident_merge") + "?" + urlencode({"keep": keep.pk, "duplicate": duplicate.pk})
        )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
