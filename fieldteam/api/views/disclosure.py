"""``POST /api/v1/residents/{id}/identifiers/``: an officer sees a resident's identifiers in full, recorded."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user
from fieldteam.selectors.people import resident_get
from fieldteam.services.disclosure import MAX_PURPOSE_LENGTH, reveal_identifiers


class RevealInput(serializers.Serializer):
    purpose = serializers.CharField(max_length=MAX_PURPOSE_LENGTH, help_text="Why the full numbers are needed.")


class RevealedSerializer(serializers.Serializer):
    citizen_id = serializers.CharField()
    phone = serializers.CharField()


class ResidentIdentifiersView(APIView):
    """The full citizen ID and phone of a resident of your area (officers only; each view is audited).

    A POST, so that the numbers never appear in a URL or a cache; a resident outside your areas
    answers 404, a role that may not see full numbers 403.
    """

    throttle_scope = "identifier_search"

    @extend_schema(
        request=RevealInput,
        responses={200: RevealedSerializer, 403: OpenApiResponse(description="Not an officer of this area.")},
    )
    def post(self, request: Request, pk: int) -> Response:
        user = acting_user(request)
        resident = resident_get(user=user, resident_id=pk)
        data = RevealInput(data=request.data)
        data.is_valid(raise_exception=True)
        revealed = reveal_identifiers(actor=user, resident=resident, purpose=data.validated_data["purpose"])
        response = Response(RevealedSerializer(revealed).data)
        response["Cache-Control"] = "no-store"
        return response
