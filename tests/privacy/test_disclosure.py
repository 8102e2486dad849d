"""Unmasked identifiers: only an officer of the area sees them, only on a POST with a reason, always recorded."""

from __future__ import annotations

import pytest

from fieldteam import identifiers
from fieldteam.models import AuditEntry

pytestmark = pytest.mark.django_db


def reveal(client, resident_id: int, purpose: object = "Đối chiếu với CSDL quốc gia về dân cư"):
    return client.post(f"/api/v1/residents/{resident_id}/identifiers/", {"purpose": purpose}, format="json")


def accesses(resident) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=AuditEntry.Action.ACCESS, object_pk=str(resident.pk)))


@pytest.mark.parametrize("role", ["commune_officer", "province_officer", "superuser"])
def test_an_officer_of_the_area_sees_the_full_numbers_and_the_view_is_recorded(world, client_for, role) -> None:
    resident = world.places["V1"].resident
    response = reveal(client_for(world.users[role]), resident.pk)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "citizen_id": identifiers.decrypt(resident.citizen_id_ciphertext),
        "phone": identifiers.decrypt(resident.phone_ciphertext),
    }
    assert response["Cache-Control"] == "no-store"
    (entry,) = accesses(resident)
    assert entry.actor == world.users[role]
    assert entry.additional_data["fields"] == ["citizen_id", "phone"]
    assert entry.additional_data["purpose"].startswith("Đối chiếu")
    assert entry.area_id == world.places["V1"].village.pk


@pytest.mark.parametrize("role", ["member", "leader", "viewer"])
def test_a_role_in_scope_but_not_an_officer_is_refused_and_nothing_is_recorded(world, client_for, role) -> None:
    resident = world.places["V1"].resident
    response = reveal(client_for(world.users[role]), resident.pk)
    assert response.status_code == 403
    assert identifiers.decrypt(resident.citizen_id_ciphertext) not in response.content.decode()
    assert accesses(resident) == []


@pytest.mark.parametrize(
    ("role", "place"), [("commune_officer", "V3"), ("commune_officer", "VF"), ("province_officer", "VF")]
)
def test_a_resident_outside_the_officers_areas_is_not_found(world, client_for, role, place) -> None:
    resident = world.places[place].resident
    response = reveal(client_for(world.users[role]), resident.pk)
    assert response.status_code == 404
    assert response.json() == reveal(client_for(world.users[role]), 999_999_999).json()
    assert accesses(resident) == []


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 301, None, "yêu cầu của chị, CCCD 064 190 012 345"])
def test_a_view_needs_a_reason_without_identifiers_in_it(world, client_for, purpose) -> None:
    resident = world.places["V1"].resident
    response = reveal(client_for(world.users["commune_officer"]), resident.pk, purpose)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["purpose"]
    assert accesses(resident) == []


def test_the_numbers_are_never_in_a_url_a_get_is_not_allowed(world, client_for) -> None:
    response = client_for(world.users["commune_officer"]).get(
        f"/api/v1/residents/{world.places['V1'].resident.pk}/identifiers/"
    )
    assert response.status_code == 405
