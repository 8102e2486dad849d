"""Issue 13 on the resident import: the existence rule by the importing user's scope (item 1),
names stored normalised (item 14), consent dates held to the same rule as every route (item 15).
Run in bulk (``import_file``) and row by row is covered by the services' own tests."""

from __future__ import annotations

import datetime as dt

import pytest

from fieldteam.choices import AreaRoleKind, Sex
from fieldteam.imports.engine import import_file
from fieldteam.models import Resident
from tests.factories import AreaRoleFactory, HouseholdFactory, ResidentFactory, make_citizen_id
from tests.imports.conftest import RESIDENT_HEADERS, resident_row, write_xlsx

pytestmark = pytest.mark.django_db


def _import(tmp_path, actor, rows, name="f.xlsx"):
    return import_file(kind="residents", path=write_xlsx(tmp_path / name, RESIDENT_HEADERS, rows), actor=actor).report


def test_a_number_held_outside_the_importers_areas_is_imported_like_an_unknown_one(area_tree, catalogue, tmp_path):
    officer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    held = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, serial=1)
    ResidentFactory(
        household=HouseholdFactory(village=area_tree.far_village), birth_year=1985, sex=Sex.FEMALE, citizen_id=held
    )
    rows = [
        resident_row(area_tree.village.code, household="H1", name="Nguyễn Thị Bình", serial=1),  # held elsewhere
        resident_row(area_tree.village.code, household="H2", name="Lê Thị Hoa", serial=2),  # held by no one
    ]

    report = _import(tmp_path, officer, rows)

    assert report.ok and report.written, report.errors
    assert report.errors == []
    imported = {r.full_name: r.citizen_id_disputed for r in Resident.objects.filter(village=area_tree.village)}
    assert imported == {"Nguyễn Thị Bình": True, "Lê Thị Hoa": False}
    # Imported by the system (``actor=None``, which sees everything), the same number is refused.
    again = _import(tmp_path, None, [resident_row(area_tree.village.code, household="H3", name="Trần Thị Mai", serial=1)], "g.xlsx")
    assert [e.code for e in again.errors] == ["duplicate_citizen_id"]


def test_names_are_stored_composed_without_invisible_characters(area_tree, catalogue, tmp_path):
    decomposed = "Nguye\u0302\u0303n\u200b  Thi\u0323\u202e Bi\u0300nh"
    report = _import(tmp_path, None, [resident_row(area_tree.village.code, name=decomposed, head="Le\u0302 \u200dVa\u0306n")])
    assert report.ok and report.written, report.errors
    resident = Resident.objects.get()
    assert resident.full_name == "Nguyễn Thị Bình" and resident.search_name == "nguyen thi binh"
    assert resident.household.head_name == "Lê Văn"


@pytest.mark.parametrize(
    ("signed", "code"),
    [(dt.date(2000, 1, 1), "too_early"), (dt.date(2023, 6, 30), "too_early"), (dt.date(2099, 1, 1), "future")],
)
def test_a_consent_date_too_early_or_in_the_future_refuses_the_row(area_tree, catalogue, tmp_path, signed, code):
    report = _import(tmp_path, None, [resident_row(area_tree.village.code, consent_on=signed)])
    assert [(e.column, e.code) for e in report.errors] == [("Ngày ký đồng ý", code)]
    assert not Resident.objects.exists()


def test_a_consent_date_before_the_birth_refuses_the_row(area_tree, catalogue, tmp_path):
    row = resident_row(area_tree.village.code, birth_date=dt.date(2024, 5, 1), consent_on=dt.date(2024, 1, 2))
    report = _import(tmp_path, None, [row])
    assert [(e.column, e.code) for e in report.errors] == [("Ngày ký đồng ý", "before_birth")]
