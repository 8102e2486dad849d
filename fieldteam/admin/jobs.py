"""Background jobs (reports, imports, exports) and sync receipts: read-only records."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fieldteam.models import BackgroundJob, SyncReceipt
from fieldteam.selectors.scope import Scope

from .base import ScopedModelAdmin


class RecordAdmin(ScopedModelAdmin):
    can_add_rows = False
    can_change_rows = False
    can_delete_rows = False


@admin.register(BackgroundJob)
class BackgroundJobAdmin(RecordAdmin):
    scope_area_field = "area"
    list_display = ("created_at", "kind", "name", "area", "status", "progress", "created_by", "download")
    list_filter = ("kind", "status")
    list_select_related = ("area", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "name",
        "area",
        "status",
        "total",
        "processed",
        "summary",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # A job without an area (e.g. a national export) is seen by whoever started it only.
        return super().filter_in_scope(scope, queryset.exclude(area__isnull=True)) | queryset.filter(
            area__isnull=True, created_by_id=getattr(self, "_request_user_id", None)
        )

    def get_queryset(self, request):  # type: ignore[no-untyped-def]
        self._request_user_id = request.user.pk
        return super().get_queryset(request)

    @admin.display(description=_("progress"))
    def progress(self, obj: BackgroundJob) -> str:
        return f"{obj.percent}%" if obj.percent is not None else "–"

    @admin.display(description=_("file"))
    def download(self, obj: BackgroundJob) -> str:
        if not obj.result_file:
            return "–"
        return format_html('<a href="{}">{}</a>', obj.result_file.url, _("Download"))


@admin.register(SyncReceipt)
class SyncReceiptAdmin(RecordAdmin):
    scope_area_field = "province"
    list_display = ("received_at", "kind", "client_id", "object_id", "member")
    list_filter = ("kind",)
    list_select_related = ("member",)
    search_fields = ("=client_id", "=object_id")
    fields = ("client_id", "kind", "object_id", "content_hash", "member", "province", "received_at")
    readonly_fields = fields
