"""Offline batch sync: the contract, idempotence, references by client id, conflicts, rejections."""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from fieldteam.models import (
    Adoption,
    AssistanceLog,
    Household,
    Resident,
    SyncReceipt,
    TrainingAttendance,
    TrainingSession,
    VillageCount,
)
from fieldteam.rollup import recompute
from fieldteam.sync import MAX_BATCH_ITEMS
from tests.api.conftest import World

# Logging is held to the same assertions on the one-statement path and the ORM path.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("log_path")]

SYNC = "/api/v1/sync/"


def ago(**delta: float) -> str:
    return (timezone.now() - dt.timedelta(**delta)).isoformat()


def offline_batch(world: World) -> list[dict]:
    """What a member's phone queues offline: a new household, two residents, their logs, a session."""
    team = world.places["V1"].team.pk
    village = world.places["V1"].village.pk
    household, mother, son, log1, log2, log3, session = (str(uuid.uuid4()) for _ in range(7))
    return [
        {"kind": "household", "client_id": household, "data": {"village": village, "head_name": "Rơ Mah Blih"}},
        {
            "kind": "resident",
            "client_id": mother,
            "data": {"household": household, "full_name": "Rơ Châm H'Linh", "sex": "female", "birth_year": 1975},
        },
        {
            "kind": "resident",
            "client_id": son,
            "data": {"household": household, "full_name": "Rơ Mah Y Blih", "sex": "male", "birth_date": "2001-04-09"},
        },
        {
            "kind": "assistance_log",
            "client_id": log1,
            "data": {
                "team": team,
                "resident": mother,
                "occurred_at": ago(hours=3),
                "channel": "home_visit",
                "note": "Cài VNeID",
                "items": [
                    {"capability": "smartphone", "outcome": "done"},
                    {"capability": "basic_digital_skills", "outcome": "not_done", "reason": "no_device"},
                ],
            },
        },
        {
            "kind": "assistance_log",
            "client_id": log2,
            "data": {
                "team": team,
                "household": household,
                "occurred_at": ago(hours=2),
                "channel": "home_visit",
                "items": [{"capability": "fibre_broadband", "outcome": "done"}],
            },
        },
        {
            "kind": "assistance_log",
            "client_id": log3,
            "data": {
                "team": team,
                "resident": world.places["V1"].resident.pk,
                "occurred_at": ago(hours=1),
                "channel": "phone",
                "items": [{"capability": "smartphone", "outcome": "done"}],
            },
        },
        {
            "kind": "training_session",
            "client_id": session,
            "data": {
                "team": team,
                "village": village,
                "topic": "Thanh toán trực tuyến an toàn",
                "started_at": ago(minutes=50),
                "ended_at": ago(minutes=5),
                "attendees": [son, world.places["V1"].resident.pk],
            },
        },
    ]


def counts(world: World) -> dict[tuple[int, int], tuple[int, int]]:
    return {
        (row.village_id, row.indicator_id): (row.numerator, row.denominator)
        for row in VillageCount.objects.filter(province=world.tree.province)
    }


def test_a_batch_is_applied_in_order_and_later_items_refer_to_earlier_ones(world: World, client_for) -> None:
    batch = offline_batch(world)
    response = client_for(world.member).post(SYNC, {"items": batch}, format="json")
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["client_id"] for r in results] == [item["client_id"] for item in batch]
    assert [r["kind"] for r in results] == [item["kind"] for item in batch]
    assert [r["status"] for r in results] == ["created"] * len(batch), results
    assert all(r["errors"] == {} and isinstance(r["id"], str) for r in results)
    # The ids are the server's: households and residents numbered, logs and sessions by client id.
    household = Household.objects.get(pk=int(results[0]["id"]))
    mother = Resident.objects.get(pk=int(results[1]["id"]))
    son = Resident.objects.get(pk=int(results[2]["id"]))
    assert mother.household == son.household == household
    assert results[3]["id"] == batch[3]["client_id"]
    log = AssistanceLog.objects.get(pk=batch[3]["client_id"])
    assert log.resident == mother and log.member == world.member and log.content_hash
    assert AssistanceLog.objects.get(pk=batch[4]["client_id"]).household == household
    session = TrainingSession.objects.get(pk=batch[6]["client_id"])
    assert set(session.attendances.values_list("resident_id", flat=True)) == {son.pk, world.places["V1"].resident.pk}
    # Attending counts as digital-skills help, through the adoption
    assert Adoption.objects.filter(resident=son, capability=world.skills, source="training").exists()
    assert son.__class__.objects.get(pk=son.pk).capability_mask & world.skills.mask
    assert SyncReceipt.objects.filter(member=world.member).count() == len(batch)


def test_the_same_batch_sent_three_times_is_applied_once(world: World, client_for) -> None:
    # Given a phone that lost the answers and sends its queue again, twice
    client = client_for(world.member)
    batch = offline_batch(world)
    logs_before = AssistanceLog.objects.count()
    first = client.post(SYNC, {"items": batch}, format="json").json()["results"]
    after_first = counts(world)
    rows_after_first = (
        Household.objects.count(),
        Resident.objects.count(),
        AssistanceLog.objects.count(),
        TrainingSession.objects.count(),
        TrainingAttendance.objects.count(),
        Adoption.objects.count(),
    )
    second = client.post(SYNC, {"items": batch}, format="json").json()["results"]
    third = client.post(SYNC, {"items": batch}, format="json").json()["results"]
    # Then the resends are recognised, with the ids of the first time
    assert [r["status"] for r in first] == ["created"] * len(batch)
    for again in (second, third):
        assert [r["status"] for r in again] == ["already_received"] * len(batch)
        assert [r["id"] for r in again] == [r["id"] for r in first]
    # And exactly one copy of each log exists, and nothing else was written again
    for item in batch:
        if item["kind"] == "assistance_log":
            assert AssistanceLog.objects.filter(pk=item["client_id"]).count() == 1
    assert AssistanceLog.objects.count() == logs_before + 3 + 2  # three logs, two attendance logs
    assert (
        Household.objects.count(),
        Resident.objects.count(),
        AssistanceLog.objects.count(),
        TrainingSession.objects.count(),
        TrainingAttendance.objects.count(),
        Adoption.objects.count(),
    ) == rows_after_first
    # And the live counts are those of the first time, and what a full recompute finds
    assert counts(world) == after_first
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []
    mother = Resident.objects.get(pk=int(first[1]["id"]))
    adults = world.smartphone_indicator
    village = world.places["V1"].village.pk
    # V1 had one adult resident holding a smartphone; now also the mother (the son is an adult too)
    assert after_first[(village, adults.pk)] == (2, 3)
    assert mother.capability_mask & world.smartphone.mask
    assert after_first[(village, world.fibre_indicator.pk)] == (1, 2)


def test_a_client_id_reused_with_other_content_is_a_conflict_and_changes_nothing(world: World, client_for) -> None:
    client = client_for(world.member)
    batch = offline_batch(world)[:4]
    client.post(SYNC, {"items": batch}, format="json")
    changed = json.loads(json.dumps(batch))
    changed[3]["data"]["note"] = "Something else"
    changed[1]["data"]["full_name"] = "Another name"
    results = client.post(SYNC, {"items": changed}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["already_received", "conflict", "already_received", "conflict"]
    assert list(results[1]["errors"]) == ["client_id"]
    assert AssistanceLog.objects.get(pk=batch[3]["client_id"]).note == "Cài VNeID"
    assert Resident.objects.get(pk=int(results[1]["id"])).full_name == "Rơ Châm H'Linh"


def test_another_user_reusing_a_client_id_gets_a_conflict_without_the_id(world: World, client_for) -> None:
    batch = offline_batch(world)[:1]
    client_for(world.member).post(SYNC, {"items": batch}, format="json")
    result = client_for(world.users["leader"]).post(SYNC, {"items": batch}, format="json").json()["results"][0]
    assert result["status"] == "conflict"
    assert result["id"] is None
    assert Household.objects.filter(head_name="Rơ Mah Blih").count() == 1


def test_a_rejected_item_blocks_nothing_and_saves_nothing(world: World, client_for) -> None:
    batch = offline_batch(world)
    batch[3]["data"]["items"][0]["capability"] = "no-such-capability"
    logs_before = AssistanceLog.objects.count()
    results = client_for(world.member).post(SYNC, {"items": batch}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["created"] * 3 + ["rejected"] + ["created"] * 3
    assert results[3]["errors"] == {"items[0].capability": [results[3]["errors"]["items[0].capability"][0]]}
    assert results[3]["id"] is None
    assert not AssistanceLog.objects.filter(pk=batch[3]["client_id"]).exists()
    assert not SyncReceipt.objects.filter(pk=batch[3]["client_id"]).exists()
    assert AssistanceLog.objects.count() == logs_before + 2 + 2
    # Corrected and sent again under the same id, it is created then
    batch[3]["data"]["items"][0]["capability"] = "smartphone"
    again = client_for(world.member).post(SYNC, {"items": batch}, format="json").json()["results"]
    assert again[3]["status"] == "created"
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []


def test_an_item_referring_to_a_rejected_one_is_rejected_naming_the_reference(world: World, client_for) -> None:
    batch = offline_batch(world)[:2]
    batch[0]["data"]["village"] = world.places["VF"].village.pk  # not the member's
    results = client_for(world.member).post(SYNC, {"items": batch}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["rejected", "rejected"]
    assert list(results[0]["errors"]) == ["village"]
    assert list(results[1]["errors"]) == ["household"]


def test_an_item_may_refer_to_one_sent_in_an_earlier_batch(world: World, client_for) -> None:
    client = client_for(world.member)
    batch = offline_batch(world)
    client.post(SYNC, {"items": batch[:1]}, format="json")
    results = client.post(SYNC, {"items": batch[1:2]}, format="json").json()["results"]
    assert results[0]["status"] == "created"
    assert Resident.objects.get(pk=int(results[0]["id"])).household.head_name == "Rơ Mah Blih"


def test_the_envelope_is_checked_before_anything_is_applied(world: World, client_for) -> None:
    client = client_for(world.member)
    household = offline_batch(world)[0]
    for body, field in [
        ([household], "non_field_errors"),
        ({"things": [household]}, "items"),
        ({"items": {"0": household}}, "items"),
        ({"items": [household] * (MAX_BATCH_ITEMS + 1)}, "items"),
        ({"items": [household, "not an item"]}, "items[1]"),
    ]:
        response = client.post(SYNC, body, format="json")
        assert response.status_code == 400, body
        assert field in response.json()["errors"]
    assert not Household.objects.filter(head_name="Rơ Mah Blih").exists()
    assert client.post(SYNC, "{not json", content_type="application/json").status_code == 400
    assert client.post(SYNC, {"items": []}, format="json").json() == {"results": []}


def test_a_malformed_item_is_rejected_on_its_own(world: World, client_for) -> None:
    good = offline_batch(world)[0]
    items = [
        {"kind": "household", "client_id": "not-a-uuid", "data": {"village": 1}},
        {"kind": "spaceship", "client_id": str(uuid.uuid4()), "data": {}},
        {"kind": "household", "client_id": str(uuid.uuid4()), "data": "village=1"},
        {"kind": "household", "client_id": str(uuid.uuid4())},
        good,
    ]
    results = client_for(world.member).post(SYNC, {"items": items}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4 + ["created"]
    assert list(results[0]["errors"]) == ["client_id"]
    assert results[0]["client_id"] == "not-a-uuid"
    assert list(results[1]["errors"]) == ["kind"]
    assert list(results[2]["errors"]) == ["data"]
    assert list(results[3]["errors"]) == ["data"]


def test_an_oversize_request_is_a_400(world: World, client_for, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2_000
    items = offline_batch(world) * 3
    response = client_for(world.member).post(SYNC, {"items": items}, format="json")
    assert response.status_code == 400
    assert response.json()["codes"] == {"non_field_errors": ["too_large"]}
    assert not Household.objects.filter(head_name="Rơ Mah Blih").exists()


def test_a_viewer_syncs_nothing(world: World, client_for) -> None:
    results = client_for(world.users["viewer"]).post(SYNC, {"items": offline_batch(world)}, format="json").json()
    statuses = [r["status"] for r in results["results"]]
    assert statuses == ["rejected"] * len(statuses)
    assert results["results"][0]["errors"] == {"village": [results["results"][0]["errors"]["village"][0]]}


def test_errors_are_translated_into_the_requests_language(world: World, client_for) -> None:
    batch = offline_batch(world)[:1]
    batch[0]["data"]["village"] = 999_999
    client = client_for(world.member)
    english = client.post(SYNC, {"items": batch}, format="json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["results"][0]["errors"] == {"village": ["No such village in your areas."]}


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_phones_sending_the_same_batch_at_once_apply_it_once(world: World, client_for) -> None:
    batch = offline_batch(world)
    answers: list[list[dict]] = []
    errors: list[BaseException] = []

    def send() -> None:
        try:
            answers.append(client_for(world.member).post(SYNC, {"items": batch}, format="json").json()["results"])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for position, item in enumerate(batch):
        statuses = sorted(answer[position]["status"] for answer in answers)
        assert statuses.count("created") <= 1, (item["kind"], statuses)
        assert set(statuses) <= {"created", "already_received"}, (item["kind"], statuses)
    assert Household.objects.filter(head_name="Rơ Mah Blih").count() == 1
    for item in batch:
        if item["kind"] == "assistance_log":
            assert AssistanceLog.objects.filter(pk=item["client_id"]).count() == 1
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []


def test_a_client_id_that_is_already_a_log_made_elsewhere_is_a_conflict(world: World, client_for) -> None:
    # A log made by the admin or an import holds this id, with no receipt: never merged
    batch = offline_batch(world)
    item = batch[5]
    item["client_id"] = str(world.places["V1"].log.pk)
    result = client_for(world.member).post(SYNC, {"items": [item]}, format="json").json()["results"][0]
    assert result["status"] == "conflict"
    assert AssistanceLog.objects.get(pk=item["client_id"]).channel == "home_visit"


def test_the_same_client_id_twice_in_one_batch_is_applied_once(world: World, client_for) -> None:
    household = offline_batch(world)[0]
    other = json.loads(json.dumps(household))
    other["data"]["head_name"] = "Someone else"
    results = client_for(world.member).post(SYNC, {"items": [household, household, other]}, format="json").json()
    assert [r["status"] for r in results["results"]] == ["created", "already_received", "conflict"]
    assert Household.objects.filter(head_name="Rơ Mah Blih").count() == 1
