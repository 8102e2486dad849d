"""Assistance logs and training sessions over the API and through their services."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from fieldteam.choices import AdoptionSource, AssistanceChannel
from fieldteam.models import Adoption, AssistanceLog, Capability, Resident, SyncReceipt, TrainingSession, VillageCount
from fieldteam.rollup import recompute
from fieldteam.services.training import record_training_session
from tests.api.conftest import World
from tests.factories import ResidentFactory

# Logging is held to the same assertions on the one-statement path and the ORM path.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("log_path")]

LOGS = "/api/v1/assistance-logs/"
SESSIONS = "/api/v1/training-sessions/"


def ago(**delta: float) -> str:
    return (timezone.now() - dt.timedelta(**delta)).isoformat()


def count(world: World, indicator) -> tuple[int, int]:
    row = VillageCount.objects.filter(village=world.tree.village, indicator=indicator).first()
    return (row.numerator, row.denominator) if row else (0, 0)


def test_logging_online_sets_the_adoption_and_the_counts(world: World, client_for) -> None:
    newcomer = ResidentFactory(household=world.places["V1"].household, birth_year=1990)
    assert count(world, world.smartphone_indicator) == (1, 2)
    body = {
        "team": world.places["V1"].team.pk,
        "resident": newcomer.pk,
        "occurred_at": ago(minutes=30),
        "channel": "home_visit",
        "note": "  Hướng dẫn dùng điện thoại  ",
        "items": [
            {"capability": "smartphone", "outcome": "done"},
            {"capability": "basic_digital_skills", "outcome": "not_done", "reason": "absent"},
        ],
    }
    response = client_for(world.member).post(LOGS, body, format="json")
    assert response.status_code == 201, response.json()
    log = response.json()
    assert log["member"]["id"] == world.member.pk
    assert log["note"] == "Hướng dẫn dùng điện thoại"
    assert {(i["capability"], i["outcome"], i["reason"]) for i in log["items"]} == {
        ("smartphone", "done", ""),
        ("basic_digital_skills", "not_done", "absent"),
    }
    assert count(world, world.smartphone_indicator) == (2, 2)
    assert count(world, world.skills_indicator) == (1, 2)
    assert Adoption.objects.get(resident=newcomer, capability=world.smartphone).assistance_log_id == uuid.UUID(
        log["id"]
    )
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []


def test_a_log_sent_again_with_its_id_counts_once_and_other_content_is_a_conflict(world: World, client_for) -> None:
    client = client_for(world.member)
    log_id = str(uuid.uuid4())
    body = {
        "id": log_id,
        "team": world.places["V1"].team.pk,
        "household": world.places["V1"].household.pk,
        "occurred_at": ago(hours=1),
        "channel": "phone",
        "items": [{"capability": "fibre_broadband", "outcome": "done"}],
    }
    first = client.post(LOGS, body, format="json")
    second = client.post(LOGS, body, format="json")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"] == log_id
    assert AssistanceLog.objects.filter(pk=log_id).count() == 1
    assert count(world, world.fibre_indicator) == (1, 1)
    conflict = client.post(LOGS, {**body, "channel": "home_visit"}, format="json")
    assert conflict.status_code == 409
    assert conflict.json()["codes"] == {"id": ["conflict"]}
    assert AssistanceLog.objects.get(pk=log_id).channel == AssistanceChannel.PHONE
    # The same id arriving later through sync is recognised too
    item = {"kind": "assistance_log", "client_id": log_id, "data": {k: v for k, v in body.items() if k != "id"}}
    result = client.post("/api/v1/sync/", {"items": [item]}, format="json").json()["results"][0]
    assert (result["status"], result["id"]) == ("already_received", log_id)


def test_a_viewer_may_not_log(world: World, client_for) -> None:
    # A viewer belongs to no team: the log is refused naming the team
    body = {
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": ago(hours=1),
        "channel": "phone",
        "items": [{"capability": "smartphone", "outcome": "done"}],
    }
    response = client_for(world.users["viewer"]).post(LOGS, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["team"]


def test_logs_can_be_filtered(world: World, client_for) -> None:
    client = client_for(world.users["leader"])
    resident = world.places["V1"].resident
    by_resident = client.get(LOGS, {"resident": resident.pk}).json()["results"]
    assert {row["resident"] for row in by_resident} == {resident.pk}
    by_channel = client.get(LOGS, {"channel": "group_session"}).json()["results"]
    assert {row["training_session"] for row in by_channel} == {str(world.places["V1"].session.pk)}
    later = client.get(LOGS, {"occurred_after": ago(minutes=1)}).json()
    assert later["count"] == 0


def test_recording_a_session_counts_attendance_as_digital_skills_help(world: World, client_for) -> None:
    newcomers = [ResidentFactory(household=world.places["V1"].household, birth_year=y) for y in (1988, 2000)]
    before = count(world, world.skills_indicator)
    session_id = str(uuid.uuid4())
    body = {
        "id": session_id,
        "team": world.places["V1"].team.pk,
        "village": world.tree.village.pk,
        "topic": "Dịch vụ công trực tuyến",
        "started_at": ago(hours=3),
        "ended_at": ago(hours=1),
        "attendees": [r.pk for r in newcomers] + [world.places["V1"].resident.pk],
    }
    client = client_for(world.member)
    response = client.post(SESSIONS, body, format="json")
    assert response.status_code == 201, response.json()
    session = response.json()
    assert session["id"] == session_id
    assert session["capability"] == "basic_digital_skills"
    assert sorted(session["attendees"]) == sorted(body["attendees"])
    # Each attendee got a group-session log and holds the capability (the old resident already did)
    logs = AssistanceLog.objects.filter(training_session_id=session_id)
    assert logs.count() == 3
    assert set(logs.values_list("channel", flat=True)) == {AssistanceChannel.GROUP_SESSION}
    for resident in newcomers:
        adoption = Adoption.objects.get(resident=resident, capability=world.skills)
        assert adoption.source == AdoptionSource.TRAINING
    assert count(world, world.skills_indicator) == (before[0] + 2, before[1])
    # Sent again: nothing twice
    assert client.post(SESSIONS, body, format="json").status_code == 200
    assert AssistanceLog.objects.filter(training_session_id=session_id).count() == 3
    assert SyncReceipt.objects.filter(pk=session_id).count() == 1
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []
    # The leader sees the member's session; a member of another team does not
    assert client_for(world.users["leader"]).get(f"{SESSIONS}{session_id}/").status_code == 200
    assert client_for(world.users["outsider"]).get(f"{SESSIONS}{session_id}/").status_code == 404


def test_a_session_may_teach_another_capability(world: World) -> None:
    resident = ResidentFactory(household=world.places["V1"].household, birth_year=1970)
    session = record_training_session(
        actor=world.member,
        team=world.places["V1"].team,
        village=world.tree.village,
        topic="Mua sắm trực tuyến",
        started_at=timezone.now() - dt.timedelta(hours=1),
        capability=world.smartphone,
        attendees=[resident],
    )
    assert session.capability == world.smartphone
    assert Resident.objects.get(pk=resident.pk).capability_mask & world.smartphone.mask


def test_a_session_without_the_digital_skills_capability_set_up_names_the_field(world: World) -> None:
    Capability.objects.filter(code="basic_digital_skills").update(code="renamed")
    with pytest.raises(ValidationError) as raised:
        record_training_session(
            actor=world.member,
            team=world.places["V1"].team,
            village=world.tree.village,
            topic="Kỹ năng số",
            started_at=timezone.now() - dt.timedelta(hours=1),
            attendees=[world.places["V1"].resident],
        )
    assert list(raised.value.message_dict) == ["capability"]
    assert TrainingSession.objects.filter(topic="Kỹ năng số").count() == 0


def test_a_member_of_an_ended_membership_cannot_log(world: World, client_for) -> None:
    membership = world.member.memberships.get()
    membership.ended_on = timezone.localdate()
    membership.save()
    body = {
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": ago(hours=1),
        "channel": "phone",
        "items": [{"capability": "smartphone", "outcome": "done"}],
    }
    response = client_for(world.member).post(LOGS, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["team"]
