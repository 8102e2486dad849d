"""Assistance logs and training sessions: append-only events, read-only here (the API creates them)."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.models import AssistanceItem, AssistanceLog, TrainingAttendance, TrainingSession

from .base import AREA_FILTERS, PopulationAdmin, ReadOnlyTabularInline
from .imports import ImportExportAdminMixin

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _Attendees(TypedDict):
    attendees: int  # annotated by TrainingSessionAdmin.get_queryset


class EventAdmin(PopulationAdmin):
    """Events are evidence and feed the roll-up: nobody adds, edits or deletes them here."""

    can_add_rows = False
    can_change_rows = False
    can_delete_rows = False


class AssistanceItemInline(ReadOnlyTabularInline):
    model = AssistanceItem
    fields = ("capability", "outcome", "reason")
    readonly_fields = fields
    show_change_link = False


@admin.register(AssistanceLog)
class AssistanceLogAdmin(ImportExportAdminMixin, EventAdmin):
    export_kinds = ("assistance_logs",)
    list_display = ("occurred_at", "subject", "village", "team", "member", "channel", "recorded_at")
    list_select_related = ("resident", "household", "village", "team", "member")
    list_filter = ("channel", *AREA_FILTERS)
    search_fields = ("resident__full_name", "household__head_name", "team__name", "member__username")
    date_hierarchy = "occurred_at"
    fields = (
        "occurred_at",
        "recorded_at",
        "channel",
        "resident",
        "household",
        "village",
        "team",
        "member",
        "training_session",
        "note",
        "province",
    )
    readonly_fields = fields
    inlines = (AssistanceItemInline,)

    @admin.display(description=_("helped"))
    def subject(self, obj: AssistanceLog) -> str:
        return str(obj.resident or obj.household)


@admin.register(AssistanceItem)
class AssistanceItemAdmin(EventAdmin):
    scope_area_field = "log__village"
    superuser_only = True  # officers read the items on their log's page
    list_display = ("log", "capability", "outcome", "reason")
    list_select_related = ("log", "log__resident", "log__household", "capability")
    list_filter = ("outcome", "reason", "capability", *AREA_FILTERS)
    fields = ("log", "capability", "outcome", "reason", "province")
    readonly_fields = fields


class AttendanceInline(ReadOnlyTabularInline):
    model = TrainingAttendance
    fields = ("resident", "completed")
    readonly_fields = fields
    show_change_link = False  # the attendance table is for superusers only


@admin.register(TrainingSession)
class TrainingSessionAdmin(EventAdmin):
    list_display = ("topic", "started_at", "village", "team", "trainer", "capability", "attendee_count")
    list_select_related = ("village", "team", "trainer", "capability")
    list_filter = ("capability", *AREA_FILTERS)
    search_fields = ("topic", "team__name")
    date_hierarchy = "started_at"
    fields = ("topic", "started_at", "ended_at", "village", "team", "trainer", "capability", "recorded_at", "province")
    readonly_fields = fields
    inlines = (AttendanceInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[TrainingSession]:
        return super().get_queryset(request).annotate(attendees=Count("attendances"))

    @admin.display(description=_("attendees"), ordering="attendees")
    def attendee_count(self, obj: WithAnnotations[TrainingSession, _Attendees]) -> int:
        return obj.attendees


@admin.register(TrainingAttendance)
class TrainingAttendanceAdmin(EventAdmin):
    scope_area_field = "session__village"
    superuser_only = True  # officers read attendance on the session's page
    list_display = ("resident", "session", "completed")
    list_select_related = ("resident", "session")
    list_filter = ("completed", *AREA_FILTERS)
    search_fields = ("resident__full_name", "session__topic")
    fields = ("session", "resident", "completed", "province")
    readonly_fields = fields
