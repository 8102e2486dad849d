"""The month sign-off in the admin: submit (the add form), approve, return and unlock (actions), all
through ``fieldteam.services.approvals``, which checks who may and refuses in the user's language."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fieldteam.models import MonthApproval
from fieldteam.services import approvals

from .base import ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm
from .typed import staff_user


class SubmitMonthForm(ServiceModelForm):
    """Submitting (or submitting again, after a return) a commune's month: ``approvals.submit_month``."""

    class Meta:
        model = MonthApproval
        fields = ("area", "month", "note")

    def perform(self) -> MonthApproval:
        data = self.cleaned_data
        return approvals.submit_month(actor=self.actor, area=data["area"], month=data["month"], note=data.get("note", ""))


class DecisionForm(ActionForm):
    text = forms.CharField(
        label=_("Comment or reason"),
        required=False,
        max_length=1000,
        help_text=_("Required to return a month or to unlock it."),
    )


@admin.register(MonthApproval)
class MonthApprovalAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = SubmitMonthForm
    action_form = DecisionForm
    scope_area_field = "area"
    can_change_rows = False  # decisions are the actions; a returned month is submitted again by "add"
    can_delete_rows = False
    list_display = ("area", "month", "status", "submitted_by", "submitted_at", "decided_by", "decided_at", "unlocked_at")
    list_select_related = ("area", "submitted_by", "decided_by")
    list_filter = ("status", "month")
    search_fields = ("area__name", "area__code")
    date_hierarchy = "month"
    autocomplete_fields = ("area",)
    readonly_fields = (
        "province",
        "status",
        "comment",
        "submitted_by",
        "submitted_at",
        "decided_by",
        "decided_at",
        "unlocked_by",
        "unlocked_at",
        "unlock_reason",
    )
    actions = ["approve", "return_to_area", "unlock"]

    def get_fields(self, request: HttpRequest, obj: MonthApproval | None = None) -> tuple[str, ...]:
        main = ("area", "month", "note")
        return main if obj is None else (*main, *self.readonly_fields)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[MonthApproval], decide: Callable[..., MonthApproval], done: str
    ) -> None:
        """One decision on every selected row, in one transaction: a refusal leaves them all as they were."""
        text = request.POST.get("text", "")
        rows = list(queryset.select_related("area").order_by("area__path"))
        try:
            with transaction.atomic():
                for row in rows:
                    decide(staff_user(request), row, text)
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, message, messages.ERROR)
            return
        self.message_user(request, done % {"count": len(rows)}, messages.SUCCESS)

    @admin.action(description=_("Approve the selected months (they are locked)"))
    def approve(self, request: HttpRequest, queryset: QuerySet[MonthApproval]) -> None:
        self._decide(
            request,
            queryset,
            lambda actor, row, text: approvals.approve_month(actor=actor, area=row.area, month=row.month, comment=text),
            ngettext("%(count)d month approved.", "%(count)d months approved.", queryset.count()),
        )

    @admin.action(description=_("Return the selected months to their area, with the comment"))
    def return_to_area(self, request: HttpRequest, queryset: QuerySet[MonthApproval]) -> None:
        self._decide(
            request,
            queryset,
            lambda actor, row, text: approvals.return_month(actor=actor, area=row.area, month=row.month, comment=text),
            ngettext("%(count)d month returned.", "%(count)d months returned.", queryset.count()),
        )

    @admin.action(description=_("Unlock the selected approved months, with the reason"))
    def unlock(self, request: HttpRequest, queryset: QuerySet[MonthApproval]) -> None:
        self._decide(
            request,
            queryset,
            lambda actor, row, text: approvals.unlock_month(actor=actor, area=row.area, month=row.month, reason=text),
            ngettext("%(count)d month unlocked.", "%(count)d months unlocked.", queryset.count()),
        )
