"""Data-subject requests in the admin: export a resident's data as XLSX, anonymise after confirming."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from fieldteam.models import AuditEntry, Resident, User
from tests.conftest import AreaTree
from tests.factories import HouseholdFactory, ResidentFactory

CHANGELIST = "admin:fieldteam_resident_changelist"


@pytest.fixture
def residents(area_tree: AreaTree) -> list[Resident]:
    household = HouseholdFactory(village=area_tree.village)
    return [ResidentFactory(household=household, with_ids=True) for _ in range(2)]


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_officer_downloads_one_residents_data(residents: list[Resident], commune_officer: User):
    response = _client(commune_officer).post(
        reverse(CHANGELIST), {"action": "export_personal_data", "_selected_action": [residents[0].pk]}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    workbook = load_workbook(io.BytesIO(response.content))
    assert residents[0].full_name in {str(c.value) for s in workbook for row in s.iter_rows() for c in row}
    assert AuditEntry.objects.filter(object_pk=str(residents[0].pk), action=AuditEntry.Action.ACCESS).exists()


def test_the_export_takes_exactly_one_resident(residents: list[Resident], commune_officer: User):
    response = _client(commune_officer).post(
        reverse(CHANGELIST), {"action": "export_personal_data", "_selected_action": [r.pk for r in residents]}
    )

    assert response.status_code == 302
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.ACCESS).exists()


def test_anonymising_asks_for_confirmation_and_a_reason_first(residents: list[Resident], commune_officer: User):
    client = _client(commune_officer)
    selected = {"action": "anonymise_selected", "_selected_action": [r.pk for r in residents]}

    asked = client.post(reverse(CHANGELIST), selected)
    assert asked.status_code == 200
    assert 'name="reason"' in asked.content.decode()
    assert Resident.objects.filter(pk=residents[0].pk, full_name=residents[0].full_name).exists()

    done = client.post(reverse(CHANGELIST), {**selected, "confirm": "yes", "reason": "asked at the office"})

    assert done.status_code == 302
    for resident in residents:
        resident.refresh_from_db()
        assert resident.full_name.endswith(f"#{resident.pk}")
        assert resident.citizen_id_hash is None
