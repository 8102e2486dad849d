"""Official population figures per area and year: list them, enter or correct one.

Entering a figure is for officers of the area (a commune officer for the commune and its villages,
a province officer for the province) and superusers; team members and viewers read only.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam.api.serializers import OfficialPopulationSerializer
from fieldteam.api.views.base import IdFilter, ScopedViewSet, acting_user
from fieldteam.api.views.people import ScopedPrimaryKeyField
from fieldteam.models import OfficialPopulation, User
from fieldteam.selectors.field_work import areas_visible, int_pk
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.selectors.population import official_populations_visible
from fieldteam.services.population import MAX_COUNT, set_official_population


class OfficialPopulationFilter(django_filters.FilterSet):
    area = IdFilter(field_name="area_id")
    year = django_filters.NumberFilter(field_name="year", min_value=2000, max_value=2100)

    class Meta:
        model = OfficialPopulation
        fields = ["area", "year"]


def _count(*, required: bool = False) -> serializers.DecimalField:
    # Any number: the service says what is wrong with it (negative, not whole, above the total), naming the field.
    return serializers.DecimalField(
        max_digits=15,
        decimal_places=3,
        max_value=MAX_COUNT * 10,
        min_value=-MAX_COUNT * 10,
        required=required,
        allow_null=not required,
        default=None if not required else serializers.empty,
    )


class OfficialPopulationInput(serializers.Serializer):
    area = ScopedPrimaryKeyField(visible=lambda user: areas_visible(user=user))
    year = serializers.IntegerField(min_value=2000, max_value=2100)
    total = _count(required=True)
    age_14_plus = _count()
    age_15_plus = _count()
    age_18_plus = _count()
    working_age_male = _count()
    working_age_female = _count()
    households = _count()
    source = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")  # type: ignore[assignment]  # a declared field, not Field.source (the metaclass takes it)


class OfficialPopulationWritten(OfficialPopulationSerializer):
    """The figure saved, and the warnings to show beside it (a band below the register's own count)."""

    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta(OfficialPopulationSerializer.Meta):
        fields = [*OfficialPopulationSerializer.Meta.fields, "warnings"]
        read_only_fields = fields


class OfficialPopulationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Official population figures of the areas in your scope; officers enter or correct them."""

    model = OfficialPopulation
    serializer_class = OfficialPopulationSerializer
    filterset_class = OfficialPopulationFilter

    def scoped_queryset(self, user: User) -> QuerySet[OfficialPopulation]:
        return official_populations_visible(user=user)

    def get_object(self) -> OfficialPopulation:
        row = self.get_queryset().filter(pk=int_pk(self.kwargs["pk"])).first()
        if row is None:
            raise OutOfScope
        return row

    @extend_schema(request=OfficialPopulationInput, responses={201: OfficialPopulationWritten})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Enter (or correct) an area's official population for a year (the area and year identify it)."""
        user = acting_user(request)
        data = OfficialPopulationInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        result = set_official_population(actor=user, **data.validated_data)
        result.figure.warnings = result.warnings  # type: ignore[attr-defined]  # shown with the saved row
        return Response(OfficialPopulationWritten(result.figure).data, status=status.HTTP_201_CREATED)
