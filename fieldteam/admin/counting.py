"""What the counts count besides the indicators: a province's population bounds, the capability derivations.

Both save and delete through ``fieldteam.services.counting``, which queues the recount of what the
change touches. Population bounds: a province officer for their province (superusers: any); the
officers below read their province's. Derivations are the national catalogue's: superusers change
them, every staff user reads them (they say why a household counts as holding what no one logged).
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PROVINCE_KINDS, IndicatorKind, PopulationKind
from fieldteam.models import Area, CapabilityDerivation, IndicatorPopulationBound, User
from fieldteam.permissions import Scope
from fieldteam.services.counting import (
    delete_capability_derivation,
    delete_population_bound,
    set_capability_derivation,
    set_population_bound,
)

from .base import ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm, is_admin_staff
from .indicators import in_province_officer_subtree, province_officer_paths
from .typed import model_choice_field, offered

RECOUNT_MESSAGE = _("The counts are being recomputed with the new rule.")


class PopulationBoundForm(ServiceModelForm):
    """Saved by ``fieldteam.services.counting.set_population_bound`` (the province's officer)."""

    class Meta:
        model = IndicatorPopulationBound
        fields = ("province", "indicator", "min_age", "max_age", "source")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "province" in self.fields:
            province = model_choice_field(self, "province")
            province.queryset = offered(province).filter(kind__in=PROVINCE_KINDS)
        if "indicator" in self.fields:
            # Age bounds belong to the indicators counted among residents only.
            indicator = model_choice_field(self, "indicator")
            indicator.queryset = (
                offered(indicator).filter(kind=IndicatorKind.COMPUTED).exclude(population=PopulationKind.HOUSEHOLDS)
            )

    def perform(self) -> IndicatorPopulationBound:
        data = self.cleaned_data
        return set_population_bound(
            actor=self.actor,
            province=data["province"],
            indicator=data["indicator"],
            min_age=data.get("min_age"),
            max_age=data.get("max_age"),
            source=data.get("source") or "",
            bound=cast("IndicatorPopulationBound | None", None if self.adding else self.stored),
        )


@admin.register(IndicatorPopulationBound)
class PopulationBoundAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = PopulationBoundForm
    scope_area_field = "province"
    list_display = ("indicator", "province", "min_age", "max_age", "source")
    list_select_related = ("indicator", "province")
    list_filter = ("indicator",)
    search_fields = ("indicator__name", "indicator__code", "province__name")
    ordering = ("province__name", "indicator__sort_order")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self.message_user(request, RECOUNT_MESSAGE)

    def delete_row(self, *, actor: User, obj: IndicatorPopulationBound) -> None:
        delete_population_bound(actor=actor, bound=obj)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # Anyone working in a province reads its bounds: its figures are counted by them.
        return queryset.filter(province__path__in={p[: Area.steplen] for p in scope.paths})

    def may_write(self, request: HttpRequest) -> bool:
        if not is_admin_staff(request):
            return False
        return request.user.is_superuser or bool(province_officer_paths(request))

    def may_write_row(self, request: HttpRequest, obj: IndicatorPopulationBound) -> bool:
        return request.user.is_superuser or in_province_officer_subtree(request, obj.province)


class DerivationForm(ServiceModelForm):
    """Saved by ``fieldteam.services.counting.set_capability_derivation`` (superusers)."""

    class Meta:
        model = CapabilityDerivation
        fields = ("kind", "source", "target")

    def perform(self) -> CapabilityDerivation:
        data = self.cleaned_data
        return set_capability_derivation(
            actor=self.actor,
            kind=data["kind"],
            source=data["source"],
            target=data["target"],
            derivation=cast("CapabilityDerivation | None", None if self.adding else self.stored),
        )


@admin.register(CapabilityDerivation)
class CapabilityDerivationAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = DerivationForm
    reference_table = True  # the national catalogue's: superusers change it, staff read it
    scope_area_field = None
    list_display = ("target", "kind", "source")
    list_select_related = ("source", "target")
    list_filter = ("kind",)
    ordering = ("target__sort_order", "source__sort_order")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        self.message_user(request, RECOUNT_MESSAGE)

    def delete_row(self, *, actor: User, obj: CapabilityDerivation) -> None:
        delete_capability_derivation(actor=actor, derivation=obj)
