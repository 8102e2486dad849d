"""Issue 13, item 1: no route tells whether a citizen ID is registered outside the caller's areas.

Every route that stores a citizen ID (API create and PATCH, offline sync, which the mobile web
uses, admin, imports) is asked twice by the same user: once with the number of the resident of VF
(another province: out of everyone's scope but the superuser's) and once with a number nobody
holds, both agreeing with the same birth year and sex and ending in the same three digits (the
masked form). Status, body, error codes and the pattern of SQL statements must be the same. A
number the caller can see is still answered "already registered" (that leaks nothing). And each
number checked counts against the caller's ``identifier_check`` rate, per item in a sync batch.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fieldteam.choices import ResidentStatus, Sex
from fieldteam.models import Resident
from fieldteam.ratelimit import IdentifierCheckThrottle
from fieldteam.selectors.duplicates import SAME_CITIZEN_ID, likely_duplicate_residents
from fieldteam.services.duplicates import merge_residents, settle_disputed_citizen_id
from tests.api.conftest import World
from tests.factories import HouseholdFactory, ResidentFactory, make_citizen_id

pytestmark = pytest.mark.django_db

CONSENT = {"channel": "in_person"}
# The VF resident's number is serial 104 (``world``); this one ends the same and is held by no one.
ELSEWHERE = make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=104)
UNKNOWN = make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=777104)

_VOLATILE = {"id", "client_id", "created_at", "updated_at", "household", "full_name"}


def _shape(value: Any) -> Any:
    """A response body with what differs between any two registrations (ids, times) blanked."""
    if isinstance(value, dict):
        return {k: ("*" if k in _VOLATILE else _shape(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return value


def _pattern(queries: list[dict[str, str]]) -> list[str]:
    """The statements run, literals and numbers blanked (their parameters differ, not their shape)."""
    out = []
    for query in queries:
        sql = re.sub(r"'[^']*'", "?", query["sql"])
        sql = re.sub(r'"s\d+_x\d+"', "SAVEPOINT_ID", sql)
        sql = re.sub(r"\b(true|false)\b", "B", sql)  # PostgreSQL shows boolean parameters inline
        out.append(re.sub(r"\b\d+\b", "N", sql))
    return out


def _elsewhere_number(world: World) -> str:
    assert world.places["VF"].resident.citizen_id_masked == "*********104"
    return ELSEWHERE


def _both(attempt) -> tuple[tuple[Any, Any, list[str]], tuple[Any, Any, list[str]]]:
    results = []
    for number in (ELSEWHERE, UNKNOWN):
        with CaptureQueriesContext(connection) as queries:
            status, body = attempt(number)
        results.append((status, _shape(body), _pattern(queries.captured_queries)))
    return results[0], results[1]


def _assert_same(elsewhere, unknown) -> None:
    assert elsewhere[0] == unknown[0]
    assert elsewhere[1] == unknown[1]
    assert elsewhere[2] == unknown[2]


def _post_resident(client, world: World, number: str, *, consent: bool = True):
    data = {
        "household": world.places["V1"].household.pk,
        "full_name": "Rơ Châm H'Lin",
        "sex": Sex.FEMALE,
        "birth_year": 1980,
        "citizen_id": number,
    }
    if consent:
        data["consent"] = CONSENT
    response = client.post("/api/v1/residents/", data, format="json")
    return response.status_code, response.json()


# --- the answers ------------------------------------------------------------------------------------


def test_api_create_answers_a_number_held_in_another_province_like_an_unknown_one(world: World, client_for):
    _elsewhere_number(world)
    client = client_for(world.member)
    elsewhere, unknown = _both(lambda n: _post_resident(client, world, n))
    assert elsewhere[0] == 201, elsewhere
    _assert_same(elsewhere, unknown)
    # Stored the same way for the member (masked, searchable in their scope), only marked disputed.
    new = Resident.objects.get(pk=Resident.objects.filter(citizen_id_disputed=True).get().pk)
    assert new.citizen_id_masked == "*********104" and new.village == world.places["V1"].village
    found = client.post("/api/v1/residents/search/", {"citizen_id": ELSEWHERE}, format="json").json()
    assert [r["id"] for r in found] == [new.pk]


def test_api_create_without_consent_is_refused_alike_whether_or_not_the_number_exists(world: World, client_for):
    client = client_for(world.member)
    elsewhere, unknown = _both(lambda n: _post_resident(client, world, n, consent=False))
    assert elsewhere[0] == 400 and elsewhere[1]["codes"] == {"consent": ["consent_required"]}
    _assert_same(elsewhere, unknown)


def test_a_number_the_caller_can_see_is_still_answered_already_registered(world: World, client_for):
    visible = make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=101)  # V1's resident
    status, body = _post_resident(client_for(world.member), world, visible)
    assert status == 400 and body["codes"] == {"citizen_id": ["duplicate_citizen_id"]}


def test_api_patch_answers_a_number_held_in_another_province_like_an_unknown_one(world: World, client_for):
    client = client_for(world.member)
    targets = iter(ResidentFactory.create_batch(2, household=world.places["V1"].household, birth_year=1980))

    def attempt(number: str):
        resident = next(targets)
        response = client.patch(
            f"/api/v1/residents/{resident.pk}/", {"citizen_id": number, "consent": CONSENT}, format="json"
        )
        return response.status_code, response.json()

    elsewhere, unknown = _both(attempt)
    assert elsewhere[0] == 200, elsewhere
    _assert_same(elsewhere, unknown)


def test_sync_answers_a_number_held_in_another_province_like_an_unknown_one(world: World, client_for):
    client = client_for(world.member)

    def attempt(number: str):
        item = {
            "kind": "resident",
            "client_id": str(uuid.uuid4()),
            "data": {
                "household": world.places["V1"].household.pk,
                "full_name": "Rơ Châm H'Lin",
                "sex": Sex.FEMALE,
                "birth_year": 1980,
                "citizen_id": number,
                "consent": CONSENT,
            },
        }
        response = client.post("/api/v1/sync/", {"items": [item]}, format="json")
        return response.status_code, response.json()

    elsewhere, unknown = _both(attempt)
    assert elsewhere[1]["results"][0]["status"] == "created", elsewhere
    _assert_same(elsewhere, unknown)


def test_admin_answers_a_number_held_in_another_province_like_an_unknown_one(world: World, client):
    client.force_login(world.users["commune_officer"])

    def attempt(number: str):
        response = client.post(
            reverse("admin:fieldteam_resident_add"),
            {
                "village": world.places["V1"].village.pk,
                "household": "",
                "full_name": "Rơ Châm H'Lin",
                "sex": Sex.FEMALE,
                "birth_date": "",
                "birth_year": 1980,
                "citizen_id": number,
                "phone": "",
                "ethnicity": "",
                "consent_channel": "paper",
            },
        )
        return response.status_code, re.sub(r"/\d+/", "/N/", response.get("Location", ""))

    elsewhere, unknown = _both(attempt)
    assert elsewhere[0] == 302, elsewhere
    assert elsewhere[:2] == unknown[:2]  # admin pages run per-session queries (messages): status and place


# --- the conflict, for an officer who sees both ----------------------------------------------------


def test_the_disputed_number_is_shown_to_whoever_sees_both_and_settled_there(world: World, client_for):
    assert _post_resident(client_for(world.member), world, ELSEWHERE)[0] == 201
    new = Resident.objects.get(citizen_id_disputed=True)
    old = world.places["VF"].resident
    # Not to the province officer of V1 (cannot see VF), nor to VF's side: only the superuser.
    assert likely_duplicate_residents(actor=world.users["province_officer"]) == []
    assert likely_duplicate_residents(actor=world.users["outsider"]) == []
    groups = likely_duplicate_residents(actor=world.users["superuser"])
    assert [(g.reason, {r.pk for r in g.residents}) for g in groups] == [(SAME_CITIZEN_ID, {new.pk, old.pk})]
    # Only someone who is officer over both may settle it; the province officer's refusal names no one.
    with pytest.raises(ValidationError) as refused:
        settle_disputed_citizen_id(actor=world.users["province_officer"], resident=new, confirm=True)
    assert refused.value.error_dict["resident"][0].code == "out_of_scope"
    settle_disputed_citizen_id(actor=world.users["superuser"], resident=new, confirm=True)  # she moved here
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.citizen_id_disputed, new.citizen_id_masked) == (False, "*********104")
    assert old.citizen_id_hash is None and old.citizen_id_masked == ""


def test_merging_two_records_of_one_number_keeps_one_undisputed_copy(world: World, client_for):
    officer = world.users["commune_officer"]  # sees V1 and V2; the member only V1
    number = make_citizen_id(birth_year=1990, sex=Sex.MALE, serial=424242)
    first = ResidentFactory(
        household=HouseholdFactory(village=world.places["V2"].village), birth_year=1990, sex=Sex.MALE, citizen_id=number
    )
    data = {
        "household": world.places["V1"].household.pk,
        "full_name": "Ksor Nay",
        "sex": Sex.MALE,
        "birth_year": 1990,
        "citizen_id": number,
        "consent": CONSENT,
    }
    response = client_for(world.member).post("/api/v1/residents/", data, format="json")
    assert response.status_code == 201, response.json()
    second = Resident.objects.get(pk=response.json()["id"])
    assert second.citizen_id_disputed
    groups = likely_duplicate_residents(actor=officer)
    assert [(g.reason, {r.pk for r in g.residents}) for g in groups] == [(SAME_CITIZEN_ID, {first.pk, second.pk})]
    merge_residents(actor=officer, keep=second, duplicate=first)
    second.refresh_from_db()
    first.refresh_from_db()
    assert not second.citizen_id_disputed and second.citizen_id_masked == "*********242"
    assert first.status == ResidentStatus.MERGED and first.citizen_id_hash is None
    assert likely_duplicate_residents(actor=officer) == []


# --- the rate of identifier checks -----------------------------------------------------------------


@pytest.fixture
def three_checks(monkeypatch):
    monkeypatch.setitem(IdentifierCheckThrottle.THROTTLE_RATES, "identifier_check", "3/day")


def test_each_number_in_a_sync_batch_counts_and_the_fourth_is_refused_alone(world: World, client_for, three_checks):
    items = [
        {
            "kind": "resident",
            "client_id": str(uuid.uuid4()),
            "data": {
                "household": world.places["V1"].household.pk,
                "full_name": f"Người thứ {n}",
                "sex": Sex.FEMALE,
                "birth_year": 1980,
                "citizen_id": make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=500000 + n),
                "consent": CONSENT,
            },
        }
        for n in range(4)
    ]
    items.append({**items[0], "client_id": str(uuid.uuid4()), "data": {**items[0]["data"], "citizen_id": ""}})
    results = client_for(world.member).post("/api/v1/sync/", {"items": items}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["created", "created", "created", "rejected", "created"]
    assert list(results[3]["errors"]) == ["citizen_id"]
    message = results[3]["errors"]["citizen_id"][0]
    assert "Too many citizen IDs" in message or "quá nhiều số CCCD" in message  # translated
    assert not Resident.objects.filter(full_name="Người thứ 3").exists()


def test_the_api_answers_429_once_the_checks_are_spent_on_any_route(world: World, client_for, three_checks):
    client = client_for(world.member)
    for n in range(3):
        number = make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=600000 + n)
        assert _post_resident(client, world, number)[0] == 201
    status, body = _post_resident(client, world, make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=600009))
    assert status == 429 and body["codes"] == {"citizen_id": ["throttled"]}
    # Another user has a counter of their own.
    other = client_for(world.users["leader"])
    assert _post_resident(other, world, make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=600010))[0] == 201


def test_a_refused_format_or_consent_spends_no_check(world: World, client_for, three_checks):
    client = client_for(world.member)
    for _ in range(5):
        assert _post_resident(client, world, "123")[0] == 400
        assert _post_resident(client, world, UNKNOWN, consent=False)[0] == 400
    assert _post_resident(client, world, UNKNOWN)[0] == 201
