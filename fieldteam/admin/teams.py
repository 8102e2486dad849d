"""Teams, their memberships, and staff area roles."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PROVINCE_KINDS, AreaRoleKind
from fieldteam.models import AreaRole, Membership, Team

from .base import AREA_FILTERS, ScopedModelAdmin, ScopedTabularInline
from .imports import ImportExportAdminMixin


def actor_role_kinds(request: HttpRequest) -> set[str]:
    """The kinds of area role the requesting user holds (cached on the request)."""
    cached = getattr(request, "_fieldteam_role_kinds", None)
    if cached is None:
        cached = set(AreaRole.objects.filter(user=request.user).values_list("role", flat=True))  # type: ignore[misc]
        request._fieldteam_role_kinds = cached  # type: ignore[attr-defined]
    return cached


def grantable_roles(request: HttpRequest) -> list[tuple[str, Any]]:
    """Area roles the user may hand out: a commune officer cannot make province officers."""
    if request.user.is_superuser or AreaRoleKind.PROVINCE_OFFICER in actor_role_kinds(request):
        return list(AreaRoleKind.choices)
    return [c for c in AreaRoleKind.choices if c[0] != AreaRoleKind.PROVINCE_OFFICER]


class OpenFilter(admin.SimpleListFilter):
    title = _("current")
    parameter_name = "open"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        return [("yes", _("Current")), ("no", _("Ended"))]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
        if self.value() == "yes":
            return queryset.filter(ended_on__isnull=True)
        if self.value() == "no":
            return queryset.filter(ended_on__isnull=False)
        return queryset


class MembershipInline(ScopedTabularInline):
    model = Membership
    scope_area_field = "team__areas"
    scope_through_many = True
    fields = ("user", "role", "affiliation", "started_on", "ended_on")
    autocomplete_fields = ("user",)
    extra = 0
    ordering = ("ended_on", "role", "started_on")


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ("name", "areas", "founded_on", "decision_ref", "is_active")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        areas = list(data.get("areas") or [])
        provinces = {a.pk if a.kind in PROVINCE_KINDS else a.province_id for a in areas}
        if len(provinces) > 1:
            self.add_error("areas", _("A team serves areas of one province only."))
        elif provinces:
            # The team carries its province like every table that grows with the population.
            self.instance.province_id = provinces.pop()
        return data


@admin.register(Team)
class TeamAdmin(ImportExportAdminMixin, ScopedModelAdmin):
    form = TeamForm
    import_kind = "teams"
    export_kinds = ("teams",)
    scope_area_field = "areas"
    scope_through_many = True
    list_display = ("name", "areas_served", "province", "member_count", "founded_on", "is_active")
    list_select_related = ("province",)
    list_filter = ("is_active", *AREA_FILTERS)
    search_fields = ("name",)
    autocomplete_fields = ("areas",)
    date_hierarchy = "founded_on"
    inlines = (MembershipInline,)
    readonly_fields = ("province", "created_at")
    fields = ("name", "areas", "founded_on", "decision_ref", "is_active", "province", "created_at")
    show_facets = admin.ShowFacets.NEVER

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return (
            super()
            .get_queryset(request)
            .annotate(open_members=Count("memberships", filter=Q(memberships__ended_on__isnull=True)))
            .prefetch_related("areas")
        )

    @admin.display(description=_("areas served"))
    def areas_served(self, obj: Team) -> str:
        return ", ".join(a.name for a in obj.areas.all())

    @admin.display(description=_("members"), ordering="open_members")
    def member_count(self, obj: Team) -> int:
        return obj.open_members  # type: ignore[attr-defined]


@admin.register(Membership)
class MembershipAdmin(ImportExportAdminMixin, ScopedModelAdmin):
    import_kind = "members"
    export_kinds = ("members",)
    scope_area_field = "team__areas"
    scope_through_many = True
    list_display = ("user", "team", "role", "affiliation", "started_on", "ended_on")
    list_select_related = ("user", "team")
    list_filter = (OpenFilter, "role", "affiliation", *AREA_FILTERS)
    search_fields = ("user__username", "user__first_name", "user__last_name", "team__name")
    autocomplete_fields = ("team", "user")
    date_hierarchy = "started_on"
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER


class AreaRoleForm(forms.ModelForm):
    request: HttpRequest

    class Meta:
        model = AreaRole
        fields = ("user", "area", "role")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "role" in self.fields:
            self.fields["role"].choices = [("", "---------"), *grantable_roles(self.request)]


def _bound_area_role_form(request: HttpRequest) -> type[AreaRoleForm]:
    return type(AreaRoleForm.__name__, (AreaRoleForm,), {"request": request})


class AreaRoleInline(ScopedTabularInline):
    """A user's area roles; under a user, only the roles within the actor's own areas are shown."""

    model = AreaRole
    scope_area_field = "area"
    fields = ("area", "role", "granted_on")
    readonly_fields = ("granted_on",)
    autocomplete_fields = ("area",)
    extra = 0

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        return super().get_formset(request, obj, form=_bound_area_role_form(request), **kwargs)


@admin.register(AreaRole)
class AreaRoleAdmin(ScopedModelAdmin):
    form = AreaRoleForm
    scope_area_field = "area"
    list_display = ("user", "role", "area", "granted_on")
    list_select_related = ("user", "area")
    list_filter = ("role", *AREA_FILTERS)
    search_fields = ("user__username", "user__first_name", "user__last_name", "area__name")
    autocomplete_fields = ("user", "area")
    readonly_fields = ("granted_on",)
    show_facets = admin.ShowFacets.NEVER

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):  # type: ignore[no-untyped-def]
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def may_write_row(self, request: HttpRequest, obj: AreaRole) -> bool:
        if request.user.is_superuser:
            return True
        return obj.role in dict(grantable_roles(request)) and obj.user_id != request.user.pk
