"""The national level (issue 18), read only: Việt Nam above the provinces, against Decision 411.

    GET /api/v1/nation/indicators/?period=2026-05            every active indicator's national value
                                                             (sums over the provinces' rows), its
                                                             targets and status
    GET /api/v1/nation/indicators/provinces/?period=&indicator=<code>
                                                             the provinces, largest gap first

The period defaults to the last closed month: only closed periods have national sums
(``fieldteam.selectors.national``). Only superusers and holders of ``fieldteam.view_nation``
see it; anyone else gets 404, as for an area outside their scope.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.serializers import ChildValuesSerializer, NationalReadingSerializer
from fieldteam.api.views.base import acting_user, parse_period
from fieldteam.errors import field_error
from fieldteam.models import Indicator
from fieldteam.periods import Period
from fieldteam.selectors.national import national_indicator_values, province_ranking

SLUG = re.compile(r"[-a-zA-Z0-9_]{1,60}")
PERIOD_PARAMETER = OpenApiParameter(
    "period",
    OpenApiTypes.STR,
    description="2026-03 (month), 2026-Q1 (quarter) or 2026 (year); default: the last closed month",
)


def _period(request: Request) -> Period | None:
    text = request.query_params.get("period")
    return parse_period(text) if text else None


class NationIndicatorsView(APIView):
    """Every active indicator's national value for the period, against the national targets."""

    @extend_schema(parameters=[PERIOD_PARAMETER], responses=NationalReadingSerializer(many=True))
    def get(self, request: Request) -> Response:
        readings = national_indicator_values(user=acting_user(request), period=_period(request))
        return Response(NationalReadingSerializer(readings, many=True).data)


class NationProvincesView(APIView):
    """Each province's values for the period against its own targets, largest gap first."""

    @extend_schema(
        parameters=[
            PERIOD_PARAMETER,
            OpenApiParameter("indicator", OpenApiTypes.STR, description="Rank by this indicator's gap (its code)"),
        ],
        responses=ChildValuesSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        user = acting_user(request)
        period = _period(request)
        indicator = None
        if code := request.query_params.get("indicator"):
            indicator = Indicator.objects.filter(code=code, is_active=True).first() if SLUG.fullmatch(code) else None
            if indicator is None:
                raise field_error("indicator", _("Unknown indicator."), code="unknown_indicator")
        rows = province_ranking(user=user, period=period, indicator=indicator)
        return Response(ChildValuesSerializer(rows, many=True).data)
