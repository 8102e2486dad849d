"""Issue 13, items 14 and 15 on the routes of the API, sync and admin.

Names: one stored form (NFC, no zero-width or bidi-control characters, spaces collapsed) whatever
the route, and search (API ``?q=``, mobile web, admin) and duplicate detection the same whatever form
or case is typed. Consent dates: not before 2023-07-01, not before the birth, not in the future.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from fieldteam.choices import Sex
from fieldteam.models import ConsentRecord, Resident
from fieldteam.names import fold_name, normalise_name
from fieldteam.selectors.duplicates import SAME_NAME_YEAR_HOUSEHOLD, likely_duplicate_residents
from fieldteam.selectors.web import search_residents
from tests.api import conftest as api_fixtures
from tests.api.conftest import World
from tests.factories import ResidentFactory

pytestmark = pytest.mark.django_db
# The API tests' world (V1/V2/V3/VF and their roles) and clients.
world, client_for, capabilities = api_fixtures.world, api_fixtures.client_for, api_fixtures.capabilities

NFC = "Nguyễn Thị Bình"
NFD = "Nguye\u0302\u0303n Thi\u0323 Bi\u0300nh"
SMUGGLED = "\u202eNguye\u0302\u0303n\u200b   Thi\u0323\u2066 Bi\u0300nh\ufeff"


def test_the_two_functions():
    assert NFD != NFC and normalise_name(NFD) == NFC and normalise_name(SMUGGLED) == NFC
    assert fold_name(NFD) == fold_name("NGUYỄN thị BÌNH") == fold_name("nguyen thi binh") == "nguyen thi binh"
    assert fold_name("Đặng Đức") == "dang duc"


def _sync_resident(client, world: World, name: str, **data):
    item = {
        "kind": "resident",
        "client_id": str(uuid.uuid4()),
        "data": {"household": world.places["V1"].household.pk, "full_name": name, "sex": Sex.FEMALE, "birth_year": 1990, **data},
    }
    return client.post("/api/v1/sync/", {"items": [item]}, format="json").json()["results"][0]


def test_every_route_stores_the_normal_form(world: World, client_for, client):
    api = client_for(world.member)
    created = api.post(
        "/api/v1/residents/",
        {"household": world.places["V1"].household.pk, "full_name": SMUGGLED, "sex": Sex.FEMALE, "birth_year": 1991},
        format="json",
    ).json()
    assert created["full_name"] == NFC
    patched = api.patch(f"/api/v1/residents/{created['id']}/", {"full_name": NFD + "\u200f"}, format="json").json()
    assert patched["full_name"] == NFC
    assert _sync_resident(api, world, SMUGGLED)["status"] == "created"
    household = api.post(
        "/api/v1/households/", {"village": world.places["V1"].village.pk, "head_name": SMUGGLED}, format="json"
    ).json()
    assert household["head_name"] == NFC
    client.force_login(world.users["superuser"])
    response = client.post(
        reverse("admin:fieldteam_resident_add"),
        {"village": world.places["V2"].village.pk, "household": "", "full_name": SMUGGLED, "sex": Sex.FEMALE,
         "birth_date": "", "birth_year": 1992, "citizen_id": "", "phone": "", "ethnicity": ""},
    )  # fmt: skip
    assert response.status_code == 302
    names = set(Resident.objects.filter(full_name__contains="Bình").values_list("full_name", "search_name"))
    assert names == {(NFC, "nguyen thi binh")}
    assert Resident.objects.filter(full_name=NFC).count() == 3  # API (then patched), sync, admin


def test_search_finds_the_same_people_whatever_form_or_case_is_typed(world: World, client_for, client):
    ResidentFactory(household=world.places["V1"].household, full_name=NFD, birth_year=1990)
    api = client_for(world.users["province_officer"])
    for typed in (NFC, NFD, "NGUYỄN THỊ BÌNH", "nguyen thi binh", "thi\u200b binh"):
        found = api.get("/api/v1/residents/", {"q": typed}).json()["results"]
        assert [r["full_name"] for r in found] == [NFC], typed
        assert [r.full_name for r in search_residents(user=world.users["province_officer"], query=typed)] == [NFC]
    client.force_login(world.users["superuser"])
    response = client.get(reverse("admin:fieldteam_resident_changelist"), {"q": "NGUYEN thi BINH"})
    assert [r.full_name for r in response.context["cl"].result_list] == [NFC]


def test_an_nfd_copy_of_a_name_is_a_likely_duplicate(world: World):
    household = world.places["V1"].household
    ResidentFactory(household=household, full_name=NFC, birth_year=1990)
    ResidentFactory(household=household, full_name="nguyễn thị bình", birth_year=1990)
    Resident.objects.filter(full_name="nguyễn thị bình").update(full_name=NFD.lower())  # as stored before the fix
    groups = likely_duplicate_residents(actor=world.users["commune_officer"])
    assert [(g.reason, len(g.residents)) for g in groups] == [(SAME_NAME_YEAR_HOUSEHOLD, 2)]


# --- consent dates --------------------------------------------------------------------------------

BAD_DATES = [("1800-01-01T09:00:00+07:00", "too_early"), ("2099-01-01T09:00:00+07:00", "future"),
             ("1995-03-01T09:00:00+07:00", "too_early")]  # fmt: skip


@pytest.mark.parametrize(("given_at", "code"), BAD_DATES)
def test_api_and_sync_refuse_a_consent_dated_out_of_range(world: World, client_for, given_at, code):
    api = client_for(world.member)
    consent = {"channel": "paper", "given_at": given_at}
    body = api.post(
        "/api/v1/residents/",
        {"household": world.places["V1"].household.pk, "full_name": "A", "sex": Sex.FEMALE, "birth_year": 1990,
         "consent": consent},
        format="json",
    ).json()  # fmt: skip
    assert body["codes"] == {"consent.given_at": [code]}
    result = _sync_resident(api, world, "B", consent=consent)
    assert result["status"] == "rejected" and list(result["errors"]) == ["consent.given_at"]
    resident = world.places["V1"].resident
    response = api.post(f"/api/v1/residents/{resident.pk}/consents/", consent, format="json")
    assert response.status_code == 400 and response.json()["codes"] == {"consent.given_at": [code]}
    assert not Resident.objects.filter(full_name__in=["A", "B"]).exists()


def test_a_consent_before_the_birth_is_refused(world: World, client_for):
    api = client_for(world.member)
    body = api.post(
        "/api/v1/residents/",
        {"household": world.places["V1"].household.pk, "full_name": "A", "sex": Sex.FEMALE,
         "birth_date": "2025-06-01", "consent": {"channel": "paper", "given_at": "2025-01-10T09:00:00+07:00"}},
        format="json",
    ).json()  # fmt: skip
    assert body["codes"] == {"consent.given_at": ["before_birth"]}


def test_admin_refuses_a_consent_dated_out_of_range(world: World, client):
    client.force_login(world.users["superuser"])
    resident = world.places["V1"].resident
    before = ConsentRecord.objects.count()
    response = client.post(
        reverse("admin:fieldteam_consentrecord_add"),
        {"resident": resident.pk, "purposes": ["digital_assistance"], "channel": "paper", "notice_version": "2026-01",
         "given_at_0": "01/01/1800", "given_at_1": "09:00:00"},
    )  # fmt: skip
    assert response.status_code == 200 and ConsentRecord.objects.count() == before
    assert "given_at" in response.context["adminform"].form.errors
