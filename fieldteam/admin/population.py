"""Official population figures: entered and corrected here (through the service), imported and exported.

Commune officers enter their commune's and villages' figures, province officers their province's;
who entered a figure and when is recorded by the service. A figure below the register's own count
is saved with a warning.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest
from django.utils.text import capfirst

from fieldteam.models import OfficialPopulation, User
from fieldteam.models.population import COUNT_FIELDS
from fieldteam.services.population import delete_official_population, set_official_population

from .base import AREA_FILTERS, ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm, request_scope
from .imports import ImportExportAdminMixin


def _count_field(name: str) -> forms.DecimalField:
    # Any number reaches the service, whose words (negative, not a whole number, above the total)
    # name the field; not a model field of the form, so the model's own validators do not speak first.
    model_field = cast("models.Field[Any, Any]", OfficialPopulation._meta.get_field(name))
    return forms.DecimalField(label=capfirst(model_field.verbose_name), required=name == "total", localize=True)


class OfficialPopulationForm(ServiceModelForm):
    """Saved by ``fieldteam.services.population.set_official_population`` (an officer of the area)."""

    total = _count_field("total")
    age_14_plus = _count_field("age_14_plus")
    age_15_plus = _count_field("age_15_plus")
    age_18_plus = _count_field("age_18_plus")
    working_age_male = _count_field("working_age_male")
    working_age_female = _count_field("working_age_female")
    households = _count_field("households")

    class Meta:
        model = OfficialPopulation
        fields = ("area", "year", "source")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.stored is not None and self.stored.pk is not None:
            for name in COUNT_FIELDS:
                self.initial.setdefault(name, getattr(self.stored, name))
        # The counts are the service's to check (its words name the field), not the model's validators'.
        model_clean = self.instance.full_clean

        def full_clean(exclude: Any = None, **options: Any) -> None:
            model_clean(exclude={*(exclude or ()), *COUNT_FIELDS}, **options)

        self.instance.full_clean = full_clean

    def perform(self) -> OfficialPopulation:
        data = self.cleaned_data
        known = cast("OfficialPopulation | None", None if self.adding else self.stored)
        result = set_official_population(
            actor=self.actor,
            area=known.area if known else data["area"],
            year=known.year if known else data["year"],
            source=data.get("source") or "",
            **{name: data.get(name) for name in COUNT_FIELDS},
        )
        for warning in result.warnings:
            messages.warning(self.request, warning)
        return result.figure


@admin.register(OfficialPopulation)
class OfficialPopulationAdmin(ImportExportAdminMixin, ServiceFormAdminMixin, ScopedModelAdmin):
    form = OfficialPopulationForm
    import_kind = "population"
    export_kinds = ("population",)
    scope_area_field = "area"
    list_display = (
        "area",
        "year",
        *COUNT_FIELDS,
        "source",
        "entered_by",
        "entered_at",
    )
    list_select_related = ("area", "entered_by")
    list_filter = ("year", *AREA_FILTERS)
    search_fields = ("area__name", "area__code", "source")
    autocomplete_fields = ("area",)
    ordering = ("area__path", "-year")
    show_facets = admin.ShowFacets.NEVER
    recorded_fields = ("entered_by", "entered_at")

    def get_fields(self, request: HttpRequest, obj: OfficialPopulation | None = None) -> tuple[str, ...]:
        main = ("area", "year", *COUNT_FIELDS, "source")
        return main if obj is None else (*main, *self.recorded_fields)

    def get_readonly_fields(self, request: HttpRequest, obj: OfficialPopulation | None = None) -> tuple[str, ...]:
        # What identifies the figure is fixed once entered; its counts and source can be corrected.
        return () if obj is None else ("area", "year", *self.recorded_fields)

    def may_write(self, request: HttpRequest) -> bool:
        # Officers (commune, province) only: a viewer's or a team member's role never writes here.
        if not super().may_write(request):
            return False
        return request.user.is_superuser or bool(request_scope(request).officer_paths)

    def may_write_row(self, request: HttpRequest, obj: OfficialPopulation) -> bool:
        return request_scope(request).is_officer_of(obj.area)

    def delete_row(self, *, actor: User, obj: OfficialPopulation) -> None:
        delete_official_population(actor=actor, figure=obj)
