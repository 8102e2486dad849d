"""The area tree: a plain ModelAdmin over treebeard's materialised paths.

Not treebeard's ``TreeAdmin``: its move form renders every node of the tree in one select (about
100,000 villages nationally). Here the list is in tree order with a parent filter and links to
children, the parent is picked through autocomplete, and nodes are created and moved through
treebeard's manager (villages through ``fieldteam.services.areas.create_village``).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.admin.widgets import AutocompleteSelect
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import COMMUNE_KINDS, PROVINCE_KINDS, VILLAGE_KINDS, AreaKind
from fieldteam.errors import field_error
from fieldteam.models import Area, Team

from .base import (
    CommuneFilter,
    ProvinceFilter,
    ScopedModelAdmin,
    ServiceFormAdminMixin,
    ServiceModelForm,
    request_scope,
)
from .imports import ImportExportAdminMixin

PARENT_KINDS = frozenset(AreaKind) - VILLAGE_KINDS
# Households may hang off a commune that keeps no village list (see services.people).
HOUSEHOLD_PLACE_KINDS = VILLAGE_KINDS | COMMUNE_KINDS


class ParentFilter(admin.SimpleListFilter):
    """``?parent=<id>``: the children of one area (reached from the "sub-areas" links)."""

    title = _("parent area")
    parameter_name = "parent"

    def lookups(self, request, model_admin):  # type: ignore[no-untyped-def]
        raw = request.GET.get(self.parameter_name)
        if raw is None:
            return []
        self.parent = model_admin.get_queryset(request).filter(pk=int(raw) if raw.isdigit() else None).first()
        # Kept even when unknown (a filter without choices is not applied): an unknown parent shows nothing.
        return [(raw, self.parent.name if self.parent else _("unknown area"))]

    def queryset(self, request, queryset):  # type: ignore[no-untyped-def]
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
        fields = ("parent", "code", "name", "kind", "is_active")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        parents = request_scope(self.request).filter_areas(Area.objects.filter(kind__in=PARENT_KINDS))
        if "parent" in self.fields:
            field = self.fields["parent"]
            field.queryset = parents
            # Area.province is not in the form (it is derived); its autocomplete URL is reused for
            # the parent picker, and AreaAdmin.limit_related_choices offers parent kinds for it.
            field.widget = AutocompleteSelect(Area._meta.get_field("province"), self.admin_site, choices=field.choices)
            if self.instance.pk:
                field.initial = Area.objects.get_parent(self.instance)
        if "kind" in self.fields and not self.request.user.is_superuser:
            # Provinces and communes come from the official list (load_admin_units); staff add villages.
            self.fields["kind"].choices = [c for c in AreaKind.choices if c[0] in VILLAGE_KINDS]

    def perform(self) -> Area:
        data = self.cleaned_data
        parent: Area | None = data.get("parent")
        kind = data["kind"]
        if self.instance.pk is None:
            return self._create(parent, kind)
        return self._change(parent)

    def _create(self, parent: Area | None, kind: str) -> Area:
        from fieldteam.services.areas import create_village

        data = self.cleaned_data
        if kind in VILLAGE_KINDS:
            if parent is None:
                raise field_error("parent", _("Choose the commune this village lies in."), code="required")
            area = create_village(commune=parent, code=data["code"], name=data["name"], kind=kind)
        else:
            area = self._create_unit(parent, kind)
        if area.is_active != data["is_active"]:
            area.is_active = data["is_active"]
            area.save(update_fields=["is_active"])
        return area

    def _create_unit(self, parent: Area | None, kind: str) -> Area:
        """A province, commune or district added by hand (superusers; normally load_admin_units)."""
        data = self.cleaned_data
        if Area.objects.filter(code=data["code"]).exists():
            raise field_error("code", _("An area with this code already exists."), code="duplicate_code")
        area = Area(code=data["code"], name=data["name"], kind=kind, is_active=data["is_active"])
        if kind in PROVINCE_KINDS:
            if parent is not None:
                raise field_error("parent", _("A province has no parent area."), code="province_has_parent")
            area.full_clean(exclude=["path", "depth", "numchild", "province"], validate_unique=False)
            Area.objects.add_root(instance=area)
            area.province = area
            area.save(update_fields=["province"])
            return area
        if parent is None:
            raise field_error("parent", _("Choose the area this one lies in."), code="required")
        area.province_id = parent.pk if parent.kind in PROVINCE_KINDS else parent.province_id
        area.full_clean(exclude=["path", "depth", "numchild"], validate_unique=False)
        return Area.objects.add_child(parent, instance=area)

    def _change(self, parent: Area | None) -> Area:
        area: Area = self.instance
        for name in ("code", "name", "kind", "is_active"):
            if name in self.cleaned_data:
                setattr(area, name, self.cleaned_data[name])
        area.full_clean(exclude=["path", "depth", "numchild"])
        area.save()
        if "parent" in self.changed_data:
            self._move(area, parent)
        return area

    def _move(self, area: Area, parent: Area | None) -> None:
        if parent is None:
            raise field_error("parent", _("Choose the area this one lies in."), code="required")
        if parent.path.startswith(area.path):
            raise field_error("parent", _("An area cannot be moved under itself."), code="move_into_self")
        parent_province = parent.pk if parent.kind in PROVINCE_KINDS else parent.province_id
        if parent_province != area.province_id:
            # Every population row carries its province: a move across provinces is a data migration.
            raise field_error(
                "parent", _("An area can only be moved within its province."), code="move_across_provinces"
            )
        Area.objects.move(area, parent, "sorted-child")
        area.refresh_from_db()


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
    actions = None  # a bulk delete would take whole subtrees with it

    def get_fieldsets(self, request: HttpRequest, obj: Area | None = None):  # type: ignore[no-untyped-def]
        editable = obj is None or self.has_change_permission(request, obj)
        main = ("parent" if editable else "parent_link", "code", "name", "kind", "is_active")
        if obj is None:
            return [(None, {"fields": main})]
        return [(None, {"fields": main}), (_("In the tree"), {"fields": ("province", "sub_areas", "teams_link")})]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Area]:
        parent_path = Substr(OuterRef("path"), 1, (OuterRef("depth") - 1) * Area.steplen)
        parent_name = Area.objects.filter(path=parent_path).values("name")[:1]
        return super().get_queryset(request).annotate(parent_name=Subquery(parent_name))

    def filter_in_scope(self, scope, queryset):  # type: ignore[no-untyped-def]
        return scope.filter_areas(queryset)

    def limit_related_choices(self, request, queryset, source_model, field_name):  # type: ignore[no-untyped-def]
        if source_model is Area and field_name == "province":
            return queryset.filter(kind__in=PARENT_KINDS)  # the parent picker of AreaForm
        if field_name == "village":
            return queryset.filter(kind__in=HOUSEHOLD_PLACE_KINDS)
        if field_name == "province":
            return queryset.filter(kind__in=PROVINCE_KINDS)
        if source_model is Team and field_name == "areas":
            return queryset.exclude(kind__in=PROVINCE_KINDS)
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
