"""Offline batch sync: ``POST /api/v1/sync/`` (the contract is in ``fieldteam.services.sync``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user
from fieldteam.api.views.field_work import ErrorSerializer
from fieldteam.services import sync


class SyncItemInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[(k, k) for k in sync.KINDS])
    client_id = serializers.UUIDField()
    data = serializers.DictField(
        help_text=(
            "household: {village, code?, head_name?, address?}; "
            "resident: {household (id or client id), full_name, sex, birth_year?, birth_date?, citizen_id?, phone?}; "
            "assistance_log: {team, resident? | household?, occurred_at, channel, note?, "
            "items: [{capability, outcome, reason?}]}; "
            "training_session: {team, village, topic, started_at, ended_at?, capability?, attendees: [ids]}"
        )
    )


class SyncRequest(serializers.Serializer):
    items = SyncItemInput(many=True, max_length=sync.MAX_BATCH_ITEMS)


class SyncResult(serializers.Serializer):
    client_id = serializers.UUIDField(allow_null=True)
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=[(s, s) for s in sync.STATUSES])
    id = serializers.CharField(allow_null=True, help_text="The server id of the object, as a string.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class SyncResponse(serializers.Serializer):
    results = SyncResult(many=True)


class SyncView(APIView):
    """Apply a batch of items made offline; one result per item, in order.

    Each item is applied in its own transaction. The same ``client_id`` with the same content is
    ``already_received`` (nothing happens twice); with other content a ``conflict`` (never merged).
    A later item may refer to an earlier one by its ``client_id``. Only a malformed or oversize
    envelope fails the whole request (400).
    """

    throttle_scope = "sync"

    @extend_schema(
        request=SyncRequest,
        responses={
            200: SyncResponse,
            400: OpenApiResponse(ErrorSerializer, description="Malformed or oversize batch."),
        },
        operation_id="sync",
    )
    def post(self, request: Request) -> Response:
        results = sync.sync_batch(actor=acting_user(request), payload=request.data)
        return Response({"results": [result.as_dict() for result in results]})
