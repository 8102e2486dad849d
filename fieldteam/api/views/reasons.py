"""Not-done reasons of an area (issue 17), read only: counts per child area, and the lists offices act on.

    GET /api/v1/areas/<id>/reasons/?period=2026-03                 people and households still
                                                                   lacking a capability at the
                                                                   period's end, per reason: the
                                                                   area and each child area
    GET /api/v1/areas/<id>/reason-list/?list=no_signal&period=...  the villages concerned, largest
                                                                   count first (no_signal,
                                                                   missing_documents, no_device)

Area names and counts only: no person, id or identifier. A count hidden as small (fewer than 5, or
one that would reveal such a count) is ``null``. For an office: an area outside the caller's area
roles (a team member's included) answers 404, like a missing area.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user, parse_period
from fieldteam.choices import PeriodKind
from fieldteam.errors import field_error
from fieldteam.models import Area, User
from fieldteam.periods import Period, today
from fieldteam.selectors.indicators import OutOfScope, visible_area
from fieldteam.selectors.reasons import (
    LISTS,
    MEASURES,
    ReasonRow,
    may_see_reasons,
    measure_label,
    reason_counts,
    reason_list,
)

PERIOD = OpenApiParameter("period", str, description="2026-03, 2026-Q1 or 2026; the current month if absent.")


class MeasureOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField(help_text="The measure's heading, in the language asked for.")


class ReasonRowOutput(serializers.Serializer):
    area_name = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField(allow_null=True), help_text="By measure; null: hidden.")


class ReasonCountsOutput(serializers.Serializer):
    period = serializers.CharField()
    measures = MeasureOutput(many=True)
    total = ReasonRowOutput()
    children = ReasonRowOutput(many=True)


class ReasonListRowOutput(serializers.Serializer):
    commune = serializers.CharField()
    village = serializers.CharField()
    count = serializers.IntegerField(allow_null=True, help_text="null: hidden (fewer than 5, or would reveal one).")


class ReasonListOutput(serializers.Serializer):
    period = serializers.CharField()
    list = serializers.CharField()
    title = serializers.CharField()
    measure = serializers.CharField()
    villages = ReasonListRowOutput(many=True)


def _office_area(request: Request, pk: int) -> tuple[User, Area, Period]:
    """The area if the caller sees its reasons (else 404, like a missing one), and the period asked."""
    user = acting_user(request)
    area = visible_area(user=user, area_id=pk)
    if not may_see_reasons(user=user, area=area):
        raise OutOfScope(_("No such area."))
    text = request.query_params.get("period", "")
    return user, area, parse_period(text) if text else Period.containing(PeriodKind.MONTH, today())


def _row(row: ReasonRow) -> dict[str, Any]:
    return {"area_name": row.area.name, "counts": dict(row.counts)}


class AreaReasonsView(APIView):
    """People and households still lacking a capability at the period's end, per reason, for an area and its children."""

    @extend_schema(parameters=[PERIOD], responses={200: ReasonCountsOutput})
    def get(self, request: Request, pk: int) -> Response:
        user, area, period = _office_area(request, pk)
        counts = reason_counts(user=user, area=area, period=period)
        data = {
            "period": str(period),
            "measures": [{"key": measure, "name": measure_label(measure)} for measure in MEASURES],
            "total": _row(counts.total),
            "children": [_row(child) for child in counts.children],
        }
        return Response(ReasonCountsOutput(data).data)


class AreaReasonListView(APIView):
    """The villages of an area concerned by one list (households without a signal, people lacking papers or a device)."""

    @extend_schema(
        parameters=[OpenApiParameter("list", str, enum=sorted(LISTS), required=True), PERIOD],
        responses={200: ReasonListOutput},
    )
    def get(self, request: Request, pk: int) -> Response:
        user, area, period = _office_area(request, pk)
        kind = request.query_params.get("list", "")
        if kind not in LISTS:
            raise field_error(
                "list", _("Choose one of: %(lists)s."), code="invalid_choice", params={"lists": ", ".join(sorted(LISTS))}
            )
        listed = reason_list(user=user, area=area, period=period, kind=kind)
        data = {
            "period": str(period),
            "list": kind,
            "title": listed.title,
            "measure": listed.measure,
            "villages": [{"commune": row.place, "village": row.village, "count": row.count} for row in listed.rows],
        }
        return Response(ReasonListOutput(data).data)
