"""Households and residents in the user's areas: browse, search, register, correct.

A citizen ID or phone number never travels in a URL: the exact-identifier search is a POST
(``/residents/search/``), looked up through the keyed hash, and identifiers come back masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import F, Q, QuerySet
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from fieldteam import identifiers
from fieldteam.api.serializers import HouseholdSerializer, ResidentSerializer
from fieldteam.api.views.base import IdFilter, ScopedViewSet, acting_user
from fieldteam.choices import ConsentChannel, ConsentPurpose, ResidentStatus, Sex
from fieldteam.errors import field_error
from fieldteam.models import Capability, Household, Resident, User
from fieldteam.names import normalise_name
from fieldteam.selectors.field_work import areas_visible
from fieldteam.selectors.people import (
    household_get,
    households_visible,
    name_matches,
    resident_get,
    residents_by_identifier,
    residents_visible,
)
from fieldteam.selectors.person_data import export_person_data
from fieldteam.services import people, privacy
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, DEFAULT_PURPOSES, ConsentInput


@extend_schema_field(OpenApiTypes.INT)
class ScopedPrimaryKeyField(serializers.PrimaryKeyRelatedField):
    """A reference to a row the acting user may see; any other id reads as "does not exist"."""

    def __init__(self, *, visible: Callable[[User], QuerySet[Any]], **kwargs: Any) -> None:
        self.visible = visible
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet[Any]:
        return self.visible(self.context["request"].user)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | str) or not str(data).isdigit() or len(str(data)) > 18:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


def _visible_villages(user: User) -> QuerySet[Any]:
    return areas_visible(user=user)


def _visible_households(user: User) -> QuerySet[Household]:
    return households_visible(user=user)


# --- households ------------------------------------------------------------------------------------


class HouseholdFilter(django_filters.FilterSet):
    village = IdFilter(field_name="village_id")
    code = django_filters.CharFilter()
    is_active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(method="filter_q", label="Head of household or code contains")

    class Meta:
        model = Household
        fields = ["village", "code", "is_active", "q"]

    def filter_q(self, queryset: QuerySet[Household], name: str, value: str) -> QuerySet[Household]:
        return queryset.filter(Q(head_name__icontains=normalise_name(value)) | Q(code__icontains=value))


class HouseholdInput(serializers.Serializer):
    village = ScopedPrimaryKeyField(visible=_visible_villages)
    code = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    head_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    address = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class HouseholdViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Households in your areas; register a new one."""

    model = Household
    serializer_class = HouseholdSerializer
    filterset_class = HouseholdFilter

    def scoped_queryset(self, user: User) -> QuerySet[Household]:
        return households_visible(user=user)

    def get_object(self) -> Household:
        return household_get(user=acting_user(self.request), household_id=self.kwargs["pk"])

    @extend_schema(request=HouseholdInput, responses={201: HouseholdSerializer})
    def create(self, request: Request) -> Response:
        user = acting_user(request)
        data = HouseholdInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        household = people.register_household(
            actor=user,
            village=values["village"],
            code=values["code"],
            head_name=values["head_name"],
            address=values["address"],
        )
        return Response(self.get_serializer(household).data, status=status.HTTP_201_CREATED)


# --- residents -------------------------------------------------------------------------------------


class ResidentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label="Name contains (any case, accents optional)")
    household = IdFilter(field_name="household_id")
    village = IdFilter(field_name="village_id")
    status = django_filters.ChoiceFilter(choices=ResidentStatus.choices)
    sex = django_filters.ChoiceFilter(choices=Sex.choices)
    lacks = django_filters.CharFilter(method="filter_lacks", label="Does not hold this capability (its code)")
    holds = django_filters.CharFilter(method="filter_holds", label="Holds this capability (its code)")

    class Meta:
        model = Resident
        fields = ["q", "household", "village", "status", "sex", "lacks", "holds"]

    def filter_q(self, queryset: QuerySet[Resident], name: str, value: str) -> QuerySet[Resident]:
        return queryset.filter(name_matches(value))

    def _mask(self, code: str) -> int | None:
        bit = Capability.objects.filter(code=code).values_list("bit", flat=True).first()
        return None if bit is None else 1 << bit

    def filter_lacks(self, queryset: QuerySet[Resident], name: str, value: str) -> QuerySet[Resident]:
        mask = self._mask(value)
        if mask is None:
            return queryset.none()
        return queryset.annotate(_held=F("capability_mask").bitand(mask)).filter(_held=0)

    def filter_holds(self, queryset: QuerySet[Resident], name: str, value: str) -> QuerySet[Resident]:
        mask = self._mask(value)
        if mask is None:
            return queryset.none()
        return queryset.annotate(_held=F("capability_mask").bitand(mask)).exclude(_held=0)


class ConsentFields(serializers.Serializer):
    """A consent as the member records it: how it was given and which notice was shown."""

    channel = serializers.ChoiceField(choices=ConsentChannel.choices)
    notice_version = serializers.CharField(max_length=20, required=False, default=CURRENT_NOTICE_VERSION)
    purposes = serializers.ListField(
        child=serializers.ChoiceField(choices=ConsentPurpose.choices), required=False, min_length=1, max_length=10
    )
    given_at = serializers.DateTimeField(required=False, allow_null=True)


def consent_input(values: dict[str, Any] | None) -> ConsentInput | None:
    """The service's ``ConsentInput`` from a validated ``ConsentFields`` (``None`` when none was given)."""
    if not values:
        return None
    if not values.get("channel"):
        # A PATCH validates the nested object partially too: the channel is still required.
        raise field_error("consent.channel", _("Choose how the consent was given."), code="required")
    return ConsentInput(
        channel=values["channel"],
        notice_version=values.get("notice_version") or CURRENT_NOTICE_VERSION,
        purposes=tuple(values.get("purposes") or DEFAULT_PURPOSES),
        given_at=values.get("given_at"),
    )


class ResidentFields(serializers.Serializer):
    full_name = serializers.CharField(max_length=200)
    sex = serializers.ChoiceField(choices=Sex.choices)
    birth_year = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=9999)
    birth_date = serializers.DateField(required=False, allow_null=True)
    citizen_id = serializers.CharField(
        max_length=30, required=False, allow_blank=True, help_text="12 digits; stored encrypted, returned masked."
    )
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    consent = ConsentFields(
        required=False,
        allow_null=True,
        help_text="The resident's consent, given now: needed before a citizen ID or phone number is stored.",
    )


class ResidentInput(ResidentFields):
    household = ScopedPrimaryKeyField(visible=_visible_households)


class ResidentUpdateInput(ResidentFields):
    """Any subset of the resident's own fields; an empty ``citizen_id`` or ``phone`` removes it."""


class IdentifierSearchInput(serializers.Serializer):
    citizen_id = serializers.CharField(max_length=30, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True)


class AnonymiseInput(serializers.Serializer):
    reason = serializers.CharField(
        max_length=500, help_text="Why the person's data is erased (kept in the audit trail)."
    )


PERSONAL_DATA_FORMATS = ("json", "xlsx")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# Error reports (e-mails, trackers built on Django's reporter) must not carry a typed identifier:
# neither a form-encoded body's fields nor the locals holding it.
@method_decorator(sensitive_post_parameters("citizen_id", "phone"), name="dispatch")
class ResidentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Residents in your areas: search by name or household, register, correct; exact search by identifier."""

    model = Resident
    serializer_class = ResidentSerializer
    filterset_class = ResidentFilter

    def get_throttles(self) -> list[BaseThrottle]:
        if self.action == "search":
            self.throttle_scope = "identifier_search"
        return super().get_throttles()

    def scoped_queryset(self, user: User) -> QuerySet[Resident]:
        return residents_visible(user=user)

    def get_object(self) -> Resident:
        return resident_get(user=acting_user(self.request), resident_id=self.kwargs["pk"])

    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[BaseRenderer, str]:
        # ``?format=xlsx`` names the personal-data file, not a renderer: the action checks it (a 400).
        return super().perform_content_negotiation(request, force=force or self.action == "personal_data")

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=PERSONAL_DATA_FORMATS, required=False)],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, XLSX_TYPE): OpenApiTypes.BINARY},
        filters=False,
    )
    @action(detail=True, methods=["get"], url_path="personal-data", filterset_class=None, pagination_class=None)
    def personal_data(self, request: Request, pk: str) -> HttpResponse | Response:
        """Everything held about the resident, identifiers in clear (a data-subject access request).

        Officers of the area and superusers only; recorded in the audit trail. ``?format=xlsx`` gives
        a workbook to hand to the person.
        """
        fmt = request.query_params.get("format", "json")
        if fmt not in PERSONAL_DATA_FORMATS:
            raise field_error("format", _("Choose json or xlsx."), code="invalid_choice")
        resident = self.get_object()
        data = export_person_data(actor=acting_user(request), resident=resident)
        if fmt == "json":
            return Response(data)
        response = HttpResponse(privacy.person_data_xlsx(data), content_type=XLSX_TYPE)
        response["Content-Disposition"] = f'attachment; filename="personal-data-{resident.pk}.xlsx"'
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(request=AnonymiseInput, responses=ResidentSerializer, filters=False)
    @action(detail=True, methods=["post"], filterset_class=None, pagination_class=None)
    def anonymise(self, request: Request, pk: str) -> Response:
        """Erase who the resident is, keeping what they count for (an erasure request; irreversible)."""
        resident = self.get_object()
        data = AnonymiseInput(data=request.data)
        data.is_valid(raise_exception=True)
        resident = privacy.anonymise_resident(
            actor=acting_user(request), resident=resident, reason=data.validated_data["reason"]
        )
        return Response(self.get_serializer(resident).data)

    @extend_schema(request=ResidentInput, responses={201: ResidentSerializer})
    def create(self, request: Request) -> Response:
        user = acting_user(request)
        data = ResidentInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        household = values.pop("household")
        resident = people.register_resident(
            actor=user,
            household=household,
            full_name=values["full_name"],
            sex=values["sex"],
            birth_year=values.get("birth_year"),
            birth_date=values.get("birth_date"),
            citizen_id=values.get("citizen_id") or "",
            phone=values.get("phone") or "",
            consent=consent_input(values.get("consent")),
        )
        return Response(self.get_serializer(resident).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=ResidentUpdateInput, responses=ResidentSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        user = acting_user(request)
        resident = self.get_object()
        data = ResidentUpdateInput(data=request.data, partial=True, context={"request": request})
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        for name in ("citizen_id", "phone"):
            if name in changes and changes[name] is None:
                changes[name] = ""
        consent = consent_input(changes.pop("consent", None))
        resident = people.update_resident(actor=user, resident=resident, consent=consent, **changes)
        return Response(self.get_serializer(resident).data)

    @extend_schema(request=IdentifierSearchInput, responses=ResidentSerializer(many=True), filters=False)
    @action(detail=False, methods=["post"], filterset_class=None, pagination_class=None)
    @method_decorator(sensitive_variables("data", "citizen_id", "phone"))
    def search(self, request: Request) -> Response:
        """Residents in your areas with exactly this citizen ID or phone number (give one of them).

        A POST, so the identifier never appears in a URL or an access log.
        """
        data = IdentifierSearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        citizen_id = (data.validated_data.get("citizen_id") or "").strip()
        phone = (data.validated_data.get("phone") or "").strip()
        if bool(citizen_id) == bool(phone):
            raise field_error("citizen_id", _("Give either a citizen ID or a phone number."), code="one_identifier")
        try:
            if citizen_id:
                citizen_id = identifiers.validate_citizen_id(citizen_id)
            else:
                phone = identifiers.validate_phone(phone)
        except ValidationError as exc:
            raise ValidationError({"citizen_id" if citizen_id else "phone": exc.error_list}) from exc
        residents = residents_by_identifier(user=acting_user(request), citizen_id=citizen_id, phone=phone)[:50]
        return Response(self.get_serializer(residents, many=True).data)
