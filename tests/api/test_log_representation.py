"""The assistance log's hand-written representation says exactly what its declared fields would."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from fieldteam.api.serializers import AssistanceItemSerializer, AssistanceLogSerializer, UserBriefSerializer
from fieldteam.models import AssistanceLog
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.api.conftest import World

pytestmark = pytest.mark.django_db


class GenericAssistanceLogSerializer(serializers.ModelSerializer):
    """The serializer as declared, without the hand-written ``to_representation``."""

    member = UserBriefSerializer(read_only=True)
    items = AssistanceItemSerializer(many=True, read_only=True)

    class Meta:
        model = AssistanceLog
        fields = AssistanceLogSerializer.Meta.fields


def rendered(serializer_class: type[serializers.Serializer], log: AssistanceLog) -> object:
    return json.loads(JSONRenderer().render(serializer_class(log).data))


def test_the_answer_to_a_logged_assistance_is_the_declared_representation(world: World, client_for) -> None:
    body = {
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": timezone.now().isoformat(),
        "channel": "phone",
        "note": "gọi điện hướng dẫn",
        "items": [
            {"capability": world.skills.code, "outcome": "done"},
            {"capability": world.smartphone.code, "outcome": "not_done", "reason": "no_device"},
        ],
    }
    answer = client_for(world.member).post("/api/v1/assistance-logs/", body, format="json")
    assert answer.status_code == 201, answer.json()
    log = (
        AssistanceLog.objects.select_related("member").prefetch_related("items__capability").get(pk=answer.json()["id"])
    )
    assert answer.json() == rendered(GenericAssistanceLogSerializer, log)


def test_household_and_training_logs_are_represented_as_declared(world: World) -> None:
    place = world.places["V1"]
    household_log = log_assistance(
        actor=world.member,
        team=place.team,
        occurred_at=timezone.now(),
        channel="home_visit",
        household=place.household,
        items=[ItemInput(world.fibre, "done")],
    )
    session_log = AssistanceLog.objects.filter(training_session__isnull=False).first()
    assert session_log is not None
    for log in (household_log, session_log, world.colleague_log):
        fresh = AssistanceLog.objects.select_related("member").prefetch_related("items__capability").get(pk=log.pk)
        assert rendered(AssistanceLogSerializer, fresh) == rendered(GenericAssistanceLogSerializer, fresh)
