"""Teams, their memberships, and staff area roles."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict, cast

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AreaRoleKind
from fieldteam.models import AreaRole, Membership, Team, User
from fieldteam.services import teams

from .base import AREA_FILTERS, ScopedModelAdmin, ScopedTabularInline, ServiceFormAdminMixin, ServiceModelForm
from .imports import ImportExportAdminMixin
from .typed import choice_field, staff_user

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _OpenMembers(TypedDict):
    open_members: int  # annotated by TeamAdmin.get_queryset



#: Where ``actor_role_kinds`` caches its answer on the request.
_ROLE_KINDS_ATTRIBUTE = "_fieldteam_role_kinds"


def actor_role_kinds(request: HttpRequest) -> set[str]:
    """The kinds of area role the requesting user holds (cached on the request)."""
    cached = getattr(request, _ROLE_KINDS_ATTRIBUTE, None)
    if cached is None:
        cached = set(AreaRole.objects.filter(user=staff_user(request)).values_list("role", flat=True))
        setattr(request, _ROLE_KINDS_ATTRIBUTE, cached)
    return cached


def grantable_roles(request: HttpRequest) -> list[tuple[str, Any]]:
    """Area roles the user may hand out: a commune officer cannot make province officers."""
    if request.user.is_superuser or AreaRoleKind.PROVINCE_OFFICER in actor_role_kinds(request):
        return list(AreaRoleKind.choices)
    return [c for c in AreaRoleKind.choices if c[0] != AreaRoleKind.PROVINCE_OFFICER]


class OpenFilter(admin.SimpleListFilter):
    title = _("current")
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return [("yes", _("Current")), ("no", _("Ended"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
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


class TeamForm(ServiceModelForm):
    """Saved by ``fieldteam.services.teams`` (one province, areas the actor may write in)."""

    class Meta:
        model = Team
        fields = ("name", "areas", "founded_on", "decision_ref", "is_active")

    def perform(self) -> Team:
        data = self.cleaned_data
        values = {name: data[name] for name in ("name", "founded_on", "decision_ref", "is_active") if name in data}
        areas = list(data["areas"]) if "areas" in data else None
        if self.adding:
            return teams.create_team(actor=self.actor, areas=areas or [], **values)
        return teams.update_team(actor=self.actor, team=cast("Team", self.stored), areas=areas, **values)


class TeamServicesAdminMixin(ServiceFormAdminMixin):
    """Memberships and area roles edited inline are saved through ``fieldteam.services.teams``.

    ``save_formset`` (a public ModelAdmin hook) takes the formset's rows unsaved and hands each to
    its service; a refusal rolls the whole save back (``ServiceFormAdminMixin``).
    """

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if formset.model is Membership:
            _save_memberships(request, formset)
        elif formset.model is AreaRole:
            _save_area_roles(request, formset)
        else:
            super().save_formset(request, form, formset, change)


def _save_memberships(request: HttpRequest, formset: Any) -> None:
    actor = staff_user(request)
    rows = formset.save(commit=False)
    for row in formset.deleted_objects:
        teams.delete_membership(actor=actor, membership=row)
    for row in rows:
        values = {"role": row.role, "affiliation": row.affiliation, "started_on": row.started_on}
        if row in formset.new_objects:
            saved = teams.add_membership(actor=actor, team=row.team, user=row.user, ended_on=row.ended_on, **values)
            row.pk = saved.pk
        else:
            teams.update_membership(
                actor=actor, membership=row, team=row.team, user=row.user, ended_on=row.ended_on, **values
            )


def _save_area_roles(request: HttpRequest, formset: Any) -> None:
    actor = staff_user(request)
    rows = formset.save(commit=False)
    for row in formset.deleted_objects:
        teams.revoke_area_role(actor=actor, area_role=row)
    for row in rows:
        if row in formset.new_objects:
            row.pk = teams.grant_area_role(actor=actor, user=row.user, area=row.area, role=row.role).pk
        else:
            teams.change_area_role(actor=actor, area_role=row, user=row.user, area=row.area, role=row.role)


@admin.register(Team)
class TeamAdmin(ImportExportAdminMixin, TeamServicesAdminMixin, ScopedModelAdmin):
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

    def delete_row(self, *, actor: User, obj: Team) -> None:
        teams.delete_team(actor=actor, team=obj)

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
    def member_count(self, obj: WithAnnotations[Team, _OpenMembers]) -> int:
        return obj.open_members


class MembershipForm(ServiceModelForm):
    """Saved by ``fieldteam.services.teams``."""

    class Meta:
        model = Membership
        fields = ("team", "user", "role", "affiliation", "started_on", "ended_on")

    def perform(self) -> Membership:
        data = self.cleaned_data
        values = {name: data[name] for name in ("role", "affiliation", "started_on") if name in data}
        if self.adding:
            return teams.add_membership(
                actor=self.actor, team=data["team"], user=data["user"], ended_on=data.get("ended_on"), **values
            )
        stored = cast("Membership", self.stored)
        return teams.update_membership(
            actor=self.actor,
            membership=stored,
            team=data.get("team"),
            user=data.get("user"),
            ended_on=data.get("ended_on", stored.ended_on),
            **values,
        )


@admin.register(Membership)
class MembershipAdmin(ImportExportAdminMixin, TeamServicesAdminMixin, ScopedModelAdmin):
    form = MembershipForm
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

    def delete_row(self, *, actor: User, obj: Membership) -> None:
        teams.delete_membership(actor=actor, membership=obj)


class AreaRoleForm(forms.ModelForm):
    request: HttpRequest

    class Meta:
        model = AreaRole
        fields = ("user", "area", "role")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "role" in self.fields:
            choice_field(self, "role").choices = [("", "---------"), *grantable_roles(self.request)]


class AreaRoleAdminForm(ServiceModelForm, AreaRoleForm):
    """Saved by ``fieldteam.services.teams`` (who may grant which role where, never one's own)."""

    class Meta(AreaRoleForm.Meta):
        pass

    def perform(self) -> AreaRole:
        data = self.cleaned_data
        if self.adding:
            return teams.grant_area_role(actor=self.actor, user=data["user"], area=data["area"], role=data["role"])
        stored = cast("AreaRole", self.stored)
        return teams.change_area_role(
            actor=self.actor,
            area_role=stored,
            user=data.get("user", stored.user),
            area=data.get("area", stored.area),
            role=data.get("role", stored.role),
        )


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

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> type[BaseInlineFormSet[Any, Any, Any]]:
        return super().get_formset(request, obj, form=_bound_area_role_form(request), **kwargs)


@admin.register(AreaRole)
class AreaRoleAdmin(TeamServicesAdminMixin, ScopedModelAdmin):
    form = AreaRoleAdminForm
    scope_area_field = "area"
    list_display = ("user", "role", "area", "granted_on")
    list_select_related = ("user", "area")
    list_filter = ("role", *AREA_FILTERS)
    search_fields = ("user__username", "user__first_name", "user__last_name", "area__name")
    autocomplete_fields = ("user", "area")
    readonly_fields = ("granted_on",)
    show_facets = admin.ShowFacets.NEVER

    def delete_row(self, *, actor: User, obj: AreaRole) -> None:
        teams.revoke_area_role(actor=actor, area_role=obj)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        return super().get_form(request, obj, change=change, **kwargs)

    def may_write_row(self, request: HttpRequest, obj: AreaRole) -> bool:
        if request.user.is_superuser:
            return True
        return obj.role in dict(grantable_roles(request)) and obj.user_id != request.user.pk
