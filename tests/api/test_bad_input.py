"""Bad input answers 4xx with a translated message naming the field (and, in a batch, the item);
nothing of that item is saved. Each case goes through the single endpoint and through sync."""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from fieldteam.choices import MembershipRole, Sex
from fieldteam.models import (
    Adoption,
    AssistanceLog,
    Household,
    Resident,
    SyncReceipt,
    TrainingSession,
    VillageCount,
)
from tests.api.conftest import World
from tests.factories import MembershipFactory, make_citizen_id

# Logging is held to the same assertions on the one-statement path and the ORM path.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("log_path")]

ENDPOINTS = {
    "household": "/api/v1/households/",
    "resident": "/api/v1/residents/",
    "assistance_log": "/api/v1/assistance-logs/",
    "training_session": "/api/v1/training-sessions/",
}


def snapshot() -> tuple[int, ...]:
    return (
        Household.objects.count(),
        Resident.objects.count(),
        AssistanceLog.objects.count(),
        TrainingSession.objects.count(),
        Adoption.objects.count(),
        SyncReceipt.objects.count(),
        sum(VillageCount.objects.values_list("numerator", flat=True)),
        sum(VillageCount.objects.values_list("denominator", flat=True)),
    )


def refused(client: Any, kind: str, data: dict[str, Any], via: str) -> dict[str, list[str]]:
    """Send ``data`` and return the errors, checking the status and that nothing was saved."""
    before = snapshot()
    if via == "sync":
        item = {"kind": kind, "client_id": str(uuid.uuid4()), "data": data}
        response = client.post("/api/v1/sync/", json.dumps({"items": [item]}), content_type="application/json")
        assert response.status_code == 200
        result = response.json()["results"][0]
        assert result["status"] == "rejected", result
        assert result["client_id"] == item["client_id"] and result["id"] is None
        errors = result["errors"]
    else:
        response = client.post(ENDPOINTS[kind], json.dumps(data), content_type="application/json")
        assert response.status_code == 400, response.json()
        errors = response.json()["errors"]
        assert set(response.json()["codes"]) == set(errors)
    assert snapshot() == before
    assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)
    return errors


def soon(**delta: float) -> str:
    return (timezone.now() + dt.timedelta(**delta)).isoformat()


# --- assistance logs -------------------------------------------------------------------------------


def log_data(world: World) -> dict[str, Any]:
    return {
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": soon(hours=-1),
        "channel": "home_visit",
        "items": [{"capability": "basic_digital_skills", "outcome": "done"}],
    }


def _set(path: str, value: Any) -> Callable[[dict[str, Any], World], None]:
    def change(data: dict[str, Any], world: World) -> None:
        target = data
        *parents, last = path.split(".")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value(world) if callable(value) else value

    return change


def _drop(key: str) -> Callable[[dict[str, Any], World], None]:
    return lambda data, world: data.pop(key)


LOG_CASES: list[tuple[str, Callable[[dict[str, Any], World], None], str]] = [
    ("unknown capability", _set("items.0.capability", "teleportation"), "items[0].capability"),
    ("capability of households for a resident", _set("items.0.capability", "fibre_broadband"), "items[0].capability"),
    ("not done without a reason", _set("items.0.outcome", "not_done"), "items[0].reason"),
    ("a reason for help done", _set("items.0.reason", "declined"), "items[0].reason"),
    ("unknown outcome", _set("items.0.outcome", "maybe"), "items[0].outcome"),
    ("a capability twice", _set("items", [{"capability": "smartphone", "outcome": "done"}] * 2), "items[1].capability"),
    ("no items", _set("items", []), "items"),
    ("items not a list", _set("items", "smartphone"), "items"),
    ("unknown channel", _set("channel", "telepathy"), "channel"),
    ("a time in the future beyond the clock skew", _set("occurred_at", lambda w: soon(minutes=30)), "occurred_at"),
    ("a time that is no time", _set("occurred_at", "yesterday afternoon"), "occurred_at"),
    ("a time before the team existed", _set("occurred_at", "2020-01-01T09:00:00+07:00"), "occurred_at"),
    ("a subject outside the member's villages", _set("resident", lambda w: w.places["V2"].resident.pk), "resident"),
    ("a subject in another province", _set("resident", lambda w: w.places["VF"].resident.pk), "resident"),
    ("a subject that does not exist", _set("resident", 999_999), "resident"),
    ("a subject named by an unknown client id", _set("resident", lambda w: str(uuid.uuid4())), "resident"),
    ("a resident and a household", _set("household", lambda w: w.places["V1"].household.pk), "household"),
    ("no subject", _drop("resident"), "resident"),
    ("a team that is not the member's", _set("team", lambda w: w.places["V2"].team.pk), "team"),
    ("a team that is not a number", _set("team", "the best team"), "team"),
    ("a note too long", _set("note", "x" * 2001), "note"),
    ("an unknown field", _set("colour", "green"), "colour"),
]


@pytest.mark.parametrize("via", ["single", "sync"])
@pytest.mark.parametrize(("case", "change", "field"), LOG_CASES, ids=[c[0] for c in LOG_CASES])
def test_a_bad_log_is_refused_naming_the_field(world: World, client_for, via, case, change, field) -> None:
    data = log_data(world)
    change(data, world)
    errors = refused(client_for(world.member), "assistance_log", data, via)
    assert field in errors, errors


def test_a_time_a_little_ahead_is_within_the_clock_skew(world: World, client_for) -> None:
    data = {**log_data(world), "occurred_at": soon(minutes=5)}
    assert client_for(world.member).post(ENDPOINTS["assistance_log"], data, format="json").status_code == 201


def test_a_subject_in_scope_but_outside_the_team_villages_is_refused(world: World, client_for) -> None:
    # A commune officer who is also a member of V1's team sees V2's resident, but the team does not serve V2
    officer = world.users["commune_officer"]
    MembershipFactory(user=officer, team=world.places["V1"].team, role=MembershipRole.MEMBER)
    data = {**log_data(world), "resident": world.places["V2"].resident.pk}
    errors = refused(client_for(officer), "assistance_log", data, "single")
    assert list(errors) == ["resident"]


def test_a_log_id_that_is_not_a_uuid_is_refused(world: World, client_for) -> None:
    errors = refused(client_for(world.member), "assistance_log", {**log_data(world), "id": "log-1"}, "single")
    assert list(errors) == ["id"]


@pytest.mark.parametrize(
    ("url", "parameter", "value"),
    [
        ("/api/v1/assistance-logs/", "occurred_before", "0136-08-06T12:50:44+23:41"),
        ("/api/v1/assistance-logs/", "occurred_after", "9999-12-31T23:59:59-23:59"),
        ("/api/v1/training-sessions/", "started_after", "1899-01-01T00:00:00Z"),
        ("/api/v1/training-sessions/", "started_before", "not a time"),
    ],
)
def test_a_time_filter_out_of_range_is_a_400_naming_the_parameter(
    world: World, client_for, url: str, parameter: str, value: str
) -> None:
    response = client_for(world.member).get(url, {parameter: value})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [parameter]


def test_a_time_filter_with_an_offset_selects_by_the_instant(world: World, client_for) -> None:
    client = client_for(world.member)
    data = {**log_data(world), "id": str(uuid.uuid4())}
    assert client.post("/api/v1/assistance-logs/", data, format="json").status_code == 201
    occurred = dt.datetime.fromisoformat(data["occurred_at"])
    elsewhere = dt.timezone(dt.timedelta(hours=-5))

    def listed(seconds: int) -> set[str]:
        before = (occurred + dt.timedelta(seconds=seconds)).astimezone(elsewhere).isoformat()
        response = client.get("/api/v1/assistance-logs/", {"occurred_before": before})
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert data["id"] in listed(1)
    assert data["id"] not in listed(0)


# --- residents -------------------------------------------------------------------------------------


def resident_data(world: World) -> dict[str, Any]:
    return {
        "household": world.places["V1"].household.pk,
        "full_name": "Nay H'Phun",
        "sex": "female",
        "birth_year": 1992,
        "citizen_id": make_citizen_id(birth_year=1992, sex=Sex.FEMALE, serial=777),
        "phone": "0912 345 678",
    }


RESIDENT_CASES: list[tuple[str, Callable[[dict[str, Any], World], None], str]] = [
    ("a citizen ID of 11 digits", _set("citizen_id", "00119200077"), "citizen_id"),
    ("a citizen ID with letters", _set("citizen_id", "00119200077A"), "citizen_id"),
    ("a citizen ID of no province", _set("citizen_id", "999192000777"), "citizen_id"),
    ("a citizen ID of another birth year", _set("citizen_id", "001185000777"), "citizen_id"),
    ("a citizen ID of the other sex", _set("citizen_id", "001092000777"), "citizen_id"),
    (
        # Held by the V1 resident the member sees (a number held only out of scope is accepted, as
        # an unknown one is: tests/security/test_identifier_oracle.py); consent comes first.
        "a duplicate citizen ID",
        lambda data, world: data.update(
            birth_year=1980,
            citizen_id=make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=101),
            consent={"channel": "in_person", "notice_version": "2026-01"},
        ),
        "citizen_id",
    ),
    ("a phone number too short", _set("phone", "091234567"), "phone"),
    ("a landline", _set("phone", "0243 826 4567"), "phone"),
    ("an unknown sex", _set("sex", "other"), "sex"),
    ("no name", _set("full_name", ""), "full_name"),
    ("no birth year nor date", _drop("birth_year"), "birth_year"),
    (
        "a birth date in the future",
        _set("birth_date", lambda w: (timezone.localdate() + dt.timedelta(days=3)).isoformat()),
        "birth_date",
    ),
    ("a birth year before 1890", _set("birth_year", 1700), "birth_year"),
    ("a birth year that is not a number", _set("birth_year", "nineteen"), "birth_year"),
    (
        "a household outside the member's villages",
        _set("household", lambda w: w.places["V2"].household.pk),
        "household",
    ),
]


@pytest.mark.parametrize("via", ["single", "sync"])
@pytest.mark.parametrize(("case", "change", "field"), RESIDENT_CASES, ids=[c[0] for c in RESIDENT_CASES])
def test_a_bad_resident_is_refused_naming_the_field(world: World, client_for, via, case, change, field) -> None:
    data = resident_data(world)
    change(data, world)
    errors = refused(client_for(world.member), "resident", data, via)
    assert field in errors, errors


def test_a_duplicate_citizen_id_has_its_own_code(world: World, client_for) -> None:
    data = {**resident_data(world), "citizen_id": make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=101)}
    data["birth_year"] = 1980
    data["consent"] = {"channel": "in_person", "notice_version": "2026-01"}
    response = client_for(world.member).post(ENDPOINTS["resident"], data, format="json")
    assert response.status_code == 400
    assert response.json()["codes"] == {"citizen_id": ["duplicate_citizen_id"]}


# --- households ------------------------------------------------------------------------------------


HOUSEHOLD_CASES: list[tuple[str, Callable[[dict[str, Any], World], None], str]] = [
    ("a village outside the member's", _set("village", lambda w: w.places["V3"].village.pk), "village"),
    ("no village", _drop("village"), "village"),
    ("a code already used in the village", _set("code", lambda w: w.places["V1"].household.code), "code"),
    ("a code too long", _set("code", "C" * 41), "code"),
]


@pytest.mark.parametrize("via", ["single", "sync"])
@pytest.mark.parametrize(("case", "change", "field"), HOUSEHOLD_CASES, ids=[c[0] for c in HOUSEHOLD_CASES])
def test_a_bad_household_is_refused_naming_the_field(world: World, client_for, via, case, change, field) -> None:
    data = {"village": world.places["V1"].village.pk, "code": "HH-NEW", "head_name": "Ksor Y Ban"}
    change(data, world)
    errors = refused(client_for(world.member), "household", data, via)
    assert field in errors, errors


def test_a_commune_is_no_place_for_a_household_but_a_province_neither(world: World, client_for) -> None:
    errors = refused(client_for(world.users["superuser"]), "household", {"village": world.tree.province.pk}, "single")
    assert list(errors) == ["village"]


# --- training sessions ----------------------------------------------------------------------------


def session_data(world: World) -> dict[str, Any]:
    return {
        "team": world.places["V1"].team.pk,
        "village": world.places["V1"].village.pk,
        "topic": "An toàn trên mạng",
        "started_at": soon(hours=-2),
        "ended_at": soon(hours=-1),
        "attendees": [world.places["V1"].resident.pk],
    }


SESSION_CASES: list[tuple[str, Callable[[dict[str, Any], World], None], str]] = [
    ("an end before the start", _set("ended_at", lambda w: soon(hours=-3)), "ended_at"),
    ("a start in the future", _set("started_at", lambda w: soon(hours=2)), "started_at"),
    ("no topic", _set("topic", "   "), "topic"),
    ("no attendees", _set("attendees", []), "attendees"),
    (
        "an attendee outside the member's villages",
        _set("attendees", lambda w: [w.places["V2"].resident.pk]),
        "attendees[0]",
    ),
    ("an attendee twice", _set("attendees", lambda w: [w.places["V1"].resident.pk] * 2), "attendees[1]"),
    ("an attendee that is no id", _set("attendees", [{"name": "A"}]), "attendees[0]"),
    ("an unknown capability", _set("capability", "juggling"), "capability"),
    ("a household capability", _set("capability", "fibre_broadband"), "capability"),
    ("a village outside the member's", _set("village", lambda w: w.places["V2"].village.pk), "village"),
    ("a team that is not the member's", _set("team", lambda w: w.places["V3"].team.pk), "team"),
]


@pytest.mark.parametrize("via", ["single", "sync"])
@pytest.mark.parametrize(("case", "change", "field"), SESSION_CASES, ids=[c[0] for c in SESSION_CASES])
def test_a_bad_session_is_refused_naming_the_field(world: World, client_for, via, case, change, field) -> None:
    data = copy.deepcopy(session_data(world))
    change(data, world)
    errors = refused(client_for(world.member), "training_session", data, via)
    assert field in errors, errors


# --- reported values and query parameters ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"indicator": "adults-smartphone", "period": "2025", "value": "5"}, "indicator"),
        ({"indicator": "digital-economy-grdp", "period": "2025-13", "value": "5"}, "period"),
        ({"indicator": "digital-economy-grdp", "period": "0000", "value": "5"}, "period"),
        ({"indicator": "digital-economy-grdp", "period": "2025", "value": "-1"}, "value"),
        ({"indicator": "digital-economy-grdp", "period": "2025", "value": "101"}, "value"),
        ({"indicator": "digital-economy-grdp", "period": "2099", "value": "5"}, "period"),
        ({"indicator": "digital-economy-grdp", "period": "2025", "value": "many"}, "value"),
    ],
)
def test_a_bad_reported_value_is_refused_naming_the_field(world: World, client_for, body, field) -> None:
    body = {**body, "area": world.tree.province.pk}
    response = client_for(world.users["province_officer"]).post("/api/v1/reported-values/", body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/areas/{village}/indicators/?period=2026-99", "period"),
        ("/api/v1/areas/{village}/indicators/?period=1066", "period"),
        ("/api/v1/areas/{commune}/indicators/children/?indicator=no-such", "indicator"),
        ("/api/v1/residents/?household=abc", "household"),
        ("/api/v1/residents/?status=flying", "status"),
        ("/api/v1/assistance-logs/?occurred_after=last-week", "occurred_after"),
        ("/api/v1/areas/?depth=1.5", "depth"),
        ("/api/v1/households/?village=99999999999999999999999", "village"),
    ],
)
def test_a_bad_query_parameter_is_a_400_naming_it(world: World, client_for, url, field) -> None:
    url = url.format(village=world.tree.village.pk, commune=world.tree.commune.pk)
    response = client_for(world.users["superuser"]).get(url)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]


@pytest.mark.parametrize("text", ["Nay\x00H'Bia", "Nay \ud800 H'Bia"])
@pytest.mark.parametrize("via", ["single", "sync"])
def test_text_no_database_can_store_is_refused_naming_the_field(world: World, client_for, text, via) -> None:
    data = {**resident_data(world), "full_name": text}
    errors = refused(client_for(world.member), "resident", data, via)
    assert list(errors) == ["full_name"]
