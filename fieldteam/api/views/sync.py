"""Offline batch sync: ``POST /api/v1/sync/`` (the contract is in ``fieldteam.sync``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam import sync
from fieldteam.api.inputs import SyncRequest
from fieldteam.api.views.base import acting_user
from fieldteam.api.views.field_work import ErrorSerializer


class SyncNestedResult(serializers.Serializer):
    client_id = serializers.UUIDField()
    id = serializers.CharField()


class SyncResult(serializers.Serializer):
    client_id = serializers.UUIDField(allow_null=True)
    kind = serializers.CharField()
    status = serializers.ChoiceField(choices=[(s, s) for s in sync.STATUSES])
    id = serializers.CharField(allow_null=True, help_text="The server id of the object, as a string.")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]  # the API's "errors" key, in a schema-only serializer: shadows Serializer.errors on purpose
    residents = SyncNestedResult(
        many=True,
        required=False,
        help_text="A household created with its people: the server id of each person sent with a client id.",
    )


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
    # Control characters in an item's data reject that item only (``fieldteam.sync``
    # refuses them with the parsers' rule); the envelope, keys and depth are the parser's.
    json_values_checked_by_view = ("items[].data",)

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
