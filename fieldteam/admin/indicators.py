"""Indicators, targets, retirement ages, indicator values and the roll-up's own tables.

Indicators and retirement ages are reference data (superusers only). Targets: superusers, and a
province officer for the areas of their province. Indicator values: reported values are entered
and corrected here; computed values, village counts and the roll-up state belong to the roll-up
engine and are read-only.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fieldteam.choices import AreaRoleKind, IndicatorKind, TargetComparison
from fieldteam.models import (
    Area,
    AreaRole,
    CommuneCount,
    Indicator,
    IndicatorValue,
    NationalTarget,
    Plan,
    PlanTarget,
    RetirementAge,
    RollupState,
    Target,
    User,
    VillageCount,
)
from fieldteam.periods import Period
from fieldteam.permissions import Scope, scope_for
from fieldteam.services import jobs
from fieldteam.services.indicators import delete_target, refresh_plan_targets, report_indicator_value, set_target

from .base import (
    AREA_FILTERS,
    PopulationAdmin,
    ScopedModelAdmin,
    ScopedTabularInline,
    ServiceFormAdminMixin,
    ServiceModelForm,
    is_admin_staff,
)
from .imports import ImportExportAdminMixin
from .typed import model_choice_field, offered, staff_user


@admin.register(Indicator)
class IndicatorAdmin(ScopedModelAdmin):
    reference_table = True
    scope_area_field = None
    can_delete_rows = False  # targets and values refer to it: retire an indicator by making it inactive
    list_display = (
        "name",
        "code",
        "group",
        "kind",
        "capability",
        "population",
        "min_age",
        "max_age",
        "unit",
        "is_active",
    )
    list_select_related = ("capability",)
    list_filter = ("group", "kind", "population", "is_active")
    search_fields = ("name", "code")
    ordering = ("sort_order", "code")
    fieldsets = (
        (
            None,
            {"fields": ("code", "name", "group", "kind", "unit", "source", "description", "sort_order", "is_active")},
        ),
        (_("Computed from household data"), {"fields": ("capability", "population", "min_age", "max_age")}),
    )
    # Any of these changes what the village counts mean: they are rebuilt after the change commits.
    counting_fields = frozenset({"kind", "capability", "population", "min_age", "max_age", "is_active"})

    def save_model(self, request: HttpRequest, obj: Indicator, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or self.counting_fields & set(form.changed_data):
            jobs.enqueue_on_commit("fieldteam.tasks.recompute_all_provinces")
            self.message_user(request, _("The roll-up counts are being recomputed for the new definition."))


@admin.register(RetirementAge)
class RetirementAgeAdmin(ScopedModelAdmin):
    reference_table = True
    superuser_only = True  # the statutory table behind working age: set up once, not officers' work
    scope_area_field = None
    list_display = ("born_from_month", "sex", "age_months", "age_display")
    list_filter = ("sex",)
    ordering = ("sex", "born_from")

    @admin.display(description=_("born from (month)"), ordering="born_from")
    def born_from_month(self, obj: RetirementAge) -> str:
        return f"{obj.born_from:%m/%Y}"

    @admin.display(description=_("retirement age"))
    def age_display(self, obj: RetirementAge) -> str:
        return _("%(years)d years %(months)d months") % {"years": obj.age_months // 12, "months": obj.age_months % 12}


@admin.register(NationalTarget)
class NationalTargetAdmin(ScopedModelAdmin):
    """The national targets (Decision 411/QĐ-TTg): read here, loaded by ``load_reference`` from the fixture."""

    reference_table = True
    superuser_only = True  # the national level: see ``permissions.sees_nation``
    scope_area_field = None
    can_add_rows = can_change_rows = can_delete_rows = False
    list_display = ("indicator", "year", "comparison", "value", "document")
    list_select_related = ("indicator",)
    list_filter = ("year",)
    ordering = ("indicator__sort_order", "year")


#: Where ``province_officer_paths`` caches its answer on the request.
_OFFICER_PATHS_ATTRIBUTE = "_fieldteam_province_officer_paths"


def province_officer_paths(request: HttpRequest) -> tuple[str, ...]:
    """Subtrees where the user is a province officer (cached on the request)."""
    cached = getattr(request, _OFFICER_PATHS_ATTRIBUTE, None)
    if cached is None:
        cached = tuple(
            AreaRole.objects.filter(user=staff_user(request), role=AreaRoleKind.PROVINCE_OFFICER).values_list(
                "area__path", flat=True
            )
        )
        setattr(request, _OFFICER_PATHS_ATTRIBUTE, cached)
    return cached


def in_province_officer_subtree(request: HttpRequest, area: Area) -> bool:
    return any(area.path.startswith(p) for p in province_officer_paths(request))


class TargetForm(ServiceModelForm):
    """Saved by ``fieldteam.services.indicators.set_target`` (the province officer of the area)."""

    class Meta:
        model = Target
        fields = ("indicator", "area", "year", "comparison", "value", "source", "effective_from")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "effective_from" in self.fields:
            self.fields["effective_from"].required = False  # empty: the date it had, or today for a new one

    def perform(self) -> Target:
        data = self.cleaned_data
        stored = cast("Target | None", None if self.adding else self.stored)
        return set_target(
            actor=self.actor,
            indicator=data["indicator"],
            area=data["area"],
            year=data["year"],
            value=data["value"],
            comparison=data["comparison"],
            source=data.get("source", ""),
            target=stored,
            effective_from=data.get("effective_from"),
        )


@admin.register(Target)
class TargetAdmin(ImportExportAdminMixin, ServiceFormAdminMixin, ScopedModelAdmin):
    form = TargetForm
    import_kind = "targets"
    export_kinds = ("targets",)
    scope_area_field = "area"
    list_display = ("indicator", "area", "year", "target", "source", "effective_from", "updated_at")
    list_select_related = ("indicator", "area")
    list_filter = ("year", "indicator__group", "indicator", *AREA_FILTERS)
    search_fields = ("indicator__name", "indicator__code", "area__name")
    autocomplete_fields = ("area",)
    ordering = ("indicator__sort_order", "area__path", "year")
    show_facets = admin.ShowFacets.NEVER

    def delete_row(self, *, actor: User, obj: Target) -> None:
        delete_target(actor=actor, target=obj)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # Targets are inherited down the tree: an officer also sees the targets set above them.
        ancestors = {p[:end] for p in scope.paths for end in range(Area.steplen, len(p), Area.steplen)}
        return queryset.filter(scope.area_q("area") | Q(area__path__in=ancestors))

    def may_write(self, request: HttpRequest) -> bool:
        if not is_admin_staff(request):
            return False
        return request.user.is_superuser or bool(province_officer_paths(request))

    def may_write_row(self, request: HttpRequest, obj: Target) -> bool:
        return request.user.is_superuser or in_province_officer_subtree(request, obj.area)

    @admin.display(description=_("target value"), ordering="value")
    def target(self, obj: Target) -> str:
        sign = ">" if obj.comparison == TargetComparison.MORE_THAN else "≥"
        return f"{sign}{obj.value}{obj.indicator.unit}"


class IndicatorValueForm(ServiceModelForm):
    """Saved by ``fieldteam.services.indicators.report_indicator_value`` (the province officer of the area)."""

    service_error_aliases = {"period": "period_start"}

    class Meta:
        model = IndicatorValue
        fields = ("indicator", "area", "period_kind", "period_start", "value", "note")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "indicator" in self.fields:
            # Computed values come from the roll-up; only reported indicators are entered by hand.
            indicator = model_choice_field(self, "indicator")
            indicator.queryset = offered(indicator).filter(kind=IndicatorKind.REPORTED)
        if "value" in self.fields:
            self.fields["value"].required = True

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        kind, start = data.get("period_kind"), data.get("period_start")
        if kind and start and Period.containing(kind, start).start != start:
            self.add_error(
                "period_start",
                _("A period starts on its first day: %(start)s.") % {"start": Period.containing(kind, start).start},
            )
        return data

    def perform(self) -> IndicatorValue:
        data = self.cleaned_data
        # A stored value keeps what identifies it (read-only here); its value and note are corrected.
        known = cast("IndicatorValue | None", None if self.adding else self.stored)
        kind, start = (known.period_kind, known.period_start) if known else (data["period_kind"], data["period_start"])
        return report_indicator_value(
            actor=self.actor,
            indicator=known.indicator if known else data["indicator"],
            area=known.area if known else data["area"],
            period=Period(kind, start),
            value=data["value"],
            note=data.get("note") or "",
        )


class ComputedFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "indicator_kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        return IndicatorKind.choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return queryset.filter(indicator__kind=self.value()) if self.value() else queryset


@admin.register(IndicatorValue)
class IndicatorValueAdmin(ImportExportAdminMixin, ServiceFormAdminMixin, PopulationAdmin):
    form = IndicatorValueForm
    import_kind = "indicator_values"
    export_kinds = ("indicator_values", "reported_values")
    scope_area_field = "area"
    list_display = ("indicator", "area", "period_kind", "period_start", "numerator", "denominator", "value", "updated")
    list_select_related = ("indicator", "area")
    list_filter = (ComputedFilter, "period_kind", "indicator", *AREA_FILTERS)
    search_fields = ("indicator__name", "indicator__code", "area__name")
    date_hierarchy = "period_start"
    autocomplete_fields = ("area",)
    can_delete_rows = False
    computed_fields = ("numerator", "denominator", "computed_at", "reported_by", "reported_at", "province")

    def get_fields(self, request: HttpRequest, obj: IndicatorValue | None = None) -> tuple[str, ...]:
        main = ("indicator", "area", "period_kind", "period_start", "value", "note")
        return main if obj is None else (*main, *self.computed_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: IndicatorValue | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # What identifies the value is fixed; a reported value and its note can be corrected.
        return ("indicator", "area", "period_kind", "period_start", *self.computed_fields)

    def may_write(self, request: HttpRequest) -> bool:
        # Reported values are provincial statistics: entered by the province officer, like targets.
        if not is_admin_staff(request):
            return False
        return request.user.is_superuser or bool(province_officer_paths(request))

    def may_write_row(self, request: HttpRequest, obj: IndicatorValue) -> bool:
        if obj.indicator.kind != IndicatorKind.REPORTED:
            return False  # computed values belong to the roll-up
        return request.user.is_superuser or in_province_officer_subtree(request, obj.area)

    @admin.display(description=_("updated"))
    def updated(self, obj: IndicatorValue) -> Any:
        return obj.reported_at or obj.computed_at


class DerivedAdmin(PopulationAdmin):
    """Kept by the roll-up engine; shown for checking, never edited."""

    can_add_rows = False
    can_change_rows = False
    can_delete_rows = False


class CountAdmin(DerivedAdmin):
    """A live count's row (``models.CountCell``): the place, the indicator, the numerator and denominator.

    The model's columns carry no verbose names: the labels are given here.
    """

    superuser_only = True  # the roll-up's counters: officers read them on the dashboards

    @admin.display(description=_("indicator"), ordering="indicator__sort_order")
    def indicator_name(self, obj: VillageCount | CommuneCount) -> str:
        return obj.indicator.name

    @admin.display(description=_("numerator"), ordering="numerator")
    def numerator_value(self, obj: VillageCount | CommuneCount) -> int:
        return obj.numerator

    @admin.display(description=_("denominator"), ordering="denominator")
    def denominator_value(self, obj: VillageCount | CommuneCount) -> int:
        return obj.denominator


@admin.register(VillageCount)
class VillageCountAdmin(CountAdmin):
    list_display = ("village_name", "indicator_name", "numerator_value", "denominator_value")
    list_select_related = ("village", "indicator")
    list_filter = ("indicator", *AREA_FILTERS)
    fields = list_display
    readonly_fields = fields

    @admin.display(description=_("village"), ordering="village__name")
    def village_name(self, obj: VillageCount) -> str:
        return obj.village.name


@admin.register(CommuneCount)
class CommuneCountAdmin(CountAdmin):
    """The stored sums of the village counts per commune (issue 18)."""

    scope_area_field = "commune"
    list_display = ("commune_name", "indicator_name", "numerator_value", "denominator_value")
    list_select_related = ("commune", "indicator")
    list_filter = ("indicator", *AREA_FILTERS[:2])  # province, commune
    fields = list_display
    readonly_fields = fields

    @admin.display(description=_("commune"), ordering="commune__name")
    def commune_name(self, obj: CommuneCount) -> str:
        return obj.commune.name


@admin.register(RollupState)
class RollupStateAdmin(DerivedAdmin):
    scope_area_field = "province"
    superuser_only = True
    list_display = (
        "province_shown",
        "month",
        "last_recompute_at",
        "last_recompute_seconds",
        "last_drift_rows",
        "last_closed_month",
    )
    list_select_related = ("province",)
    fields = list_display
    readonly_fields = fields
    actions = ["recompute_now"]

    # The field has no translated verbose name (changing it would need a migration): named here.
    @admin.display(description=_("province"), ordering="province__name")
    def province_shown(self, obj: RollupState) -> str:
        return str(obj.province)

    @admin.action(description=_("Recompute the selected provinces now (report and correct drift)"))
    def recompute_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        scope = scope_for(staff_user(request))
        queued = 0
        for state in queryset.select_related("province"):
            # Only whoever answers for the whole province may start its recompute.
            if scope.everything or state.province.path in scope.paths:
                jobs.enqueue_on_commit("fieldteam.tasks.recompute_province", state.province_id)
                queued += 1
        if queued:
            self.message_user(
                request,
                ngettext(
                    "Recompute started for %(count)s province.", "Recompute started for %(count)s provinces.", queued
                )
                % {"count": queued},
            )
        else:
            self.message_user(request, _("Only a province officer may recompute a province."), level=messages.ERROR)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # A commune officer may check the roll-up of the province their commune lies in.
        return queryset.filter(province__path__in={p[: Area.steplen] for p in scope.paths})


class PlanTargetInline(ScopedTabularInline):
    model = PlanTarget
    extra = 0
    fields = ("indicator", "year", "comparison", "value")
    ordering = ("indicator__sort_order", "year")


class PlanForm(forms.ModelForm):
    """The ``province`` must be one where the user is a province officer (superusers: any)."""

    request: HttpRequest

    class Meta:
        model = Plan
        fields = ("province", "document", "name", "adopted_on")

    def clean_province(self) -> Area:
        province: Area = self.cleaned_data["province"]
        if not self.request.user.is_superuser and not in_province_officer_subtree(self.request, province):
            raise forms.ValidationError(_("Only the province officer of this area enters this."), code="out_of_scope")
        return province


@admin.register(Plan)
class PlanAdmin(ScopedModelAdmin):
    """A province's plans and their targets; applied to areas from the area list's action.

    A change to a plan's targets is carried to every area it is applied to (``refresh_plan_targets``).
    """

    form = PlanForm
    inlines = (PlanTargetInline,)
    scope_area_field = "province"
    list_display = ("name", "document", "province", "adopted_on")
    list_select_related = ("province",)
    search_fields = ("name", "document")
    ordering = ("-adopted_on", "document")

    def may_write(self, request: HttpRequest) -> bool:
        if not is_admin_staff(request):
            return False
        return request.user.is_superuser or bool(province_officer_paths(request))

    def may_write_row(self, request: HttpRequest, obj: Plan) -> bool:
        return request.user.is_superuser or in_province_officer_subtree(request, obj.province)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> type[forms.ModelForm[Any]]:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"request": request})

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if Target.objects.filter(plan=form.instance).exists():
            refresh_plan_targets(actor=staff_user(request), plan=form.instance)


@admin.register(PlanTarget)
class PlanTargetAdmin(ScopedModelAdmin):
    """Every plan's targets in one list, to read; they are entered on their plan's page."""

    scope_area_field = "plan__province"
    can_add_rows = can_change_rows = can_delete_rows = False
    list_display = ("plan", "indicator", "year", "comparison", "value")
    list_select_related = ("plan", "indicator")
    list_filter = ("year", "indicator__group", "plan")
    ordering = ("plan", "indicator__sort_order", "year")
