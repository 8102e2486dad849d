"""The area tree: a plain ModelAdmin over treebeard's materialised paths.

Not treebeard's ``TreeAdmin``: its move form renders every node of the tree in one select (about
100,000 villages nationally). Here the list is in tree order with a parent filter and links to
children, the parent is picked through autocomplete, and nodes are created and moved through
``fieldteam.services.areas`` (``create_area``, ``update_area``), which decide who may.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS, AreaKind
from fieldteam.errors import field_error
from fieldteam.models import Area, Plan, ReportSubscription, Team, User
from fieldteam.permissions import Scope
from fieldteam.services.areas import create_area, delete_village, update_area
from fieldteam.services.indicators import apply_plan_targets

from .base import (
    CommuneFilter,
    ProvinceFilter,
    ScopedModelAdmin,
    ServiceFormAdminMixin,
    ServiceModelForm,
    request_scope,
)
from .imports import ImportExportAdminMixin
from .indicators import province_officer_paths
from .typed import choice_field, model_choice_field, staff_user

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec

PARENT_KINDS = frozenset(AreaKind) - VILLAGE_KINDS
# Households may hang off a commune that keeps no village list (see services.people).
HOUSEHOLD_PLACE_KINDS = VILLAGE_KINDS | COMMUNE_KINDS


class ParentFilter(admin.SimpleListFilter):
    """``?parent=<id>``: the children of one area (reached from the "sub-areas" links)."""

    title = _("parent area")
    parameter_name = "parent"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        raw = request.GET.get(self.parameter_name)
        if raw is None:
            return []
        self.parent = model_admin.get_queryset(request).filter(pk=int(raw) if raw.isdigit() else None).first()
        # Kept even when unknown (a filter without choices is not applied): an unknown parent shows nothing.
        return [(raw, self.parent.name if self.parent else _("unknown area"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() is None:
            return queryset
        if self.parent is None:
            return queryset.none()
        return queryset.filter(path__startswith=self.parent.path, depth=self.parent.depth + 1)


class AreaForm(ServiceModelForm):
    parent = forms.ModelChoiceField(
        label=_("parent area"),
        queryset=Area.objects.none(),
        required=False,
        help_text=_("The commune (or other area) this one lies in. Empty only for a province."),
    )
    service_error_aliases = {"commune": "parent"}

    class Meta:
        model = Area
        fields = ("parent", "code", "name", "kind", "kind_label", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parents = request_scope(self.request).filter_areas(Area.objects.filter(kind__in=PARENT_KINDS))
        if "parent" in self.fields:
            field = model_choice_field(self, "parent")
            field.queryset = parents
            # Area.province is not in the form (it is derived); its autocomplete URL is reused for
            # the parent picker, and AreaAdmin.limit_related_choices offers parent kinds for it.
            field.widget = AutocompleteSelect(Area._meta.get_field("province"), self.admin_site, choices=field.choices)
            if self.instance.pk:
                field.initial = Area.objects.get_parent(self.instance)
        if "kind" in self.fields and not self.request.user.is_superuser:
            # Provinces and communes come from the official list (load_admin_units); staff add villages.
            choice_field(self, "kind").choices = [c for c in AreaKind.choices if c[0] in VILLAGE_KINDS]

    def perform(self) -> Area:
        data = self.cleaned_data
        fields = {name: data[name] for name in ("code", "name", "kind", "kind_label", "is_active") if name in data}
        if self.adding:
            return create_area(actor=self.actor, parent=data.get("parent"), **fields)
        parent = data.get("parent") if "parent" in self.changed_data else None
        if "parent" in self.changed_data and parent is None:
            raise field_error("parent", _("Choose the area this one lies in."), code="required")
        return update_area(actor=self.actor, area=cast("Area", self.stored), parent=parent, **fields)


class ApplyPlanForm(forms.Form):
    """The plan and the date it is in force from, for the chosen areas."""

    plan = forms.ModelChoiceField(label=_("plan"), queryset=Plan.objects.none())
    effective_from = forms.DateField(
        label=_("in force from"),
        input_formats=["%d/%m/%Y", "%Y-%m-%d"],  # as Vietnamese write it, whatever the admin's language
        help_text=_("A newer plan's targets replace an older plan's from this date (dd/mm/yyyy)."),
    )

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plans = Plan.objects.select_related("province")
        if not request.user.is_superuser:
            plans = plans.filter(province__path__in=[p[: Area.steplen] for p in province_officer_paths(request)])
        model_choice_field(self, "plan").queryset = plans


@admin.register(Area)
class AreaAdmin(ImportExportAdminMixin, ServiceFormAdminMixin, ScopedModelAdmin):
    form = AreaForm
    import_kind = "villages"
    export_kinds = ("villages",)
    scope_area_field = ""
    list_display = ("tree_name", "code", "kind", "parent_name", "sub_areas", "is_active")
    list_display_links = ("tree_name",)
    list_filter = ("kind", ProvinceFilter, CommuneFilter, ParentFilter, "is_active")
    search_fields = ("name", "=code")
    ordering = ("path",)
    readonly_fields = ("province", "parent_link", "sub_areas", "teams_link")
    show_facets = admin.ShowFacets.NEVER
    # No bulk delete: it would take whole subtrees with it.
    actions = ["apply_plan"]

    def delete_row(self, *, actor: User, obj: Area) -> None:
        delete_village(actor=actor, area=obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        if not (request.user.is_superuser or province_officer_paths(request)):
            actions.pop("apply_plan", None)
        return actions

    @admin.action(description=_("Apply a plan's targets to the chosen communes"))
    def apply_plan(self, request: HttpRequest, queryset: QuerySet[Area]) -> TemplateResponse | None:
        """Asks for the plan and its date, then ``apply_plan_targets`` (which checks who may, and where)."""
        form = ApplyPlanForm(request.POST if "apply" in request.POST else None, request=request)
        if form.is_valid():
            try:
                written = apply_plan_targets(
                    actor=staff_user(request),
                    plan=form.cleaned_data["plan"],
                    areas=list(queryset),
                    effective_from=form.cleaned_data["effective_from"],
                )
            except ValidationError as error:
                for message in error.messages:
                    self.message_user(request, message, messages.ERROR)
                return None
            self.message_user(
                request,
                _("%(plan)s applied to %(count)d areas: %(created)d targets added, %(updated)d replaced, %(removed)d removed above them.")
                % {
                    "plan": form.cleaned_data["plan"].name,
                    "count": queryset.count(),
                    "created": written.created,
                    "updated": written.updated,
                    "removed": written.removed,
                },
                messages.SUCCESS,
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Apply a plan's targets to the chosen communes"),
            "opts": self.model._meta,
            "form": form,
            "areas": queryset.order_by("path")[:200],
            "count": queryset.count(),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/fieldteam/area/apply_plan.html", context)

    def get_fieldsets(self, request: HttpRequest, obj: Area | None = None) -> _FieldsetSpec:
        editable = obj is None or self.has_change_permission(request, obj)
        main = ("parent" if editable else "parent_link", "code", "name", "kind", "kind_label", "is_active")
        if obj is None:
            return [(None, {"fields": main})]
        return [(None, {"fields": main}), (_("In the tree"), {"fields": ("province", "sub_areas", "teams_link")})]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Area]:
        parent_path = Substr(OuterRef("path"), 1, (OuterRef("depth") - 1) * Area.steplen)
        parent_name = Area.objects.filter(path=parent_path).values("name")[:1]
        return super().get_queryset(request).annotate(parent_name=Subquery(parent_name))

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        return scope.filter_areas(queryset)

    def limit_related_choices(
        self, request: HttpRequest, queryset: QuerySet, source_model: type[models.Model], field_name: str
    ) -> QuerySet:
        if source_model is Area and field_name == "province":
            return queryset.filter(kind__in=PARENT_KINDS)  # the parent picker of AreaForm
        if field_name == "village":
            return queryset.filter(kind__in=HOUSEHOLD_PLACE_KINDS)
        if field_name == "province":
            return queryset.filter(kind__in=PROVINCE_KINDS)
        if source_model is Team and field_name == "areas":
            return queryset.exclude(kind__in=PROVINCE_KINDS)
        if source_model is ReportSubscription:
            return queryset.filter(kind__in=PROVINCE_KINDS | COMMUNE_KINDS)  # the areas whose months are signed off
        return queryset

    def may_write_row(self, request: HttpRequest, obj: Area) -> bool:
        # Provinces and communes are official units (load_admin_units): staff keep the villages.
        return request.user.is_superuser or obj.kind in VILLAGE_KINDS

    def has_delete_permission(self, request: HttpRequest, obj: Area | None = None) -> bool:
        # Deleting a node deletes its subtree: only leaves, and the database protects used ones.
        return super().has_delete_permission(request, obj) and (obj is None or obj.numchild == 0)

    @admin.display(description=_("name"), ordering="path")
    def tree_name(self, obj: Area) -> str:
        return format_html("{}{}", "— " * (obj.depth - 1), obj.name)

    @admin.display(description=_("parent area"))
    def parent_name(self, obj: Area) -> str:
        return getattr(obj, "parent_name", None) or "–"

    @admin.display(description=_("parent area"))
    def parent_link(self, obj: Area) -> str:
        parent = Area.objects.get_parent(obj)
        if parent is None:
            return "–"
        return format_html('<a href="{}">{}</a>', reverse("admin:fieldteam_area_change", args=[parent.pk]), parent)

    @admin.display(description=_("sub-areas"))
    def sub_areas(self, obj: Area) -> str:
        if not obj.numchild:
            return "0"
        url = reverse("admin:fieldteam_area_changelist") + f"?parent={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.numchild)

    @admin.display(description=_("teams"))
    def teams_link(self, obj: Area) -> str:
        url = reverse("admin:fieldteam_team_changelist") + f"?areas__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Teams serving this area"))
