"""A resident's consents: record one given now or on paper, record a withdrawal (which erases identifiers)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user
from fieldteam.api.views.people import ConsentFields, consent_input
from fieldteam.models import ConsentRecord
from fieldteam.selectors.people import resident_get
from fieldteam.services.consent import record_consent, withdraw_consent


class ConsentRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = ConsentRecord
        fields = ("id", "resident", "purposes", "channel", "notice_version", "given_at", "withdrawn_at")


class WithdrawalSerializer(serializers.Serializer):
    withdrawn = serializers.IntegerField(help_text="How many open consents were withdrawn.")


class ResidentConsentsView(APIView):
    """Record a resident's consent (needed before their citizen ID or phone number is stored)."""

    @extend_schema(request=ConsentFields, responses={201: ConsentRecordSerializer})
    def post(self, request: Request, pk: int) -> Response:
        user = acting_user(request)
        resident = resident_get(user=user, resident_id=pk)
        data = ConsentFields(data=request.data)
        data.is_valid(raise_exception=True)
        consent = consent_input(data.validated_data)
        assert consent is not None  # noqa: S101 - ConsentFields requires the channel
        record = record_consent(actor=user, resident=resident, consent=consent)
        return Response(ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)


class ResidentConsentWithdrawalView(APIView):
    """Record that the resident withdrew consent: their citizen ID and phone number are erased.

    Their adoptions, the help they received and the counts they are part of stay.
    """

    @extend_schema(request=None, responses={200: WithdrawalSerializer})
    def post(self, request: Request, pk: int) -> Response:
        user = acting_user(request)
        resident = resident_get(user=user, resident_id=pk)
        return Response({"withdrawn": withdraw_consent(actor=user, resident=resident)})
