"""The area tree, as far as the user sees it; and indicator values for an area and its children."""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Length, Substr
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam.api.serializers import AreaSerializer, ChildValuesSerializer, IndicatorReadingSerializer
from fieldteam.api.views.base import IdFilter, IntFilter, ScopedViewSet, acting_user, parse_period
from fieldteam.choices import AreaKind, PeriodKind
from fieldteam.errors import field_error
from fieldteam.models import Area, Indicator, User
from fieldteam.periods import Period, today
from fieldteam.selectors.field_work import area_get, areas_visible
from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values
from fieldteam.selectors.status import reached_months

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,60}")


def with_parent(queryset: QuerySet[Area]) -> QuerySet[Area]:
    """Annotate each area with its parent's id (the area whose path is this one's minus one step)."""
    parent_path = Substr(OuterRef("path"), 1, Length(OuterRef("path")) - Area.steplen)
    return queryset.annotate(parent_id=Subquery(Area.objects.filter(path=parent_path).values("pk")[:1]))


class AreaFilter(django_filters.FilterSet):
    parent = IdFilter(method="filter_parent", label="Children of this area")
    kind = django_filters.MultipleChoiceFilter(choices=AreaKind.choices)
    depth = IntFilter(min_value=1, max_value=63)
    code = django_filters.CharFilter()
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Area
        fields = ["parent", "kind", "depth", "code", "q"]

    def filter_parent(self, queryset: QuerySet[Area], name: str, value: Any) -> QuerySet[Area]:
        parent = Area.objects.filter(pk=value).values_list("path", "depth").first()
        if parent is None:
            return queryset.none()
        return queryset.filter(path__startswith=parent[0], depth=parent[1] + 1)


PERIOD_PARAMETER = OpenApiParameter(
    "period", OpenApiTypes.STR, description="2026-03 (month), 2026-Q1 (quarter) or 2026 (year); default: this month"
)


def _period(request: Request) -> Period:
    text = request.query_params.get("period")
    if not text:
        return Period.containing(PeriodKind.MONTH, today())
    return parse_period(text)


class AreaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Browse the area tree: the areas in your scope, an area's children, its indicator values."""

    model = Area
    serializer_class = AreaSerializer
    filterset_class = AreaFilter

    def scoped_queryset(self, user: User) -> QuerySet[Area]:
        return with_parent(areas_visible(user=user))

    def get_object(self) -> Area:
        user = acting_user(self.request)
        area = area_get(user=user, area_id=self.kwargs["pk"])
        return with_parent(Area.objects.filter(pk=area.pk)).get()

    @extend_schema(responses=AreaSerializer(many=True))
    @action(detail=True, methods=["get"])
    def children(self, request: Request, pk: str) -> Response:
        """The children of an area that lie in your scope."""
        area = area_get(user=acting_user(request), area_id=pk)
        queryset = self.get_queryset().filter(path__startswith=area.path, depth=area.depth + 1)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(parameters=[PERIOD_PARAMETER], responses=IndicatorReadingSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=None)
    def indicators(self, request: Request, pk: str) -> Response:
        """Every active indicator's value for the area and period, against its targets."""
        user = acting_user(request)
        area = area_get(user=user, area_id=pk)
        readings = area_indicator_values(user=user, area=area, period=_period(request))
        reached = reached_months(user=user, area=area, readings=readings)
        return Response(IndicatorReadingSerializer(readings, many=True, context={"reached": reached}).data)

    @extend_schema(
        parameters=[
            PERIOD_PARAMETER,
            OpenApiParameter("indicator", OpenApiTypes.STR, description="Rank by this indicator's gap (its code)"),
        ],
        responses=ChildValuesSerializer(many=True),
        filters=False,
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="indicators/children",
        filterset_class=None,
        pagination_class=None,
    )
    def indicator_children(self, request: Request, pk: str) -> Response:
        """The same for each child of the area, largest gap first."""
        user = acting_user(request)
        area = area_get(user=user, area_id=pk)
        indicator = None
        code = request.query_params.get("indicator")
        if code:
            if not SLUG.fullmatch(code):
                raise field_error("indicator", _("Unknown indicator."), code="unknown_indicator")
            indicator = Indicator.objects.filter(code=code, is_active=True).first()
            if indicator is None:
                raise field_error("indicator", _("Unknown indicator."), code="unknown_indicator")
        rows = child_indicator_values(user=user, area=area, period=_period(request), indicator=indicator)
        return Response(ChildValuesSerializer(rows, many=True).data)
