"""Households and residents over the API: masked identifiers, search, registration and correction."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldteam import identifiers
from fieldteam.choices import Sex
from fieldteam.models import Resident
from tests.api.conftest import World
from tests.factories import ResidentFactory, make_citizen_id

pytestmark = pytest.mark.django_db


def test_identifiers_are_masked_for_every_role(world: World, client_for) -> None:
    resident = world.places["V1"].resident
    cccd = identifiers.decrypt(resident.citizen_id_ciphertext)
    phone = identifiers.decrypt(resident.phone_ciphertext)
    for role in ("member", "leader", "commune_officer", "province_officer", "viewer", "superuser"):
        client = client_for(world.users[role])
        for url in (
            f"/api/v1/residents/{resident.pk}/",
            "/api/v1/residents/",
            f"/api/v1/residents/?q={resident.full_name[:3]}",
        ):
            body = client.get(url).content.decode()
            assert cccd not in body and phone not in body, (role, url)
        detail = client.get(f"/api/v1/residents/{resident.pk}/").json()
        assert detail["citizen_id"] == "*********" + cccd[-3:]
        assert detail["phone"] == "*******" + phone[-3:]
        assert "ethnicity" not in detail


def test_a_new_resident_comes_back_masked(world: World, client_for) -> None:
    cccd = make_citizen_id(birth_year=1995, sex=Sex.MALE, serial=4242)
    body = {
        "household": world.places["V1"].household.pk,
        "full_name": "  Đinh   Văn  Hùng ",
        "sex": "male",
        "birth_date": "1995-06-30",
        "citizen_id": cccd,
        "phone": "+84 912 000 111",
        "consent": {"channel": "in_person"},
    }
    response = client_for(world.member).post("/api/v1/residents/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["full_name"] == "Đinh Văn Hùng"
    assert created["birth_year"] == 1995
    assert created["citizen_id"] == "*********" + cccd[-3:]
    assert created["phone"] == "*******111"
    assert cccd not in response.content.decode()
    stored = Resident.objects.get(pk=created["id"])
    assert identifiers.decrypt(stored.phone_ciphertext) == "0912000111"


def test_exact_identifier_search_is_a_post_through_the_keyed_hash(world: World, client_for) -> None:
    resident = world.places["V1"].resident
    cccd = identifiers.decrypt(resident.citizen_id_ciphertext)
    phone = identifiers.decrypt(resident.phone_ciphertext)
    client = client_for(world.member)
    # Written with the separators people type: found all the same
    spaced = f"{cccd[:3]} {cccd[3:6]} {cccd[6:]}"
    found = client.post("/api/v1/residents/search/", {"citizen_id": spaced}, format="json")
    assert found.status_code == 200
    assert [r["id"] for r in found.json()] == [resident.pk]
    assert cccd not in found.content.decode()
    by_phone = client.post("/api/v1/residents/search/", {"phone": "+84" + phone[1:]}, format="json").json()
    assert [r["id"] for r in by_phone] == [resident.pk]
    # Out of scope: the same as no such person
    other = world.places["V2"].resident
    other_cccd = identifiers.decrypt(other.citizen_id_ciphertext)
    assert client.post("/api/v1/residents/search/", {"citizen_id": other_cccd}, format="json").json() == []
    # And a GET never searches by identifier
    assert client.get("/api/v1/residents/search/").status_code == 405


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "citizen_id"),
        ({"citizen_id": "001", "phone": "0912345678"}, "citizen_id"),
        ({"citizen_id": "12345"}, "citizen_id"),
        ({"phone": "12345"}, "phone"),
    ],
)
def test_identifier_search_needs_exactly_one_valid_identifier(world: World, client_for, body, field) -> None:
    response = client_for(world.member).post("/api/v1/residents/search/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_search_by_name_and_household(world: World, client_for) -> None:
    household = world.places["V1"].household
    ResidentFactory(household=household, full_name="Ksor H'Nhi", birth_year=1990)
    ResidentFactory(household=household, full_name="Rơ Mah Thuận", birth_year=1991)
    client = client_for(world.member)
    names = [r["full_name"] for r in client.get("/api/v1/residents/", {"q": "ksor"}).json()["results"]]
    assert names == ["Ksor H'Nhi"]
    in_household = client.get("/api/v1/residents/", {"household": household.pk}).json()
    assert in_household["count"] == 3
    # A household of another village names nobody the member may see
    assert client.get("/api/v1/residents/", {"household": world.places["V2"].household.pk}).json()["count"] == 0


def test_residents_lacking_a_capability_make_a_work_list(world: World, client_for) -> None:
    newcomer = ResidentFactory(household=world.places["V1"].household, full_name="Siu Blơng", birth_year=1999)
    client = client_for(world.member)
    lacking = {r["id"] for r in client.get("/api/v1/residents/", {"lacks": "smartphone"}).json()["results"]}
    holding = {r["id"] for r in client.get("/api/v1/residents/", {"holds": "smartphone"}).json()["results"]}
    assert lacking == {newcomer.pk}
    assert holding == {world.places["V1"].resident.pk}
    detail = client.get(f"/api/v1/residents/{world.places['V1'].resident.pk}/").json()
    assert set(detail["capabilities"]) == {"smartphone", "basic_digital_skills"}


def test_correcting_a_resident_keeps_the_identifiers_consistent(world: World, client_for) -> None:
    resident = world.places["V1"].resident
    client = client_for(world.member)
    # A birth year that disagrees with the stored CCCD is refused, naming the field, and nothing changes
    refused = client.patch(f"/api/v1/residents/{resident.pk}/", {"birth_year": 1981}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()["errors"]) == ["birth_year"]
    resident.refresh_from_db()
    assert resident.birth_year == 1980
    # Removing the phone and renaming work
    response = client.patch(f"/api/v1/residents/{resident.pk}/", {"phone": "", "full_name": "Nay H'Bia"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["phone"] == "" and response.json()["full_name"] == "Nay H'Bia"
    resident.refresh_from_db()
    assert resident.phone_hash is None
    # PUT (a full replacement) is not offered
    assert client.put(f"/api/v1/residents/{resident.pk}/", {}, format="json").status_code == 405


def test_registering_a_household_then_finding_it(world: World, client_for) -> None:
    client = client_for(world.member)
    response = client.post(
        "/api/v1/households/",
        {"village": world.places["V1"].village.pk, "code": "TH1-099", "head_name": "Kpă Y Rin"},
        format="json",
    )
    assert response.status_code == 201
    assert client.get("/api/v1/households/", {"q": "y rin"}).json()["results"][0]["id"] == response.json()["id"]
    assert client.get("/api/v1/households/", {"code": "TH1-099"}).json()["count"] == 1


def test_me_tells_roles_teams_and_areas(world: World, client_for) -> None:
    me = client_for(world.member).get("/api/v1/me/").json()
    assert me["teams"] == [
        {
            "id": world.places["V1"].team.pk,
            "name": world.places["V1"].team.name,
            "role": "member",
            "areas": [world.tree.village.pk],
        }
    ]
    assert [a["id"] for a in me["areas"]] == [world.tree.village.pk]
    assert me["areas"][0]["can_edit"] is True
    assert me["identifiers"] == "masked"
    viewer = client_for(world.users["viewer"]).get("/api/v1/me/").json()
    assert viewer["roles"] == [
        {
            "role": "viewer",
            "area": {
                "id": world.tree.province.pk,
                "code": world.tree.province.code,
                "name": world.tree.province.name,
                "kind": "province",
            },
        }
    ]
    assert viewer["can_edit"] is False and viewer["areas"][0]["can_edit"] is False
    officer = client_for(world.users["commune_officer"]).get("/api/v1/me/").json()
    assert [a["id"] for a in officer["areas"]] == [world.tree.commune.pk]


def test_browsing_the_tree(world: World, client_for) -> None:
    client = client_for(world.users["province_officer"])
    province = client.get(f"/api/v1/areas/{world.tree.province.pk}/").json()
    assert province["parent"] is None and province["has_children"] is True
    children = client.get(f"/api/v1/areas/{world.tree.province.pk}/children/").json()["results"]
    assert {c["id"] for c in children} == {world.tree.commune.pk, world.tree.other_commune.pk}
    assert all(c["parent"] == world.tree.province.pk for c in children)
    by_parent = client.get("/api/v1/areas/", {"parent": world.tree.commune.pk}).json()["results"]
    assert {a["id"] for a in by_parent} == {world.tree.village.pk, world.tree.village2.pk}


def test_indicator_values_of_an_area_and_its_children(world: World, client_for) -> None:
    client = client_for(world.users["commune_officer"])
    readings = client.get(f"/api/v1/areas/{world.tree.commune.pk}/indicators/").json()
    smartphone = next(r for r in readings if r["indicator"]["code"] == "adults-smartphone")
    assert (smartphone["numerator"], smartphone["denominator"], smartphone["is_live"]) == (2, 2, True)
    children = client.get(
        f"/api/v1/areas/{world.tree.commune.pk}/indicators/children/", {"indicator": "adults-smartphone"}
    ).json()
    assert {row["area"]["id"] for row in children} == {world.tree.village.pk, world.tree.village2.pk}
    last_year = str(world.reported["V1"].period_start.year)
    grdp = client.get(f"/api/v1/areas/{world.tree.village.pk}/indicators/", {"period": last_year}).json()
    assert next(r for r in grdp if r["indicator"]["code"] == "digital-economy-grdp")["value"] == "12.500"


def test_teams_and_their_members(world: World, client_for) -> None:
    client = client_for(world.users["commune_officer"])
    teams = client.get("/api/v1/teams/", {"area": world.tree.village.pk}).json()["results"]
    assert [t["id"] for t in teams] == [world.places["V1"].team.pk]
    assert teams[0]["member_count"] == 3
    members = client.get(f"/api/v1/teams/{world.places['V1'].team.pk}/members/").json()["results"]
    assert {m["user"]["id"] for m in members} >= {world.member.pk, world.users["leader"].pk}
    assert all(set(m["user"]) == {"id", "username", "full_name"} for m in members)
    assert "phone" not in json.dumps(members)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/residents/",
        "/api/v1/households/",
        "/api/v1/assistance-logs/",
        "/api/v1/training-sessions/",
        "/api/v1/teams/",
    ],
)
def test_a_list_costs_the_same_queries_for_one_row_or_many(world: World, client_for, url) -> None:
    client = client_for(world.users["superuser"])
    client.get(url)  # warm the per-process caches (content types, counting rules)
    with CaptureQueriesContext(connection) as few:
        assert client.get(url, {"page_size": 1}).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert client.get(url, {"page_size": 200}).status_code == 200
    assert len(many) == len(few) <= 8, [q["sql"][:100] for q in many]
