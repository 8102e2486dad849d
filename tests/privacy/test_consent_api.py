"""Consent through the API and offline sync: given with a registration, recorded later, withdrawn."""

from __future__ import annotations

import uuid

import pytest

from fieldteam.models import ConsentRecord, Resident
from tests.factories import make_citizen_id

pytestmark = pytest.mark.django_db


def new_resident(world, **extra):
    return {
        "household": world.places["V1"].household.pk,
        "full_name": "Rơ Lan H'Bia",
        "sex": "female",
        "birth_year": 1992,
        **extra,
    }


def test_a_resident_with_a_phone_and_no_consent_is_refused_naming_consent(world, client_for) -> None:
    before = Resident.objects.count()
    response = client_for(world.member).post(
        "/api/v1/residents/", new_resident(world, phone="0912345670"), format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["consent"]
    assert Resident.objects.count() == before


def test_a_bad_consent_object_names_the_inner_field(world, client_for) -> None:
    body = new_resident(world, phone="0912345670", consent={"channel": "telepathy"})
    response = client_for(world.member).post("/api/v1/residents/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["consent.channel"]


def test_sync_carries_the_consent_inside_the_item(world, client_for) -> None:
    cccd = make_citizen_id(birth_year=1992, sex="female", serial=777)
    with_consent = {
        "kind": "resident",
        "client_id": str(uuid.uuid4()),
        "data": new_resident(world, citizen_id=cccd, consent={"channel": "in_person", "notice_version": "2026-01"}),
    }
    without = {"kind": "resident", "client_id": str(uuid.uuid4()), "data": new_resident(world, phone="0912345671")}
    bad = {
        "kind": "resident",
        "client_id": str(uuid.uuid4()),
        "data": new_resident(world, phone="0912345672", consent={"channel": "paper", "purposes": ["marketing"]}),
    }
    response = client_for(world.member).post("/api/v1/sync/", {"items": [with_consent, without, bad]}, format="json")
    assert response.status_code == 200, response.json()
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected"]
    assert "consent" in results[1]["errors"]
    assert "consent.purposes" in results[2]["errors"]
    created = Resident.objects.get(pk=results[0]["id"])
    assert created.consents.get().recorded_by == world.member


def test_record_then_withdraw_through_the_api(world, client_for) -> None:
    client = client_for(world.member)
    created = client.post("/api/v1/residents/", new_resident(world), format="json").json()
    recorded = client.post(f"/api/v1/residents/{created['id']}/consents/", {"channel": "paper"}, format="json")
    assert recorded.status_code == 201, recorded.json()
    added = client.patch(f"/api/v1/residents/{created['id']}/", {"phone": "0912345673"}, format="json")
    assert added.status_code == 200 and added.json()["phone"].endswith("673")

    withdrawn = client.post(f"/api/v1/residents/{created['id']}/consents/withdraw/")
    assert withdrawn.status_code == 200 and withdrawn.json() == {"withdrawn": 1}
    resident = Resident.objects.get(pk=created["id"])
    assert resident.phone_hash is None and resident.phone_masked == ""
    assert ConsentRecord.objects.get(resident=resident).withdrawn_at is not None


@pytest.mark.parametrize(
    ("role", "place", "code"), [("viewer", "V1", 403), ("commune_officer", "VF", 404), ("member", "V3", 404)]
)
def test_consent_writes_outside_the_role_are_refused(world, client_for, role, place, code) -> None:
    resident = world.places[place].resident
    client = client_for(world.users[role])
    assert (
        client.post(f"/api/v1/residents/{resident.pk}/consents/", {"channel": "paper"}, format="json").status_code
        == code
    )
    assert client.post(f"/api/v1/residents/{resident.pk}/consents/withdraw/").status_code == code
    resident.refresh_from_db()
    assert resident.citizen_id_hash and resident.consents.filter(withdrawn_at__isnull=True).count() == 1


def test_a_patch_with_a_consent_without_its_channel_names_the_channel(world, client_for) -> None:
    resident = world.places["V1"].resident
    body = {"phone": "0912345674", "consent": {"notice_version": "2026-01", "purposes": ["contact"]}}
    response = client_for(world.member).patch(f"/api/v1/residents/{resident.pk}/", body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["consent.channel"]
