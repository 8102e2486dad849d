"""Breakdowns of the computed indicators and team coverage of an area (issue 15), read only.

    GET /api/v1/areas/<id>/breakdowns/?period=2026-03   every computed resident indicator by sex and
                                                        ethnic group; a hidden cell (fewer than 5
                                                        people, or one that would give such a cell
                                                        away) is null with "suppressed": true
    GET /api/v1/areas/<id>/team-coverage/               villages with an active team, members per
                                                        team, members trained; the area and its children

Scoped like the dashboards: an area outside the caller's scope answers 404.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user, parse_period
from fieldteam.choices import PeriodKind
from fieldteam.periods import Period, today
from fieldteam.selectors.breakdowns import Cell, area_breakdowns
from fieldteam.selectors.coverage import Coverage, team_coverage
from fieldteam.selectors.indicators import visible_area


def _number(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _cell(cell: Cell) -> dict[str, object]:
    return {
        "numerator": cell.numerator,
        "denominator": cell.denominator,
        "value": _number(cell.value),
        "suppressed": cell.suppressed,
    }


def _coverage(row: Coverage) -> dict[str, object]:
    return {
        "area": row.area.pk,
        "area_name": row.area.name,
        "villages": row.villages,
        "villages_with_team": row.villages_with_team,
        "village_share": _number(row.village_share),
        "teams": row.teams,
        "members": row.members,
        "members_per_team": _number(row.members_per_team),
        "members_trained": row.members_trained,
        "trained_share": _number(row.trained_share),
    }


class AreaBreakdownsView(APIView):
    """Every computed resident indicator of an area by sex and ethnic group, small cells suppressed."""

    @extend_schema(
        parameters=[OpenApiParameter("period", str, description="2026-03, 2026-Q1 or 2026; the current month if absent.")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, pk: int) -> Response:
        user = acting_user(request)
        area = visible_area(user=user, area_id=pk)
        text = request.query_params.get("period", "")
        period = parse_period(text) if text else Period.containing(PeriodKind.MONTH, today())
        rows = area_breakdowns(user=user, area=area, period=period)
        return Response(
            {
                "area": area.pk,
                "period": str(period),
                "indicators": [
                    {
                        "indicator": row.indicator.code,
                        "numerator": row.total[0],
                        "denominator": row.total[1],
                        "available": row.available,
                        "groups": {group: _cell(cell) for group, cell in row.cells.items()},
                    }
                    for row in rows
                ],
            }
        )


class AreaTeamCoverageView(APIView):
    """Team coverage of an area and of each of its children, as of today."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, pk: int) -> Response:
        user = acting_user(request)
        area = visible_area(user=user, area_id=pk)
        coverage = team_coverage(user=user, area=area)
        return Response({"total": _coverage(coverage.total), "children": [_coverage(c) for c in coverage.children]})
