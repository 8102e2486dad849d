"""Data-subject requests in the admin: a resident's data as a workbook, and their anonymisation.

Both are actions on the resident list that call ``fieldteam.services.privacy``, which decides who
may (officers of the area and superusers) and records the act in the audit trail. Anonymising is
irreversible, so the action first asks for confirmation and the reason, as Django's own
"delete selected" does.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from fieldteam.models import Resident
from fieldteam.selectors.person_data import export_person_data
from fieldteam.services import privacy

from .base import AdminMixinBase
from .typed import staff_user

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# One request anonymises at most this many: each is its own transaction with its own trail entries.
MAX_ANONYMISE = 100

CONFIRM_PAGE = "admin/fieldteam/anonymise_confirm.html"


def _errors(exc: ValidationError) -> str:
    return " ".join(exc.messages)


class PrivacyAdminMixin(AdminMixinBase):
    """For ``ResidentAdmin``: "Export personal data (XLSX)" and "Anonymise" actions, for writers only."""

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        if self.may_write(request):
            actions["export_personal_data"] = (
                PrivacyAdminMixin.export_personal_data,
                "export_personal_data",
                _("Export personal data (XLSX)"),
            )
            actions["anonymise_selected"] = (
                PrivacyAdminMixin.anonymise_selected,
                "anonymise_selected",
                _("Anonymise (erase name and identifiers, keep the counts)"),
            )
        return actions

    def export_personal_data(self, request: HttpRequest, queryset: QuerySet[Resident]) -> HttpResponse | None:
        residents = list(queryset[:2])
        if len(residents) != 1:
            self.message_user(
                request, gettext("Select exactly one resident to export their data."), messages.WARNING
            )
            return None
        try:
            data = export_person_data(actor=staff_user(request), resident=residents[0])
        except ValidationError as exc:
            self.message_user(request, _errors(exc), messages.ERROR)
            return None
        response = HttpResponse(privacy.person_data_xlsx(data), content_type=XLSX_TYPE)
        response["Content-Disposition"] = f'attachment; filename="personal-data-{residents[0].pk}.xlsx"'
        response["Cache-Control"] = "no-store"
        return response

    def anonymise_selected(self, request: HttpRequest, queryset: QuerySet[Resident]) -> HttpResponse | None:
        residents = list(queryset.select_related("village").order_by("pk")[: MAX_ANONYMISE + 1])
        if len(residents) > MAX_ANONYMISE:
            self.message_user(
                request,
                gettext("Select at most %(count)d residents at a time.") % {"count": MAX_ANONYMISE},
                messages.WARNING,
            )
            return None
        reason = (request.POST.get("reason") or "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            return self._confirm_page(request, residents, reason)
        done = 0
        for resident in residents:
            try:
                privacy.anonymise_resident(actor=staff_user(request), resident=resident, reason=reason)
            except ValidationError as exc:
                self.message_user(request, f"#{resident.pk}: {_errors(exc)}", messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(
                request,
                ngettext("%(count)d resident anonymised.", "%(count)d residents anonymised.", done) % {"count": done},
                messages.SUCCESS,
            )
        return None

    def _confirm_page(self, request: HttpRequest, residents: list[Resident], reason: str) -> TemplateResponse:
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": Resident._meta,
            "title": gettext("Anonymise residents"),
            "home": gettext("Home"),
            "intro": gettext(
                "Their names, identifiers, ethnicity and the notes of their assistance logs will be erased for good. "
                "They stay counted in their village."
            ),
            "residents": residents,
            "checkbox": helpers.ACTION_CHECKBOX_NAME,
            "reason_label": gettext("Reason (kept in the audit trail)"),
            "reason": reason,
            "submit": gettext("Yes, anonymise"),
        }
        return TemplateResponse(request, CONFIRM_PAGE, context)
