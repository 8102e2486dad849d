"""A household and its people registered together through sync: all of them, or nothing (issue 16 item 10)."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from fieldteam.models import AssistanceLog, ConsentRecord, Household, Resident, SyncReceipt, VillageCount
from fieldteam.rollup import recompute
from tests.api.conftest import World
from tests.factories import make_citizen_id

SYNC = "/api/v1/sync/"


def household_item(world: World, *people: dict) -> dict:
    return {
        "kind": "household",
        "client_id": str(uuid.uuid4()),
        "data": {
            "village": world.places["V1"].village.pk,
            "head_name": "Lò Văn Pọm",
            "residents": [{"client_id": str(uuid.uuid4()), **person} for person in people],
        },
    }


def person(name: str, *, birth_year: int = 1980, sex: str = "male", citizen_id: str = "") -> dict:
    data: dict = {"full_name": name, "sex": sex, "birth_year": birth_year}
    if citizen_id:
        data["citizen_id"] = citizen_id
        data["consent"] = {"channel": "in_person", "given_at": timezone.now().isoformat()}
    return data


def snapshot(world: World) -> tuple:
    return (
        Household.objects.count(),
        Resident.objects.count(),
        ConsentRecord.objects.count(),
        SyncReceipt.objects.count(),
        sorted(VillageCount.objects.values_list("village_id", "indicator_id", "numerator", "denominator")),
    )


def _duplicate_citizen_id_saves_nothing(world: World, client_for) -> None:
    taken = make_citizen_id(birth_year=1980, sex="male", serial=424242)
    client = client_for(world.member)
    first = client.post(SYNC, {"items": [household_item(world, person("Lò Văn A", citizen_id=taken))]}, format="json")
    assert first.json()["results"][0]["status"] == "created"
    before = snapshot(world)

    item = household_item(
        world, person("Lò Thị B", sex="female"), person("Lò Văn C", citizen_id=taken), person("Lò Văn D")
    )
    result = client.post(SYNC, {"items": [item]}, format="json").json()["results"][0]

    assert result["status"] == "rejected" and result["id"] is None
    # Which person, which field, why; and that nothing was saved.
    assert set(result["errors"]) == {"non_field_errors", "residents[1].citizen_id"}
    assert "2" in result["errors"]["non_field_errors"][0]
    assert result["errors"]["residents[1].citizen_id"] == ["Đã có người dân đăng ký với số CCCD này."]
    assert snapshot(world) == before
    assert not Resident.objects.filter(full_name__in=["Lò Thị B", "Lò Văn D"]).exists()


@pytest.mark.django_db
def test_a_refused_person_saves_nothing_of_the_household(world: World, client_for) -> None:
    _duplicate_citizen_id_saves_nothing(world, client_for)


@pytest.mark.django_db(transaction=True)
def test_a_refused_person_saves_nothing_outside_the_tests_transaction(world: World, client_for) -> None:
    # Committed for real: a half-registered household cannot hide behind the test's rollback.
    _duplicate_citizen_id_saves_nothing(world, client_for)


@pytest.mark.django_db
def test_the_household_and_its_people_are_created_together_and_referred_to(world: World, client_for) -> None:
    item = household_item(world, person("Lò Thị E", sex="female", birth_year=1990), person("Lò Văn G", birth_year=2015))
    mother = item["data"]["residents"][0]["client_id"]
    log_id = str(uuid.uuid4())
    log = {
        "kind": "assistance_log",
        "client_id": log_id,
        "data": {
            "team": world.places["V1"].team.pk,
            "resident": mother,
            "occurred_at": timezone.now().isoformat(),
            "channel": "home_visit",
            "items": [{"capability": "smartphone", "outcome": "done"}],
        },
    }
    results = client_for(world.member).post(SYNC, {"items": [item, log]}, format="json").json()["results"]
    assert [r["status"] for r in results] == ["created", "created"], results
    household = Household.objects.get(pk=int(results[0]["id"]))
    people = {r.full_name: r for r in household.residents.all()}
    assert set(people) == {"Lò Thị E", "Lò Văn G"}
    assert results[0]["residents"] == [
        {"client_id": p["client_id"], "id": str(people[p["full_name"]].pk)} for p in item["data"]["residents"]
    ]
    assert AssistanceLog.objects.get(pk=log_id).resident == people["Lò Thị E"]
    # A later batch refers to a person by their client id too, and a resend changes nothing.
    again = client_for(world.member).post(SYNC, {"items": [item]}, format="json").json()["results"][0]
    assert again["status"] == "already_received"
    assert household.residents.count() == 2
    assert recompute.recompute_province(province_id=world.tree.province.pk).drift == []


@pytest.mark.django_db
def test_bad_people_are_named_by_position_and_field(world: World, client_for) -> None:
    item = household_item(world, person("Lò Văn H"), {"full_name": "", "sex": "other"})
    item["data"]["residents"].append("not a person")
    before = snapshot(world)
    result = client_for(world.member).post(SYNC, {"items": [item]}, format="json").json()["results"][0]
    assert result["status"] == "rejected"
    assert set(result["errors"]) == {"residents[1].full_name", "residents[1].sex", "residents[2]"}
    assert snapshot(world) == before


@pytest.mark.django_db
def test_a_person_client_id_already_used_is_refused(world: World, client_for) -> None:
    client = client_for(world.member)
    first = household_item(world, person("Lò Văn K"))
    client.post(SYNC, {"items": [first]}, format="json")
    second = household_item(world, person("Lò Văn L"))
    second["data"]["residents"][0]["client_id"] = first["data"]["residents"][0]["client_id"]
    before = snapshot(world)
    result = client.post(SYNC, {"items": [second]}, format="json").json()["results"][0]
    assert result["status"] == "rejected"
    assert list(result["errors"]) == ["residents[0].client_id"]
    assert snapshot(world) == before


@pytest.mark.django_db
def test_a_household_without_people_still_works_for_older_phones(world: World, client_for) -> None:
    item = household_item(world)
    del item["data"]["residents"]
    result = client_for(world.member).post(SYNC, {"items": [item]}, format="json").json()["results"][0]
    assert result["status"] == "created" and "residents" not in result
    empty = household_item(world)  # an empty list is not a household with its people
    result = client_for(world.member).post(SYNC, {"items": [empty]}, format="json").json()["results"][0]
    assert result["status"] == "rejected" and list(result["errors"]) == ["residents"]
