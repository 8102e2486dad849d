"""Assistance logs and training sessions: list the team activity you may see, record new work.

The single-item POSTs go through the same path as offline sync (``fieldteam.sync``), so
an item behaves the same online and offline: the same checks and messages, and a resend with the
same ``id`` is recognised (200, nothing happens twice) instead of being counted again.
"""

from __future__ import annotations

import uuid
from typing import Any

import django_filters
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam import sync
from fieldteam.api.exceptions import READ_ONLY_CODE, error_body
from fieldteam.api.inputs import AssistanceLogInput, TrainingSessionInput
from fieldteam.api.serializers import AssistanceLogSerializer, TrainingSessionSerializer
from fieldteam.api.views.base import IdFilter, InstantFilter, ScopedViewSet, acting_user
from fieldteam.choices import AssistanceChannel
from fieldteam.errors import field_error
from fieldteam.models import AssistanceLog, TrainingSession, User
from fieldteam.selectors.field_work import (
    assistance_log_get,
    assistance_logs_visible,
    training_session_get,
    training_sessions_visible,
)


class ErrorSerializer(serializers.Serializer):
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))  # type: ignore[assignment]  # the API's "errors" key, in a schema-only serializer: shadows Serializer.errors on purpose
    codes = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


def _receive_one(request: Request, kind: str) -> tuple[sync.ItemResult, Response | None]:
    """Apply one posted item as sync would; a response when it was not created or received."""
    body = request.data
    if not isinstance(body, dict):
        raise field_error(sync.NON_FIELD, _("Send a JSON object."), code="invalid")
    data = dict(body)
    raw_id = data.pop("id", None)
    client_id = None
    if raw_id is not None:
        try:
            client_id = uuid.UUID(str(raw_id)) if isinstance(raw_id, str) else None
        except ValueError:
            client_id = None
        if client_id is None:
            raise field_error("id", _("The id must be a UUID."), code="invalid")
    result = sync.receive_item(actor=acting_user(request), kind=kind, client_id=client_id, data=data)
    if result.status == sync.CONFLICT:
        return result, Response(
            error_body({"id": result.errors["client_id"]}, {"id": ["conflict"]}), status=status.HTTP_409_CONFLICT
        )
    if result.status == sync.REJECTED:
        codes = [code for field_codes in result.codes.values() for code in field_codes]
        forbidden = bool(codes) and all(code == READ_ONLY_CODE for code in codes)
        return result, Response(
            error_body(result.errors, result.codes),
            status=status.HTTP_403_FORBIDDEN if forbidden else status.HTTP_400_BAD_REQUEST,
        )
    return result, None


WRITE_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="Rejected: the errors name the fields; nothing was saved."),
    403: OpenApiResponse(ErrorSerializer, description="Your role may only view here."),
    409: OpenApiResponse(ErrorSerializer, description="This id was already used for other content."),
}


class AssistanceLogFilter(django_filters.FilterSet):
    team = IdFilter(field_name="team_id")
    member = IdFilter(field_name="member_id")
    resident = IdFilter(field_name="resident_id")
    household = IdFilter(field_name="household_id")
    village = IdFilter(field_name="village_id")
    channel = django_filters.ChoiceFilter(choices=AssistanceChannel.choices)
    training_session = django_filters.UUIDFilter(field_name="training_session_id")
    occurred_after = InstantFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = InstantFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = AssistanceLog
        fields = [
            "team",
            "member",
            "resident",
            "household",
            "village",
            "channel",
            "training_session",
            "occurred_after",
            "occurred_before",
        ]


class AssistanceLogViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Assistance logs you may see (your own; a leader: the team's; an officer: the subtree's); log new help."""

    model = AssistanceLog
    serializer_class = AssistanceLogSerializer
    filterset_class = AssistanceLogFilter

    def scoped_queryset(self, user: User) -> QuerySet[AssistanceLog]:
        return assistance_logs_visible(user=user)

    def get_object(self) -> AssistanceLog:
        return assistance_log_get(user=acting_user(self.request), log_id=self.kwargs["pk"])

    @extend_schema(
        request=AssistanceLogInput,
        responses={201: AssistanceLogSerializer, 200: AssistanceLogSerializer, **WRITE_RESPONSES},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Log one assistance (201); the same ``id`` and content again answers 200 and counts nothing twice."""
        result, refusal = _receive_one(request, sync.ASSISTANCE_LOG)
        if refusal is not None:
            return refusal
        log = result.created or assistance_log_get(user=acting_user(request), log_id=result.id)
        code = status.HTTP_201_CREATED if result.status == sync.CREATED else status.HTTP_200_OK
        return Response(self.get_serializer(log).data, status=code)


class TrainingSessionFilter(django_filters.FilterSet):
    team = IdFilter(field_name="team_id")
    village = IdFilter(field_name="village_id")
    trainer = IdFilter(field_name="trainer_id")
    started_after = InstantFilter(field_name="started_at", lookup_expr="gte")
    started_before = InstantFilter(field_name="started_at", lookup_expr="lt")

    class Meta:
        model = TrainingSession
        fields = ["team", "village", "trainer", "started_after", "started_before"]


class TrainingSessionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Training sessions with their attendance; record a session (attending counts as digital-skills help)."""

    model = TrainingSession
    serializer_class = TrainingSessionSerializer
    filterset_class = TrainingSessionFilter

    def scoped_queryset(self, user: User) -> QuerySet[TrainingSession]:
        return training_sessions_visible(user=user)

    def get_object(self) -> TrainingSession:
        return training_session_get(user=acting_user(self.request), session_id=self.kwargs["pk"])

    @extend_schema(
        request=TrainingSessionInput,
        responses={201: TrainingSessionSerializer, 200: TrainingSessionSerializer, **WRITE_RESPONSES},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Record a session and its attendees (201); a resend with the same ``id`` answers 200."""
        result, refusal = _receive_one(request, sync.TRAINING_SESSION)
        if refusal is not None:
            return refusal
        session = training_session_get(user=acting_user(request), session_id=result.id)  # with its attendees
        code = status.HTTP_201_CREATED if result.status == sync.CREATED else status.HTTP_200_OK
        return Response(self.get_serializer(session).data, status=code)
