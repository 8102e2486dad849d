"""Households, residents and consent records.

Identifiers are personal data: pages show only ``citizen_id_masked`` and ``phone_masked``. The
resident form has plain inputs for a *new* citizen ID or phone, never filled in (blank keeps the
stored value); saving goes through ``fieldteam.services.people``. Search by citizen ID or phone is
an exact match on the keyed hash. The search box posts (``admin/fieldteam/search_form.html``) and
is answered with a redirect to the list filtered by the hash (``idh``), so the number is never in a
URL, a redirect or an access log, nor written back into the page or its links.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters

from fieldteam import identifiers
from fieldteam.choices import ConsentChannel, ConsentPurpose, ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import Capability, ConsentRecord, Household, Resident
from fieldteam.rollup.derivations import implied_by
from fieldteam.selectors.people import name_matches
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, NOTICES, ConsentInput, check_given_at, withdraw_consent
from fieldteam.services.people import (
    move_resident,
    record_departure,
    register_household,
    register_resident,
    update_household,
    update_resident,
)

from .base import (
    AREA_FILTERS,
    PopulationAdmin,
    ReadOnlyTabularInline,
    ServiceFormAdminMixin,
    ServiceModelForm,
    UnrenderedTextInput,
)
from .duplicates import DuplicatesAdminMixin
from .imports import ImportExportAdminMixin
from .privacy import PrivacyAdminMixin
from .typed import choice_field, staff_user

if TYPE_CHECKING:
    from django.contrib.admin.options import InlineModelAdmin, _FieldsetSpec
    from django.utils.datastructures import _ListOrTuple

IDENTIFIER_HASH_PARAM = "idh"
_SEPARATORS = re.compile(r"[\s.\-()+]")
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def identifier_digest(term: str) -> str | None:
    """The keyed hash to look up when ``term`` is a citizen ID or phone number; ``None`` for a name.

    Any all-digit term is an identifier search: 12 digits are a citizen ID, a mobile number in any
    written form is a phone; anything else (a prefix, a typo) gets a digest that matches nothing.
    Identifiers are never matched by prefix and rows are never decrypted to search.
    """
    compact = _SEPARATORS.sub("", term or "")
    if not compact.isdigit():
        return None
    if len(compact) == 12:  # a CCCD has 12 digits
        return identifiers.citizen_id_hash(compact)
    phone = identifiers.normalize_phone(term.strip())
    if re.fullmatch(r"0\d{9}", phone):
        return identifiers.phone_hash(phone)
    return identifiers.citizen_id_hash(compact)


def held_capability_names(mask: int, subject: str, derived_mask: int = 0) -> str:
    """The capabilities held: adopted ones by name, then those held by a derivation rule, said so (no one logged them)."""
    names = [c.name for c in Capability.objects.filter(subject=subject).order_by("sort_order", "code") if mask & c.mask]
    for capability, through in implied_by(mask, subject, derived_mask):
        if any(source.subject != capability.subject for source in through):
            how = str(_("held through a household member"))
        else:
            how = str(_("derived from: %(names)s")) % {"names": ", ".join(source.name for source in through)}
        names.append(f"{capability.name} ({how})")
    return ", ".join(names) or "–"


class IdentifierHashFilter(admin.SimpleListFilter):
    """``?idh=<keyed hash>``: the resident with that citizen ID or phone (set by the search redirect)."""

    title = _("citizen ID or phone")
    parameter_name = IDENTIFIER_HASH_PARAM

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]) -> list[tuple[str, Any]]:
        # Offered only while in use; a filter without choices would not be applied at all.
        value = request.GET.get(self.parameter_name)
        return [(value, _("the number searched for"))] if value is not None else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:
            return queryset
        if not _HEX_DIGEST.fullmatch(value):
            return queryset.none()
        return queryset.filter(Q(citizen_id_hash=value) | Q(phone_hash=value))


# --- households -------------------------------------------------------------------------------


class HouseholdForm(ServiceModelForm):
    class Meta:
        model = Household
        fields = ("village", "code", "head_name", "address")

    def perform(self) -> Household:
        data = self.cleaned_data
        if self.adding:
            return register_household(
                actor=self.actor,
                village=data["village"],
                code=data.get("code", ""),
                head_name=data.get("head_name", ""),
                address=data.get("address", ""),
            )
        # The village is read-only here: a household moves through its residents (residents' form).
        changes = {name: data[name] or "" for name in ("code", "head_name", "address") if name in data}
        return update_household(actor=self.actor, household=cast("Household", self.stored), **changes)


class ResidentInline(ReadOnlyTabularInline):
    model = Resident
    fields = ("full_name", "birth_year", "sex", "citizen_id_masked", "phone_masked", "status")
    readonly_fields = fields
    verbose_name_plural = _("members of the household")
    ordering = ("birth_year",)


@admin.register(Household)
class HouseholdAdmin(ImportExportAdminMixin, ServiceFormAdminMixin, PopulationAdmin):
    form = HouseholdForm
    import_kind = "households"
    export_kinds = ("households",)
    list_display = ("__str__", "code", "village", "address", "is_active")
    list_select_related = ("village",)
    list_filter = ("is_active", *AREA_FILTERS)
    search_fields = ("head_name", "=code")
    autocomplete_fields = ("village",)
    inlines = (ResidentInline,)

    def get_inlines(self, request: HttpRequest, obj: Household | None) -> _ListOrTuple[type[InlineModelAdmin[Any, Any]]]:
        return self.inlines if obj is not None else ()

    def get_fieldsets(self, request: HttpRequest, obj: Household | None = None) -> _FieldsetSpec:
        main = ("village", "code", "head_name", "address")
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": main}),
            (_("Record"), {"fields": ("is_active", "province", "held_capabilities", "created_at", "updated_at")}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Household | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("village", "is_active", "province", "held_capabilities", "created_at", "updated_at")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # residents and counts hang off households; they become inactive instead

    @admin.display(description=_("capabilities held"))
    def held_capabilities(self, obj: Household) -> str:
        return held_capability_names(obj.capability_mask, "household", obj.derived_mask)


# --- residents --------------------------------------------------------------------------------


class ResidentForm(ServiceModelForm):
    citizen_id = forms.CharField(
        label=_("new citizen ID (CCCD)"),
        required=False,
        max_length=20,
        widget=UnrenderedTextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
        help_text=_("12 digits. Leave empty to keep the stored number; it is never shown in full."),
    )
    phone = forms.CharField(
        label=_("new phone number"),
        required=False,
        max_length=20,
        widget=UnrenderedTextInput(attrs={"autocomplete": "off", "inputmode": "tel"}),
        help_text=_("Leave empty to keep the stored number; it is never shown in full."),
    )
    consent_channel = forms.ChoiceField(
        label=_("consent to the notice given"),
        required=False,
        choices=[("", _("not now")), *ConsentChannel.choices],
        help_text=_(
            "Needed before a citizen ID or phone number is stored, unless the resident's consent is already "
            "on file: how the resident agreed to the current notice."
        ),
    )
    clear_citizen_id = forms.BooleanField(label=_("remove the stored citizen ID"), required=False)
    clear_phone = forms.BooleanField(label=_("remove the stored phone number"), required=False)

    service_error_aliases = {"on": "left_on"}

    class Meta:
        model = Resident
        fields = (
            "village",
            "household",
            "full_name",
            "sex",
            "birth_date",
            "birth_year",
            "ethnicity",
            "status",
            "left_on",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "birth_year" in self.fields:
            self.fields["birth_year"].required = False
            self.fields["birth_year"].help_text = _("Enough when the birth date is not known.")
        if self.instance.pk is None:
            self.fields["village"].required = False
            self.fields["village"].help_text = _("For a new household; not needed when you choose a household.")
            self.fields["household"].required = False
            self.fields["household"].help_text = _("Leave empty to start a new household headed by this resident.")

    def perform(self) -> Resident:
        if self.adding:
            return self._register()
        return self._change()

    def _register(self) -> Resident:
        data = self.cleaned_data
        household = data.get("household")
        village = data.get("village")
        if household is None:
            if village is None:
                raise field_error("village", _("Choose the village, or an existing household."), code="required")
            household = register_household(actor=self.actor, village=village, head_name=data["full_name"])
        elif village is not None and household.village_id != village.pk:
            raise field_error("household", _("This household lives in another village."), code="household_village")
        return register_resident(
            actor=self.actor,
            household=household,
            full_name=data["full_name"],
            sex=data["sex"],
            birth_year=data.get("birth_year"),
            birth_date=data.get("birth_date"),
            citizen_id=data.get("citizen_id", ""),
            phone=data.get("phone", ""),
            ethnicity=data.get("ethnicity", ""),
            consent=self._consent(),
        )

    def _consent(self) -> Any:
        channel = self.cleaned_data.get("consent_channel")
        return ConsentInput(channel=channel) if channel else None

    def _change(self) -> Resident:
        data, changed = self.cleaned_data, set(self.changed_data)
        resident = cast("Resident", self.stored)
        changes: dict[str, Any] = {name: data[name] for name in ("full_name", "sex", "ethnicity") if name in changed}
        changes.update(self._birth_changes(resident, changed))
        changes.update(self._identifier_changes())
        if changes:
            resident = update_resident(actor=self.actor, resident=resident, consent=self._consent(), **changes)
        if "household" in changed and data.get("household") is not None:
            resident = move_resident(actor=self.actor, resident=resident, household=data["household"])
        status = data.get("status")
        if "status" in changed and status != ResidentStatus.ACTIVE:
            if data.get("left_on") is None:
                raise field_error("left_on", _("Give the date the resident moved out or died."), code="required")
            resident = record_departure(actor=self.actor, resident=resident, status=data["status"], on=data["left_on"])
        elif "left_on" in changed and status == ResidentStatus.ACTIVE:
            raise field_error(
                "left_on", _("Set the status to moved out or deceased as well."), code="left_on_without_status"
            )
        return resident

    def _birth_changes(self, resident: Resident, changed: set[str]) -> dict[str, Any]:
        data = self.cleaned_data
        if not changed & {"birth_date", "birth_year"}:
            return {}
        if data.get("birth_date") is None:
            # Year only: a cleared date keeps the year on the form (or the stored one).
            return {"birth_date": None, "birth_year": data.get("birth_year") or resident.birth_year}
        changes: dict[str, Any] = {"birth_date": data["birth_date"]}
        if "birth_year" in changed and data.get("birth_year") is not None:
            changes["birth_year"] = data["birth_year"]  # the service checks it agrees with the date
        return changes

    def _identifier_changes(self) -> dict[str, str]:
        """Blank inputs keep the stored identifiers; the checkboxes remove them."""
        data, changes = self.cleaned_data, {}
        for name in ("citizen_id", "phone"):
            if data.get(f"clear_{name}"):
                changes[name] = ""
            elif data.get(name):
                changes[name] = data[name]
        return changes


@admin.register(Resident)
class ResidentAdmin(
    PrivacyAdminMixin, DuplicatesAdminMixin, ImportExportAdminMixin, ServiceFormAdminMixin, PopulationAdmin
):
    form = ResidentForm
    import_kind = "residents"
    export_kinds = ("residents",)
    # Ethnicity is sensitive personal data: never in lists, filters or search.
    list_display = (
        "full_name",
        "birth_year",
        "sex",
        "village",
        "household",
        "citizen_id_masked",
        "phone_masked",
        "status",
    )
    list_select_related = ("village", "household")
    list_filter = ("status", "sex", *AREA_FILTERS, IdentifierHashFilter)
    search_fields = ("full_name",)
    search_help_text = _("Name, or the full citizen ID or phone number (exact match only).")
    autocomplete_fields = ("village", "household")

    def get_fieldsets(self, request: HttpRequest, obj: Resident | None = None) -> _FieldsetSpec:
        person = ("full_name", "sex", "birth_date", "birth_year")
        if obj is None:
            return [
                (None, {"fields": ("village", "household", *person)}),
                (_("Identifiers"), {"fields": ("citizen_id", "phone", "consent_channel")}),
                (_("Sensitive data"), {"fields": ("ethnicity",)}),
            ]
        if self.has_change_permission(request, obj):
            ids: tuple[str, ...] = (
                "citizen_id_masked",
                "citizen_id",
                "clear_citizen_id",
                "phone_masked",
                "phone",
                "consent_channel",
                "clear_phone",
            )
        else:
            ids = ("citizen_id_masked", "phone_masked")
        return [
            (None, {"fields": ("village", "household", *person, "status", "left_on")}),
            (_("Identifiers"), {"fields": ids}),
            (_("Sensitive data"), {"fields": ("ethnicity",), "classes": ("collapse",)}),
            (_("Record"), {"fields": ("province", "held_capabilities", "created_at", "updated_at")}),
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Resident | None = None) -> _ListOrTuple[str]:
        if obj is None:
            return ()
        fields = [
            "village",
            "citizen_id_masked",
            "phone_masked",
            "province",
            "held_capabilities",
            "created_at",
            "updated_at",
        ]
        if obj.status != ResidentStatus.ACTIVE:
            fields += ["status", "left_on"]  # a departure is recorded once
        return fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the counts and the logs keep residents; a departure is recorded instead

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        digest = identifier_digest(search_term)
        queryset, _distinct = super().get_search_results(request, queryset, "")  # autocomplete narrowing only
        if digest is None:
            # By the folded name, as everywhere: any case, accents or Unicode form (SQLite too).
            return queryset.filter(name_matches(search_term)), False
        return queryset.filter(Q(citizen_id_hash=digest) | Q(phone_hash=digest)), False

    @method_decorator(sensitive_post_parameters("citizen_id", "phone"))
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Error reports (and DEBUG pages) must not carry the typed identifiers either.
        return super().changeform_view(request, *args, **kwargs)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # An identifier typed into the search box is swapped for its keyed hash before the page is
        # drawn, so the number is not echoed in the search box, the filter links or the pager.
        term = request.GET.get("q", "")
        digest = identifier_digest(term) if request.method == "GET" else None
        if digest is not None:
            params = request.GET.copy()
            params.pop("q", None)
            params[IDENTIFIER_HASH_PARAM] = digest
            return HttpResponseRedirect(f"{request.path}?{params.urlencode()}")
        return super().changelist_view(request, extra_context)

    def search_params(self, request: HttpRequest, term: str) -> dict[str, str]:
        # A citizen ID or phone number becomes its keyed hash: the number never enters a URL.
        digest = identifier_digest(term)
        return {IDENTIFIER_HASH_PARAM: digest} if digest is not None else super().search_params(request, term)

    @admin.display(description=_("capabilities held"))
    def held_capabilities(self, obj: Resident) -> str:
        return held_capability_names(obj.capability_mask, "resident")


# --- consent ----------------------------------------------------------------------------------


class ConsentRecordForm(forms.ModelForm):
    purposes = forms.MultipleChoiceField(
        label=_("purposes"), choices=ConsentPurpose.choices, widget=forms.CheckboxSelectMultiple
    )

    notice_version = forms.ChoiceField(label=_("notice version"), choices=[])

    class Meta:
        model = ConsentRecord
        fields = ("resident", "purposes", "channel", "notice_version", "given_at")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        resident = data.get("resident")
        try:  # the same dates as every other route: not future, not before 2023-07-01 nor the birth
            check_given_at(
                data.get("given_at"),
                birth_year=resident.birth_year if resident else None,
                birth_date=resident.birth_date if resident else None,
                field="given_at",
            )
        except ValidationError as exc:
            self.add_error(None, exc)
        return data

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only a notice the system knows: the record must say which text the person agreed to.
        choice_field(self, "notice_version").choices = [(v, v) for v in sorted(NOTICES, reverse=True)]
        self.fields["notice_version"].initial = CURRENT_NOTICE_VERSION


@admin.register(ConsentRecord)
class ConsentRecordAdmin(PopulationAdmin):
    """Consent is evidence: recorded once, then only withdrawn (an action), never edited."""

    form = ConsentRecordForm
    scope_area_field = "resident__village"
    can_change_rows = False
    can_delete_rows = False
    list_display = (
        "resident",
        "purpose_labels",
        "channel",
        "notice_version",
        "given_at",
        "withdrawn_at",
        "recorded_by",
    )
    list_select_related = ("resident", "recorded_by")
    list_filter = ("channel", "notice_version", ("withdrawn_at", admin.EmptyFieldListFilter), *AREA_FILTERS)
    search_fields = ("resident__full_name",)
    date_hierarchy = "given_at"
    autocomplete_fields = ("resident",)
    readonly_fields = ("province", "recorded_by", "withdrawn_at", "withdrawn_recorded_by")
    actions = ("withdraw",)

    def get_fields(self, request: HttpRequest, obj: ConsentRecord | None = None) -> tuple[str, ...]:
        main = ("resident", "purposes", "channel", "notice_version", "given_at")
        return main if obj is None else (*main, *self.readonly_fields)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"given_at": timezone.now(), **super().get_changeform_initial_data(request)}

    def save_model(self, request: HttpRequest, obj: ConsentRecord, form: Any, change: bool) -> None:
        obj.province_id = obj.resident.province_id
        obj.recorded_by = staff_user(request)
        super().save_model(request, obj, form, change)

    @admin.display(description=_("purposes"))
    def purpose_labels(self, obj: ConsentRecord) -> str:
        labels = dict(ConsentPurpose.choices)
        return "; ".join(str(labels.get(p, p)) for p in obj.purposes or [])

    @admin.action(
        description=_("Record that these residents withdrew their consent (erases their identifiers)"),
        permissions=("add",),
    )
    def withdraw(self, request: HttpRequest, queryset: QuerySet[ConsentRecord]) -> None:
        # Through the service, one resident at a time: a withdrawal covers all the person's consents,
        # erases their identifiers and is recorded in the trail; one refused does not stop the rest.
        residents = {c.resident for c in queryset.filter(withdrawn_at__isnull=True).select_related("resident__village")}
        count = 0
        for resident in sorted(residents, key=lambda r: r.pk):
            try:
                count += withdraw_consent(actor=staff_user(request), resident=resident)
            except ValidationError as exc:
                self.message_user(request, f"{resident}: {' '.join(exc.messages)}", messages.ERROR)
        self.message_user(
            request,
            ngettext("%(count)d consent withdrawn.", "%(count)d consents withdrawn.", count) % {"count": count},
            messages.SUCCESS,
        )
