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
    Resident,
    Team,
    TrainingSession,
    User,
)
from fieldteam.periods import Period


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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class ResidentSerializer(serializers.ModelSerializer):
    citizen_id = serializers.CharField(source="citizen_id_masked", read_only=True)
    phone = serializers.CharField(source="phone_masked", read_only=True)
    capabilities = CapabilityCodesField()

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


class IndicatorBriefSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.CharField()
    group = serializers.CharField()
    unit = serializers.CharField()


class IndicatorReadingSerializer(serializers.Serializer):
    indicator = IndicatorBriefSerializer()
    area = serializers.IntegerField(source="area_id")
    period = serializers.SerializerMethodField()
    numerator = serializers.IntegerField(allow_null=True)
    denominator = serializers.IntegerField(allow_null=True)
    value = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    is_live = serializers.BooleanField()
    target = TargetSerializer(allow_null=True)
    gap = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    expected_now = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    on_track = serializers.BooleanField(allow_null=True)
    projection = serializers.CharField()
    projected_date = serializers.DateField(allow_null=True)

    @extend_schema_field(OpenApiTypes.STR)
    def get_period(self, obj: Any) -> str:
        return str(obj.period)


class ChildValuesSerializer(serializers.Serializer):
    area = AreaBriefSerializer()
    gap_score = serializers.DecimalField(max_digits=9, decimal_places=3, allow_null=True)
    readings = IndicatorReadingSerializer(many=True)


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
