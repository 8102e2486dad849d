"""Reports by email (issue 17): an officer's or viewer's own subscriptions, and what became of each report.

Subscribing (the add form) and unsubscribing (delete) go through ``fieldteam.services.subscriptions``,
which checks who may; a subscription is not edited (unsubscribe and subscribe again). Each user
sees their own subscriptions, a superuser everyone's, each with its deliveries (read only).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from fieldteam.models import ReportDelivery, ReportSubscription, User
from fieldteam.services.subscriptions import subscribe, unsubscribe

from .base import ReadOnlyTabularInline, ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm


class ReportSubscriptionForm(ServiceModelForm):
    """Saved by ``fieldteam.services.subscriptions.subscribe``, for the signed-in user."""

    class Meta:
        model = ReportSubscription
        fields = ("area", "period_kind", "format")

    def perform(self) -> ReportSubscription:
        data = self.cleaned_data
        return subscribe(actor=self.actor, area=data.get("area"), period_kind=data["period_kind"], fmt=data["format"])


class ReportDeliveryInline(ReadOnlyTabularInline):
    model = ReportDelivery
    fields = ("period_start", "status", "attempts", "attempted_at", "sent_at", "recipients", "error")
    readonly_fields = fields
    show_change_link = False


@admin.register(ReportSubscription)
class ReportSubscriptionAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = ReportSubscriptionForm
    scope_area_field = "area"
    can_change_rows = False  # unsubscribe and subscribe again
    list_display = ("area", "period_kind", "format", "user", "created_at")
    list_select_related = ("area", "user")
    list_filter = ("period_kind", "format")
    search_fields = ("area__name", "area__code")
    autocomplete_fields = ("area",)
    inlines = [ReportDeliveryInline]

    def get_fields(self, request: HttpRequest, obj: ReportSubscription | None = None) -> tuple[str, ...]:
        main = ("area", "period_kind", "format")
        return main if obj is None else (*main, "user", "created_at")

    def get_inlines(self, request: HttpRequest, obj: Any) -> list[type[admin.options.InlineModelAdmin[Any, Any]]]:
        return list(self.inlines) if obj is not None else []  # nothing has been sent for a subscription being made

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("user", "created_at") if obj is not None else ()

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReportSubscription]:
        own = super().get_queryset(request)
        # A subscription is its subscriber's own setting: others see only theirs.
        return own if request.user.is_superuser else own.filter(user_id=request.user.pk)

    def may_write(self, request: HttpRequest) -> bool:
        # A viewer subscribes too: receiving a report changes nothing in the area.
        return self.admits(request)

    def may_write_row(self, request: HttpRequest, obj: ReportSubscription) -> bool:
        return request.user.is_superuser or obj.user_id == request.user.pk

    def delete_row(self, *, actor: User, obj: ReportSubscription) -> None:
        unsubscribe(actor=actor, subscription=obj)


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(ScopedModelAdmin):
    """Every report sent, failed or skipped, for the system's administrators (officers see theirs under
    their subscription). Written only by the delivery: read only here."""

    superuser_only = True
    scope_area_field = "subscription__area"
    can_add_rows = can_change_rows = can_delete_rows = False
    list_display = ("subscription", "period_start", "status", "attempts", "attempted_at", "sent_at")
    list_select_related = ("subscription__area",)
    list_filter = ("status", "period_start")
    date_hierarchy = "period_start"
