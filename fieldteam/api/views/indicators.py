"""Reported indicator values (those no household data can give): list them, enter or correct one.

Entering a value is for officers (commune, province) on an area they may write in, and for
superusers; team members and viewers read only.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam.api.serializers import ReportedValueSerializer
from fieldteam.api.views.base import IdFilter, ScopedViewSet, acting_user, parse_period
from fieldteam.api.views.people import ScopedPrimaryKeyField
from fieldteam.choices import IndicatorKind, PeriodKind
from fieldteam.models import Indicator, IndicatorValue, User
from fieldteam.permissions import scope_for
from fieldteam.selectors.field_work import areas_visible, int_pk
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services.indicators import report_indicator_value


def reported_values_visible(user: User) -> QuerySet[IndicatorValue]:
    rows = IndicatorValue.objects.filter(indicator__kind=IndicatorKind.REPORTED).select_related("indicator")
    return scope_for(user).filter(rows, area_field="area").order_by("-period_start", "indicator__sort_order", "pk")


class ReportedValueFilter(django_filters.FilterSet):
    area = IdFilter(field_name="area_id")
    indicator = django_filters.CharFilter(field_name="indicator__code")
    period_kind = django_filters.ChoiceFilter(choices=PeriodKind.choices)
    period = django_filters.CharFilter(method="filter_period", label="2026-03, 2026-Q1 or 2026")

    class Meta:
        model = IndicatorValue
        fields = ["area", "indicator", "period_kind", "period"]

    def filter_period(self, queryset: QuerySet[IndicatorValue], name: str, value: str) -> QuerySet[IndicatorValue]:
        period = parse_period(value)
        return queryset.filter(period_kind=period.kind, period_start=period.start)


class ReportedValueInput(serializers.Serializer):
    indicator = serializers.SlugRelatedField(
        slug_field="code", queryset=Indicator.objects.filter(kind=IndicatorKind.REPORTED, is_active=True)
    )
    area = ScopedPrimaryKeyField(visible=lambda user: areas_visible(user=user))
    period = serializers.CharField(max_length=10, help_text="2026-03 (month), 2026-Q1 (quarter) or 2026 (year).")
    value = serializers.DecimalField(max_digits=9, decimal_places=3)
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ReportedValueViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Values of reported indicators for areas in your scope; officers enter or correct them."""

    model = IndicatorValue
    serializer_class = ReportedValueSerializer
    filterset_class = ReportedValueFilter

    def scoped_queryset(self, user: User) -> QuerySet[IndicatorValue]:
        return reported_values_visible(user)

    def get_object(self) -> IndicatorValue:
        row = self.get_queryset().filter(pk=int_pk(self.kwargs["pk"])).first()
        if row is None:
            raise OutOfScope
        return row

    @extend_schema(request=ReportedValueInput, responses={201: ReportedValueSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Enter (or correct) a reported indicator's value for an area and period."""
        user = acting_user(request)
        data = ReportedValueInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        period = parse_period(values["period"])
        area = values["area"]
        row = report_indicator_value(
            actor=user,
            indicator=values["indicator"],
            area=area,
            period=period,
            value=values["value"],
            note=values["note"],
        )
        return Response(self.get_serializer(row).data, status=status.HTTP_201_CREATED)
