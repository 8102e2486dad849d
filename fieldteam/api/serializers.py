"""Output serializers shared by the API's views (inputs live with their views).

Identifiers are returned masked only (``*********789``): no role sees a citizen ID or phone number
in clear over the API. Ethnicity, a sensitive datum, is never returned.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from fieldteam.choices import AreaKind
from fieldteam.models import (
    Area,
    AssistanceItem,
    AssistanceLog,
    Capability,
    Household,
    Indicator,
    IndicatorValue,
    Membership,
    OfficialPopulation,
    Resident,
    Team,
    TrainingSession,
    User,
)
from fieldteam.models.population import COUNT_FIELDS
from fieldteam.periods import Period
from fieldteam.rollup.derivations import Derivations, load_derivations
from fieldteam.selectors.indicators import MEASURED_OFFICIAL, MEASURED_REGISTER, MEASURED_REPORTED
from fieldteam.selectors.status import (
    BEHIND,
    MISSED,
    ON_TRACK,
    REACHED,
    STATUSES,
    ReachedMonths,
    Status,
    reading_status,
    target_status,
)


def capability_bits() -> list[tuple[int, str]]:
    """(mask, code) of every capability, for decoding a subject's ``capability_mask``."""
    return [
        (1 << bit, code) for bit, code in Capability.objects.order_by("sort_order", "code").values_list("bit", "code")
    ]


class CapabilityCodesField(serializers.Field):
    """The codes of the capabilities a subject holds, decoded from its mask with the view's catalogue."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("source", "capability_mask")
        super().__init__(**kwargs)

    def to_representation(self, value: int) -> list[str]:
        bits = self.context.get("capability_bits")
        if bits is None:
            bits = self.context["capability_bits"] = capability_bits()  # type: ignore[index]  # the dict given by the view: cached there for the whole list
        return [code for mask, code in bits if value & mask]


extend_schema_field({"type": "array", "items": {"type": "string"}})(CapabilityCodesField)


class DerivedCapabilityCodesField(serializers.Field):
    """The codes of the capabilities a subject holds by a derivation rule, not by an adoption.

    A household's through its members (``derived_mask``), anyone's through "implies" rules: they
    count like adopted ones, but no one logged them, so they are listed apart from ``capabilities``.
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("source", "*")
        super().__init__(**kwargs)

    def to_representation(self, value: Resident | Household) -> list[str]:
        context: dict[str, Any] = self.context  # type: ignore[assignment]  # the dict given by the view: cached there for the whole list
        bits = context.get("capability_bits")
        if bits is None:
            bits = context["capability_bits"] = capability_bits()
        derivations: Derivations | None = context.get("derivations")
        if derivations is None:
            derivations = context["derivations"] = load_derivations()
        adopted = value.capability_mask
        held = derivations.closure(adopted | getattr(value, "derived_mask", 0))
        return [code for mask, code in bits if held & mask and not adopted & mask]


extend_schema_field({"type": "array", "items": {"type": "string"}})(DerivedCapabilityCodesField)


class UserBriefSerializer(serializers.ModelSerializer):
    full_name = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "full_name"]

    def get_full_name(self, obj: User) -> str:
        return obj.get_full_name()


class AreaSerializer(serializers.ModelSerializer):
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)  # type: ignore[assignment]  # a declared field, not Field.parent (the metaclass takes it)
    province = serializers.IntegerField(source="province_id", read_only=True, allow_null=True)
    has_children = serializers.SerializerMethodField()
    kind = serializers.ChoiceField(choices=AreaKind.choices, read_only=True)

    class Meta:
        model = Area
        fields = ["id", "code", "name", "kind", "depth", "parent", "province", "has_children", "is_active"]

    def get_has_children(self, obj: Area) -> bool:
        return obj.numchild > 0


class AreaBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Area
        fields = ["id", "code", "name", "kind"]


class TeamSerializer(serializers.ModelSerializer):
    areas = serializers.SerializerMethodField()
    member_count = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "province", "areas", "founded_on", "decision_ref", "is_active", "member_count"]

    def get_areas(self, obj: Team) -> list[int]:
        return sorted(area.pk for area in obj.areas.all())

    def get_member_count(self, obj: Team) -> int:
        return self.context.get("member_counts", {}).get(obj.pk, 0)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserBriefSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "affiliation", "started_on", "ended_on"]


class HouseholdSerializer(serializers.ModelSerializer):
    capabilities = CapabilityCodesField()
    derived_capabilities = DerivedCapabilityCodesField()

    class Meta:
        model = Household
        fields = [
            "id",
            "village",
            "code",
            "head_name",
            "address",
            "is_active",
            "capabilities",
            "derived_capabilities",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResidentSerializer(serializers.ModelSerializer):
    citizen_id = serializers.CharField(source="citizen_id_masked", read_only=True)
    phone = serializers.CharField(source="phone_masked", read_only=True)
    capabilities = CapabilityCodesField()
    derived_capabilities = DerivedCapabilityCodesField()

    class Meta:
        model = Resident
        fields = [
            "id",
            "household",
            "village",
            "full_name",
            "sex",
            "birth_year",
            "birth_date",
            "citizen_id",
            "phone",
            "status",
            "capabilities",
            "derived_capabilities",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AssistanceItemSerializer(serializers.ModelSerializer):
    capability: serializers.SlugRelatedField[Capability] = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = AssistanceItem
        fields = ["capability", "outcome", "reason"]


_INSTANT = serializers.DateTimeField(read_only=True)


class AssistanceLogSerializer(serializers.ModelSerializer):
    """A log with its member and items.

    ``to_representation`` writes the same as the declared fields would, by hand: building a
    ModelSerializer's fields for each log (and its nested ones) cost more than the rest of
    answering a logged assistance. ``tests/api/test_log_representation.py`` holds them equal.
    """

    member = UserBriefSerializer(read_only=True)
    items = AssistanceItemSerializer(many=True, read_only=True)

    def to_representation(self, instance: AssistanceLog) -> dict[str, Any]:
        member = instance.member
        return {
            "id": str(instance.id),
            "team": instance.team_id,
            "member": {"id": member.pk, "username": member.username, "full_name": member.get_full_name()},
            "resident": instance.resident_id,
            "household": instance.household_id,
            "village": instance.village_id,
            "occurred_at": _INSTANT.to_representation(instance.occurred_at),
            "recorded_at": _INSTANT.to_representation(instance.recorded_at),
            "channel": instance.channel,
            "note": instance.note,
            "training_session": instance.training_session_id,
            "items": [
                {"capability": item.capability.code, "outcome": item.outcome, "reason": item.reason}
                for item in instance.items.all()
            ],
        }

    class Meta:
        model = AssistanceLog
        fields = [
            "id",
            "team",
            "member",
            "resident",
            "household",
            "village",
            "occurred_at",
            "recorded_at",
            "channel",
            "note",
            "training_session",
            "items",
        ]
        read_only_fields = fields


class TrainingSessionSerializer(serializers.ModelSerializer):
    trainer = UserBriefSerializer(read_only=True)
    capability: serializers.SlugRelatedField[Capability] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    attendees = serializers.SerializerMethodField()

    class Meta:
        model = TrainingSession
        fields = [
            "id",
            "team",
            "village",
            "topic",
            "started_at",
            "ended_at",
            "trainer",
            "capability",
            "attendees",
            "recorded_at",
        ]
        read_only_fields = fields

    def get_attendees(self, obj: TrainingSession) -> list[int]:
        return sorted(a.resident_id for a in obj.attendances.all())


class TargetSerializer(serializers.Serializer):
    year = serializers.IntegerField()
    value = serializers.DecimalField(max_digits=7, decimal_places=2)
    comparison = serializers.CharField()
    area = serializers.IntegerField(source="area_id")
    inherited = serializers.BooleanField()


class TargetStatusSerializer(TargetSerializer):
    """A target and where the reading stands against it (``context["status"]``, from ``selectors.status``)."""

    status = serializers.SerializerMethodField()
    status_label = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_status(self, obj: Any) -> str:
        status: Status = self.context["status"]
        return status.code

    @extend_schema_field(OpenApiTypes.STR)
    def get_status_label(self, obj: Any) -> str:
        status: Status = self.context["status"]
        return status.label


# ``on_track`` as older clients read it, from the status: the one rule decides both.
_ON_TRACK = {REACHED: True, ON_TRACK: True, BEHIND: False, MISSED: False}


class IndicatorBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    group = serializers.CharField()
    unit = serializers.CharField()


class OfficialReadingSerializer(serializers.Serializer):
    """The rate over the official population (what the province reports), the register's coverage,
    which figure it is (the area's own or the sum of its children, and its years) and the warnings.

    ``available`` false: no official figure (``label`` says why, ``missing`` names the children
    without one); the reading's own ``value`` is then the register's rate only.
    """

    band = serializers.CharField(source="official_band", help_text="The population band; empty: none applies.")
    available = serializers.BooleanField(source="has_official")
    value = serializers.DecimalField(source="official_value", max_digits=12, decimal_places=3, allow_null=True)
    denominator = serializers.IntegerField(source="official.value", allow_null=True)
    coverage = serializers.DecimalField(
        max_digits=12, decimal_places=3, allow_null=True, help_text="Registered ÷ official, in %."
    )
    figure = serializers.CharField(source="official.source", help_text="own, children, or empty (none).")
    first_year = serializers.SerializerMethodField()
    last_year = serializers.SerializerMethodField()
    label = serializers.CharField(source="official_source_label")  # type: ignore[assignment]  # a declared field, not Field.label (the metaclass takes it)
    missing = serializers.ListField(child=serializers.CharField(), source="official.missing")
    warnings = serializers.ListField(child=serializers.CharField())
    warning_labels = serializers.ListField(child=serializers.CharField())

    @extend_schema_field(OpenApiTypes.INT)
    def get_first_year(self, obj: Any) -> int | None:
        return obj.official.years[0] if obj.official.years else None

    @extend_schema_field(OpenApiTypes.INT)
    def get_last_year(self, obj: Any) -> int | None:
        return obj.official.years[1] if obj.official.years else None


class IndicatorReadingSerializer(serializers.Serializer):
    indicator = IndicatorBriefSerializer()
    area = serializers.IntegerField(source="area_id")
    period = serializers.SerializerMethodField()
    # First: the rate over the official population is what the province reports.
    official = OfficialReadingSerializer(source="*")
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)
    value = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    is_live = serializers.BooleanField()
    # What the target, gap, path and status are measured by (issue 15).
    measured_value = serializers.DecimalField(
        max_digits=12,
        decimal_places=3,
        allow_null=True,
        help_text="The value targets are measured by: ``official.value`` when there is one, else ``value``.",
    )
    measured_by = serializers.ChoiceField(
        choices=[MEASURED_OFFICIAL, MEASURED_REGISTER, MEASURED_REPORTED],
        help_text="official (over the official population), register (no official rate), reported.",
    )
    measured_label = serializers.CharField(help_text="``measured_by`` in words, in the request's language.")
    target = TargetSerializer(allow_null=True)
    gap = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    expected_now = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    status = serializers.SerializerMethodField(help_text="Against ``target``: " + ", ".join(STATUSES) + ".")
    status_label = serializers.SerializerMethodField(help_text="The status in words, in the request's language.")
    on_track = serializers.SerializerMethodField(
        help_text="For older clients, from ``status``: true reached or on track, false behind or missed, else null."
    )
    targets = serializers.SerializerMethodField(help_text="Every target in force, by year, each with its status.")
    projection = serializers.CharField()
    projected_date = serializers.DateField(allow_null=True)

    # ``context["reached"]`` (``selectors.status.reached_months``) dates a reached target; without it
    # the status is the same but says no month.
    def _reached(self) -> ReachedMonths | None:
        reached: ReachedMonths | None = self.context.get("reached")
        return reached

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, obj: Any) -> str:
        return str(obj.period)

    @extend_schema_field(serializers.ChoiceField(choices=STATUSES))
    def get_status(self, obj: Any) -> str:
        return reading_status(obj, self._reached()).code

    @extend_schema_field(OpenApiTypes.STR)
    def get_status_label(self, obj: Any) -> str:
        return reading_status(obj, self._reached()).label

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_on_track(self, obj: Any) -> bool | None:
        return _ON_TRACK.get(reading_status(obj, self._reached()).code)

    @extend_schema_field(TargetStatusSerializer(many=True))
    def get_targets(self, obj: Any) -> list[dict[str, Any]]:
        reached = self._reached()
        return [
            TargetStatusSerializer(info, context={"status": target_status(obj, info, reached)}).data
            for _year, info in sorted(obj.targets.items())
        ]


class ChildValuesSerializer(serializers.Serializer):
    area = AreaBriefSerializer()
    gap_score = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    readings = IndicatorReadingSerializer(many=True)


class NationalReadingSerializer(IndicatorReadingSerializer):
    """A national reading (``selectors.national``): the sums over the provinces, against Decision 411."""

    area = serializers.IntegerField(source="area_id", help_text="0: the nation, above the provinces (not an area).")
    aggregated = serializers.BooleanField(
        help_text="False for a reported indicator (a share of GRDP, ...): no national sum, ``value`` is null."
    )
    provinces_with_value = serializers.IntegerField(help_text="The provinces whose values the sums cover.")
    provinces = serializers.IntegerField(help_text="The provinces of the country.")


class ReportedValueSerializer(serializers.ModelSerializer):
    indicator: serializers.SlugRelatedField[Indicator] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    period = serializers.SerializerMethodField()
    reported_by = serializers.IntegerField(source="reported_by_id", read_only=True, allow_null=True)

    class Meta:
        model = IndicatorValue
        fields = ["id", "indicator", "area", "period", "value", "note", "reported_by", "reported_at"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, obj: IndicatorValue) -> str:
        return str(Period(obj.period_kind, obj.period_start))


class OfficialPopulationSerializer(serializers.ModelSerializer):
    area = serializers.IntegerField(source="area_id", read_only=True)
    entered_by = serializers.IntegerField(source="entered_by_id", read_only=True, allow_null=True)

    class Meta:
        model = OfficialPopulation
        fields = [
            "id",
            "area",
            "year",
            *COUNT_FIELDS,
            "source",
            "entered_by",
            "entered_at",
        ]
        read_only_fields = fields
