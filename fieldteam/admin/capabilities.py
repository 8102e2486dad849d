"""The capability catalogue and adoptions.

Adoptions are read-only: adding one calls ``set_adoption`` and the "end" action calls
``clear_adoption``, which keep the subject's capability mask and the village counts right.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fieldteam.choices import AdoptionSource
from fieldteam.models import Adoption, Area, Capability
from fieldteam.periods import today
from fieldteam.services.adoption import clear_adoption, set_adoption
from fieldteam.services.areas import create_capability

from .base import (
    AREA_FILTERS,
    PopulationAdmin,
    ScopedModelAdmin,
    ServiceFormAdminMixin,
    ServiceModelForm,
    is_admin_staff,
    request_scope,
)
from .teams import OpenFilter
from .typed import model_choice_field, offered, staff_user


class CapabilityForm(ServiceModelForm):
    class Meta:
        model = Capability
        fields = ("code", "name", "subject", "description", "province", "sort_order", "is_active")

    def perform(self) -> Capability:
        data = self.cleaned_data
        if self.adding:
            capability = create_capability(
                code=data["code"],
                name=data["name"],
                subject=data["subject"],
                description=data.get("description", ""),
                province=data.get("province"),
                sort_order=data.get("sort_order") or 100,
            )
            if not data.get("is_active", True):
                capability.is_active = False
                capability.save(update_fields=["is_active"])
            return capability
        capability = cast("Capability", self.stored)
        for name in ("name", "description", "sort_order", "is_active"):
            if name in data:
                setattr(capability, name, data[name])
        capability.full_clean()
        capability.save()
        return capability


@admin.register(Capability)
class CapabilityAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = CapabilityForm
    reference_table = True
    scope_area_field = None
    can_delete_rows = False  # a bit is never reused: retire a capability by making it inactive
    list_display = ("name", "code", "subject", "bit", "province", "sort_order", "is_active")
    list_select_related = ("province",)
    list_filter = ("subject", "is_active", ("province", admin.EmptyFieldListFilter))
    search_fields = ("name", "code")
    autocomplete_fields = ("province",)
    ordering = ("sort_order", "code")

    def scope_queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        # The national catalogue, and the own capabilities of the provinces the user works in.
        if request.user.is_superuser:
            return queryset
        if not is_admin_staff(request):
            return queryset.none()
        scope = request_scope(request)
        if scope.everything:
            return queryset
        provinces = {p[: Area.steplen] for p in scope.paths}
        return queryset.filter(Q(province__isnull=True) | Q(province__path__in=provinces))

    def get_readonly_fields(self, request: HttpRequest, obj: Capability | None = None) -> tuple[str, ...]:
        # The holder and the bit are fixed once the capability exists: masks and adoptions use them.
        return ("bit",) if obj is None else ("code", "subject", "province", "bit")

    def get_fields(self, request: HttpRequest, obj: Capability | None = None) -> tuple[str, ...]:
        fields = ("code", "name", "subject", "description", "province", "sort_order", "is_active")
        return fields if obj is None else (*fields, "bit")


class AdoptionForm(ServiceModelForm):
    class Meta:
        model = Adoption
        fields = ("capability", "resident", "household", "since", "source")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "capability" in self.fields:
            capability = model_choice_field(self, "capability")
            capability.queryset = offered(capability).filter(is_active=True)
        for name in ("resident", "household"):
            if name in self.fields:
                self.fields[name].help_text = _("Either a resident or a household, as the capability requires.")

    def perform(self) -> Adoption:
        data = self.cleaned_data
        return set_adoption(
            actor=self.actor,
            capability=data["capability"],
            since=data["since"],
            source=data["source"],
            resident=data.get("resident"),
            household=data.get("household"),
        )


@admin.register(Adoption)
class AdoptionAdmin(ServiceFormAdminMixin, PopulationAdmin):
    form = AdoptionForm
    scope_area_field = ("resident__village", "household__village")
    can_change_rows = False
    can_delete_rows = False  # adoptions are ended, never deleted: past periods are computed from them
    list_display = ("subject", "capability", "since", "ended_on", "source", "recorded_by", "recorded_at")
    list_select_related = ("resident", "household", "capability", "recorded_by")
    list_filter = (OpenFilter, "capability", "source", *AREA_FILTERS)
    search_fields = ("resident__full_name", "household__head_name")
    date_hierarchy = "since"
    autocomplete_fields = ("resident", "household")
    actions = ("end_adoptions",)

    def get_fields(self, request: HttpRequest, obj: Adoption | None = None) -> tuple[str, ...]:
        fields = ("capability", "resident", "household", "since", "source")
        if obj is None:
            return fields
        return (*fields, "ended_on", "assistance_log", "recorded_by", "recorded_at", "province")

    def get_readonly_fields(self, request: HttpRequest, obj: Adoption | None = None) -> tuple[str, ...]:
        return () if obj is None else ("ended_on", "assistance_log", "recorded_by", "recorded_at", "province")

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"since": today(), "source": AdoptionSource.MANUAL, **super().get_changeform_initial_data(request)}

    def has_end_permission(self, request: HttpRequest) -> bool:
        return self.may_write(request)

    @admin.display(description=_("held by"))
    def subject(self, obj: Adoption) -> str:
        return str(obj.resident or obj.household)

    @admin.action(description=_("End the selected adoptions today"), permissions=("end",))
    def end_adoptions(self, request: HttpRequest, queryset: QuerySet[Adoption]) -> None:
        ended, failed = 0, []
        open_rows = queryset.filter(ended_on__isnull=True).select_related("capability", "resident", "household")
        for adoption in open_rows:
            try:
                if clear_adoption(
                    actor=staff_user(request),
                    capability=adoption.capability,
                    on=today(),
                    resident=adoption.resident,
                    household=adoption.household,
                ):
                    ended += 1
            except ValidationError as exc:
                failed.append(f"{adoption}: {'; '.join(exc.messages)}")
        if ended:
            self.message_user(
                request,
                ngettext("%(count)d adoption ended.", "%(count)d adoptions ended.", ended) % {"count": ended},
                messages.SUCCESS,
            )
        for message in failed:
            self.message_user(request, message, messages.ERROR)
        if not ended and not failed:
            self.message_user(request, _("None of the selected adoptions was still open."), messages.WARNING)
