"""The audit trail in admin: read-only for everyone, scoped to the officer's subtree."""

from __future__ import annotations

from typing import Any

from auditlog.mixins import LogEntryAdminMixin
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.admin.base import is_admin_staff
from fieldteam.models import AuditEntry
from fieldteam.selectors.audit import audit_trail_visible

from .typed import staff_user

# django-auditlog's own labels ship without Vietnamese: the trail names its actions itself.
ACTION_LABELS = {
    AuditEntry.Action.CREATE: _("created"),
    AuditEntry.Action.UPDATE: _("changed"),
    AuditEntry.Action.DELETE: _("deleted"),
    AuditEntry.Action.ACCESS: _("viewed"),
}


class ActionFilter(admin.SimpleListFilter):
    title = _("action")
    parameter_name = "action"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[Any, Any]]:
        return list(ACTION_LABELS.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        return queryset.filter(action=self.value()) if self.value() is not None else queryset


# django-auditlog registers its own admin for the entry model; this one replaces it.
if admin.site.is_registered(AuditEntry):
    admin.site.unregister(AuditEntry)


@admin.register(AuditEntry)
class AuditEntryAdmin(LogEntryAdminMixin, admin.ModelAdmin):
    list_display = ("created", "resource_url", "action_label", "msg_short", "user_url", "area")
    list_filter = (ActionFilter, "content_type")
    list_select_related = ("content_type", "actor", "area")
    # Who did what: by user name or the described object (``Resident #12``), never by value.
    search_fields = ("actor__username", "object_repr", "object_pk")
    date_hierarchy = "timestamp"
    readonly_fields = ("created", "resource_url", "action_label", "user_url", "msg", "area", "additional_data", "cid")
    fields = readonly_fields
    show_full_result_count = False

    @admin.display(description=_("action"), ordering="action")
    def action_label(self, obj: AuditEntry) -> Any:
        return ACTION_LABELS.get(obj.action, obj.action)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return audit_trail_visible(user=staff_user(request))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin_staff(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
