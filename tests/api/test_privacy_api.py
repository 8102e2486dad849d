"""Data-subject requests over the API: a person's data (JSON or XLSX) and their anonymisation, by role."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from fieldteam import identifiers
from fieldteam.models import AuditEntry, Resident
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

# What each role gets asking about the V1 resident: only officers of the area and superusers may
# handle a request; a member or a viewer sees the resident but is refused, an outsider sees nothing.
EXPECTED = {
    "member": 403,
    "leader": 403,
    "viewer": 403,
    "commune_officer": 200,
    "province_officer": 200,
    "superuser": 200,
    "outsider": 404,
}


def _url(resident: Resident, what: str = "personal-data") -> str:
    return f"/api/v1/residents/{resident.pk}/{what}/"


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_who_may_export_a_persons_data(world: World, client_for, role: str) -> None:
    resident = world.places["V1"].resident

    response = client_for(world.users[role]).get(_url(resident))

    assert response.status_code == EXPECTED[role]
    exported = AuditEntry.objects.filter(object_pk=str(resident.pk), action=AuditEntry.Action.ACCESS)
    assert exported.exists() == (EXPECTED[role] == 200)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_who_may_anonymise(world: World, client_for, role: str) -> None:
    resident = world.places["V1"].resident
    name = resident.full_name

    response = client_for(world.users[role]).post(_url(resident, "anonymise"), {"reason": "asked in writing"})

    assert response.status_code == EXPECTED[role]
    resident.refresh_from_db()
    assert (resident.full_name != name) == (EXPECTED[role] == 200)


def test_an_officer_of_another_commune_gets_a_404(world: World, client_for) -> None:
    resident = world.places["V3"].resident  # the other commune of the province
    client = client_for(world.users["commune_officer"])

    assert client.get(_url(resident)).status_code == 404
    assert client.post(_url(resident, "anonymise"), {"reason": "x"}).status_code == 404


def test_the_json_has_every_section_and_the_identifiers_in_clear(world: World, client_for) -> None:
    resident = world.places["V1"].resident

    data = client_for(world.users["commune_officer"]).get(_url(resident)).json()

    for section in ("resident", "household", "consents", "adoptions", "assistance_logs", "training_attendance"):
        assert data[section], section
    assert data["resident"]["citizen_id"] == identifiers.decrypt(resident.citizen_id_ciphertext)
    assert data["resident"]["phone"] == identifiers.decrypt(resident.phone_ciphertext)
    assert any(entry["event"] == "" for entry in data["audit_trail"])  # the saves of their rows


def test_the_workbook_comes_as_an_attachment(world: World, client_for) -> None:
    resident = world.places["V1"].resident

    response = client_for(world.users["province_officer"]).get(_url(resident), {"format": "xlsx"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert response["Content-Disposition"].startswith("attachment;")
    workbook = load_workbook(io.BytesIO(response.content))
    assert len(workbook.sheetnames) == 11  # one per section of export_person_data (derived holdings the eleventh)
    values = {str(cell.value) for sheet in workbook for row in sheet.iter_rows() for cell in row}
    assert resident.full_name in values


@pytest.mark.parametrize("fmt", ["pdf", "", "XLSX", "json;drop"])
def test_an_unknown_format_is_a_400_naming_it(world: World, client_for, fmt: str) -> None:
    response = client_for(world.users["superuser"]).get(_url(world.places["V1"].resident), {"format": fmt})

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["format"]


@pytest.mark.parametrize("pk", ["999999999", "abc", "0"])
def test_an_unknown_resident_is_a_404(world: World, client_for, pk: str) -> None:
    client = client_for(world.users["superuser"])

    assert client.get(f"/api/v1/residents/{pk}/personal-data/").status_code == 404
    assert client.post(f"/api/v1/residents/{pk}/anonymise/", {"reason": "x"}).status_code == 404


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 501}])
def test_anonymising_needs_a_reason(world: World, client_for, body: dict) -> None:
    resident = world.places["V1"].resident

    response = client_for(world.users["superuser"]).post(_url(resident, "anonymise"), body, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["reason"]
    resident.refresh_from_db()
    assert resident.citizen_id_hash is not None


def test_anonymising_answers_the_resident_without_name_or_identifiers(world: World, client_for) -> None:
    resident = world.places["V1"].resident

    response = client_for(world.users["commune_officer"]).post(
        _url(resident, "anonymise"), {"reason": "erasure request"}, format="json"
    )

    body = response.json()
    assert body["full_name"].endswith(f"#{resident.pk}")
    assert not body["citizen_id"] and not body["phone"]
    events = [
        (e.additional_data or {}).get("event")
        for e in AuditEntry.objects.filter(object_pk=str(resident.pk), content_type__model="resident")
    ]
    assert "anonymised" in events and "identifiers_erased" in events
