"""Importing households and residents from real XLSX and CSV files made here.

Given a file, when it is imported, then rows land through the services' rules: identifiers
encrypted, hashed and masked; adoptions with their dates; the roll-up counts exactly what logging
the same data by hand gives (and the full recompute finds no drift).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from bench.rowbyrow import RowByRowResidentResource
from fieldteam import identifiers
from fieldteam.choices import AdoptionSource, AreaRoleKind, ConsentChannel, PopulationKind, ResidentStatus, Sex
from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.models import Adoption, ConsentRecord, Household, Resident, VillageCount
from fieldteam.periods import today
from fieldteam.rollup import recompute
from fieldteam.services import people
from fieldteam.services.adoption import set_adoption
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, DEFAULT_PURPOSES, ConsentInput, withdraw_consent
from tests.factories import (
    AreaRoleFactory,
    CapabilityDerivationFactory,
    HouseholdFactory,
    IndicatorFactory,
    ResidentFactory,
    make_citizen_id,
)
from tests.imports.conftest import CONSENT_ON, RESIDENT_HEADERS, counts_of, resident_row, write_csv, write_xlsx

pytestmark = pytest.mark.django_db


def good_rows(village_code: str) -> list[list]:
    """Two households, four residents, capabilities of both kinds, a year-only birth."""
    return [
        resident_row(village_code, household="HGD-1", head="Nguyễn Văn An", name="Nguyễn Văn An", sex="Nam",
                     birth_date=dt.date(1970, 5, 1), serial=1, phone="0912 345 678",
                     smartphone="có", smartphone_on=dt.date(2024, 3, 1), payment="x", fibre="có", fibre_on=dt.date(2023, 1, 1)),
        resident_row(village_code, household="HGD-1", head="Nguyễn Văn An", name="Trần Thị Bình", sex="Nữ",
                     birth_date=dt.date(1975, 8, 9), serial=2, skills="có", skills_on="15/06/2024"),
        resident_row(village_code, household="HGD-1", head="Nguyễn Văn An", name="Nguyễn Văn Cường", sex="Nam",
                     birth_date=dt.date(2015, 1, 2), with_cccd=False),
        resident_row(village_code, household="HGD-2", head="Lê Thị Dung", name="Lê Thị Dung", sex="Nữ",
                     birth_date=None, birth_year=1948, serial=3, smartphone="có", smartphone_on=dt.date(2025, 1, 1)),
    ]  # fmt: skip


def by_hand(village, catalogue) -> None:
    """The same people and capabilities as ``good_rows``, registered through the services one by one."""
    household = people.register_household(actor=None, village=village, code="HGD-1", head_name="Nguyễn Văn An")
    an = people.register_resident(
        actor=None, household=household, full_name="Nguyễn Văn An", sex=Sex.MALE, birth_date=dt.date(1970, 5, 1)
    )
    set_adoption(
        actor=None,
        capability=catalogue.smartphone,
        since=dt.date(2024, 3, 1),
        source=AdoptionSource.SURVEY,
        resident=an,
    )
    set_adoption(actor=None, capability=catalogue.payment, since=today(), source=AdoptionSource.SURVEY, resident=an)
    set_adoption(
        actor=None,
        capability=catalogue.fibre,
        since=dt.date(2023, 1, 1),
        source=AdoptionSource.SURVEY,
        household=household,
    )
    binh = people.register_resident(
        actor=None, household=household, full_name="Trần Thị Bình", sex=Sex.FEMALE, birth_date=dt.date(1975, 8, 9)
    )
    set_adoption(
        actor=None, capability=catalogue.skills, since=dt.date(2024, 6, 15), source=AdoptionSource.SURVEY, resident=binh
    )
    people.register_resident(
        actor=None, household=household, full_name="Nguyễn Văn Cường", sex=Sex.MALE, birth_date=dt.date(2015, 1, 2)
    )
    other = people.register_household(actor=None, village=village, code="HGD-2", head_name="Lê Thị Dung")
    dung = people.register_resident(
        actor=None, household=other, full_name="Lê Thị Dung", sex=Sex.FEMALE, birth_year=1948
    )
    set_adoption(
        actor=None,
        capability=catalogue.smartphone,
        since=dt.date(2025, 1, 1),
        source=AdoptionSource.SURVEY,
        resident=dung,
    )


def village_counts(village) -> dict[int, tuple[int, int]]:
    return {
        i: (n, d)
        for i, n, d in VillageCount.objects.filter(village=village).values_list(
            "indicator_id", "numerator", "denominator"
        )
        if n or d
    }


def assert_no_drift(province) -> None:
    assert recompute.recompute_province(province_id=province.pk).drift == []


@pytest.mark.parametrize("fmt", ["xlsx", "csv", "csv;"])
def test_a_good_file_imports_like_logging_the_same_data_by_hand(area_tree, catalogue, tmp_path, fmt):
    rows = good_rows(area_tree.village.code)
    if fmt == "xlsx":
        path = write_xlsx(tmp_path / "danh-sach.xlsx", RESIDENT_HEADERS, rows)
    else:
        path = write_csv(
            tmp_path / "danh-sach.csv", RESIDENT_HEADERS, rows, delimiter=fmt[-1] if fmt == "csv;" else ","
        )

    result = import_file(kind="residents", path=path, actor=None)

    report = result.report
    assert report.ok and report.written, report.errors
    assert report.counts["households_new"] == 2
    assert report.counts["residents_new"] == 4
    assert report.counts["adoptions_new"] == 5
    assert result.rejected_file is None
    by_hand(area_tree.village2, catalogue)
    assert village_counts(area_tree.village) == village_counts(area_tree.village2)
    assert village_counts(area_tree.village)  # something was counted
    assert_no_drift(area_tree.province)


def test_identifiers_are_encrypted_hashed_and_masked_and_adoptions_recorded(area_tree, catalogue, tmp_path, superuser):
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    import_file(kind="residents", path=path, actor=superuser)

    an = Resident.objects.get(full_name="Nguyễn Văn An")
    citizen_id = make_citizen_id(birth_year=1970, sex=Sex.MALE, serial=1)
    assert identifiers.decrypt(an.citizen_id_ciphertext) == citizen_id
    assert an.citizen_id_hash == identifiers.citizen_id_hash(citizen_id)
    assert an.citizen_id_masked == "*********" + citizen_id[-3:]
    assert identifiers.decrypt(an.phone_ciphertext) == "0912345678"
    assert an.phone_masked.endswith("678")
    assert an.capability_mask == catalogue.smartphone.mask | catalogue.payment.mask
    smartphone = Adoption.objects.get(resident=an, capability=catalogue.smartphone)
    assert (smartphone.since, smartphone.source, smartphone.recorded_by) == (
        dt.date(2024, 3, 1),
        AdoptionSource.IMPORT,
        superuser,
    )
    assert Adoption.objects.get(resident=an, capability=catalogue.payment).since == today()  # "x" without a date
    household = Household.objects.get(code="HGD-1")
    assert household.capability_mask == catalogue.fibre.mask
    assert household.residents.count() == 3
    assert Resident.objects.get(full_name="Lê Thị Dung").birth_month_index == 1948 * 12 + 6  # year only: July


def test_importing_the_same_file_again_creates_nothing(area_tree, catalogue, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    import_file(kind="residents", path=path, actor=None)
    before = counts_of(area_tree.province)

    again = import_file(kind="residents", path=path, actor=None).report

    assert again.ok and again.written
    assert again.counts == {
        "households_new": 0,
        "households_existing": 2,
        "residents_new": 0,
        "residents_existing": 4,
        "adoptions_new": 0,
        "identifiers_added": 0,
    }
    assert (Household.objects.count(), Resident.objects.count(), Adoption.objects.count()) == (2, 4, 5)
    assert counts_of(area_tree.province) == before
    assert_no_drift(area_tree.province)


def test_a_second_file_adds_capabilities_and_an_earlier_date_moves_the_start_back(area_tree, catalogue, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    import_file(kind="residents", path=path, actor=None)
    rows = good_rows(area_tree.village.code)
    rows[0][RESIDENT_HEADERS.index("Có điện thoại thông minh – ngày [smartphone]")] = dt.date(2020, 1, 1)
    rows[1][RESIDENT_HEADERS.index("Có tài khoản thanh toán [payment_account]")] = "có"
    second = write_xlsx(tmp_path / "g.xlsx", RESIDENT_HEADERS, rows)

    report = import_file(kind="residents", path=second, actor=None).report

    assert report.counts["adoptions_new"] == 1
    assert Adoption.objects.get(resident__full_name="Nguyễn Văn An", capability=catalogue.smartphone).since == dt.date(
        2020, 1, 1
    )
    assert Resident.objects.get(full_name="Trần Thị Bình").capability_mask & catalogue.payment.mask
    assert_no_drift(area_tree.province)


def test_a_resident_registered_without_citizen_id_gets_it_from_the_file(area_tree, catalogue, tmp_path):
    household = HouseholdFactory(village=area_tree.village, code="HGD-1")
    ResidentFactory(household=household, full_name="Nguyễn Văn An", sex=Sex.MALE, birth_date=dt.date(1970, 5, 1))
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code)[:1])

    report = import_file(kind="residents", path=path, actor=None).report

    assert report.counts["residents_existing"] == 1 and report.counts["identifiers_added"] == 1
    resident = Resident.objects.get()
    assert resident.citizen_id_hash == identifiers.citizen_id_hash(
        make_citizen_id(birth_year=1970, sex=Sex.MALE, serial=1)
    )
    assert_no_drift(area_tree.province)


def test_excel_numbers_keep_their_leading_zeros(area_tree, catalogue, tmp_path):
    citizen_id = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, serial=77)  # starts with 001
    row = resident_row(area_tree.village.code, cccd=int(citizen_id), phone=912345678)
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, [row])

    assert import_file(kind="residents", path=path, actor=None).report.ok
    resident = Resident.objects.get()
    assert identifiers.decrypt(resident.citizen_id_ciphertext) == citizen_id
    assert identifiers.decrypt(resident.phone_ciphertext) == "0912345678"


def test_headers_without_accents_are_recognised(area_tree, catalogue, tmp_path):
    headers = [
        "Ma thon",
        "ma ho",
        "Chu ho",
        "Dia chi",
        "HO VA TEN",
        "gioi tinh",
        "Ngay sinh",
        "Nam sinh",
        "so cccd",
        "So dien thoai",
        "ngay ky dong y",
        "smartphone",
    ]
    row = [*resident_row(area_tree.village.code, smartphone="co")[: len(headers) - 1], "co"]
    path = write_xlsx(tmp_path / "f.xlsx", headers, [row])

    report = import_file(kind="residents", path=path, actor=None).report

    assert report.ok, report.errors
    assert Resident.objects.get().capability_mask == catalogue.smartphone.mask


# --- bad rows: each names its row and its column, and nothing is saved ----------------------------------

def _future() -> dt.date:
    """A month from now (a cell holding it is read when its row is written)."""
    return today() + dt.timedelta(days=30)


@pytest.mark.parametrize(
    ("values", "column", "fragment"),
    [
        ({"cccd": "12345"}, "Số CCCD", "12 digits"),
        ({"cccd": "999185000001"}, "Số CCCD", "province code"),
        ({"cccd": make_citizen_id(birth_year=1986, sex=Sex.FEMALE)}, "Số CCCD", "birth year"),
        ({"cccd": make_citizen_id(birth_year=1985, sex=Sex.MALE)}, "Số CCCD", "sex"),
        ({"phone": "0123"}, "Số điện thoại", "10 digits"),
        ({"birth_date": "31/02/1985", "with_cccd": False}, "Ngày sinh", "dd/mm/yyyy"),
        ({"birth_date": _future, "with_cccd": False}, "Ngày sinh", "future"),
        ({"birth_date": None, "birth_year": None, "with_cccd": False}, "Ngày sinh", "birth year"),
        ({"name": ""}, "Họ và tên", "Fill in"),
        ({"sex": "khác"}, "Giới tính", "Nam"),
        ({"smartphone": "có", "smartphone_on": _future}, "Có điện thoại thông minh – ngày [smartphone]", "future"),
        (
            {"smartphone": "không", "smartphone_on": dt.date(2024, 1, 1)},
            "Có điện thoại thông minh – ngày [smartphone]",
            "không",
        ),
        ({"payment": "maybe"}, "Có tài khoản thanh toán [payment_account]", "có"),
        ({"fibre": "có", "fibre_on": _future}, "Hộ có cáp quang – ngày [fibre_broadband]", "future"),
        ({"consent_on": None}, "Ngày ký đồng ý", "signed the consent form"),
        ({"with_cccd": False, "phone": "0987654321", "consent_on": None}, "Ngày ký đồng ý", "signed the consent form"),
        ({"consent_on": _future}, "Ngày ký đồng ý", "future"),
        ({"consent_on": "31/02/2026"}, "Ngày ký đồng ý", "dd/mm/yyyy"),
    ],
)
def test_a_bad_cell_is_reported_with_its_row_and_column_and_nothing_is_saved(
    area_tree, catalogue, tmp_path, values, column, fragment
):
    rows = good_rows(area_tree.village.code)
    values = {name: value() if callable(value) else value for name, value in values.items()}
    rows.insert(2, resident_row(area_tree.village.code, household="HGD-9", serial=50, **values))
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows)

    result = import_file(kind="residents", path=path, actor=None)

    report = result.report
    assert not report.written
    errors = [e for e in report.errors if e.row == 4]
    assert errors, report.errors
    assert any(e.column == column and fragment in e.message for e in errors), [e.text() for e in errors]
    assert any(f"Row 4, column “{column}”" in e.text() for e in errors)
    assert report.rejected_rows == 1
    assert not Resident.objects.exists() and not Household.objects.exists()
    assert not VillageCount.objects.filter(numerator__gt=0).exists()
    assert not VillageCount.objects.filter(denominator__gt=0).exists()


def test_an_unknown_village_code_is_a_row_error(area_tree, catalogue, tmp_path):
    rows = [resident_row("KHONG-CO", serial=9), *good_rows(area_tree.village.code)]
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=None
    ).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Mã thôn", "unknown_village")]
    assert "KHONG-CO" in report.errors[0].message
    assert not Resident.objects.exists()


def test_a_citizen_id_twice_in_the_file_is_an_error_on_both_rows(area_tree, catalogue, tmp_path):
    citizen_id = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, serial=5)
    rows = [
        resident_row(area_tree.village.code, household="A", name="Hoa", cccd=citizen_id),
        resident_row(area_tree.village.code, household="B", name="Huệ", cccd=citizen_id),
    ]
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=None
    ).report
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (2, "Số CCCD", "duplicate_in_file"),
        (3, "Số CCCD", "duplicate_in_file"),
    }
    assert "row 3" in report.errors[0].message


def test_a_citizen_id_already_registered_to_someone_else_is_an_error(area_tree, catalogue, tmp_path):
    citizen_id = make_citizen_id(birth_year=1985, sex=Sex.FEMALE, serial=5)
    ResidentFactory(
        household=HouseholdFactory(village=area_tree.village2),
        full_name="Người Khác",
        birth_year=1985,
        citizen_id=citizen_id,
    )
    rows = [resident_row(area_tree.village.code, name="Hoa", cccd=citizen_id)]
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=None
    ).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Số CCCD", "duplicate_citizen_id")]
    assert Resident.objects.count() == 1


def test_a_missing_required_column_refuses_the_file(area_tree, catalogue, tmp_path):
    headers = [h for h in RESIDENT_HEADERS if h != "Giới tính"]
    rows = [
        [v for h, v in zip(RESIDENT_HEADERS, r, strict=True) if h != "Giới tính"]
        for r in good_rows(area_tree.village.code)
    ]
    report = import_file(kind="residents", path=write_xlsx(tmp_path / "f.xlsx", headers, rows), actor=None).report
    assert report.refused and "Giới tính" in report.refused
    assert not Resident.objects.exists()


def test_an_unreadable_file_is_refused(area_tree, catalogue, tmp_path):
    path = tmp_path / "f.xlsx"
    path.write_bytes(b"not a spreadsheet")
    assert import_file(kind="residents", path=path, actor=None).report.refused


# --- all-or-nothing, skip invalid, dry run ---------------------------------------------------------------


def bad_and_good(tmp_path: Path, village_code: str) -> Path:
    rows = good_rows(village_code)
    rows.insert(
        1, resident_row(village_code, household="HGD-8", name="Sai Ngày", birth_date="32/13/1990", with_cccd=False)
    )
    rows.append(resident_row(village_code, household="HGD-9", name="Sai Số", serial=60, phone="12"))
    return write_xlsx(tmp_path / "mixed.xlsx", RESIDENT_HEADERS, rows)


def test_by_default_one_bad_row_stops_the_whole_import(area_tree, catalogue, tmp_path):
    result = import_file(kind="residents", path=bad_and_good(tmp_path, area_tree.village.code), actor=None)
    report = result.report
    assert not report.written and report.rejected_rows == 2 and report.valid_rows == 4
    assert "nothing was imported" in report.outcome()
    assert not Resident.objects.exists() and not Adoption.objects.exists()
    assert counts_of(area_tree.province) == {}
    assert result.rejected_file is not None


def test_skip_invalid_imports_the_rest_and_returns_the_rejected_rows_with_reasons(area_tree, catalogue, tmp_path):
    path = bad_and_good(tmp_path, area_tree.village.code)
    result = import_file(kind="residents", path=path, actor=None, options=ImportOptions(skip_invalid=True))

    report = result.report
    assert report.written and report.valid_rows == 4 and report.rejected_rows == 2
    assert Resident.objects.count() == 4
    assert_no_drift(area_tree.province)
    rejected = tmp_path / "rejected.xlsx"
    rejected.write_bytes(result.rejected_file)
    sheet = load_workbook(rejected).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "Dòng" and rows[0][-1] == "Lỗi" and list(rows[0][1:-1]) == RESIDENT_HEADERS
    assert [r[0] for r in rows[1:]] == [3, 7]
    assert rows[1][RESIDENT_HEADERS.index("Họ và tên") + 1] == "Sai Ngày"
    assert "Ngày sinh" in rows[1][-1] and "Số điện thoại" in rows[2][-1]


def test_skip_invalid_on_a_csv_returns_a_csv(area_tree, catalogue, tmp_path):
    rows = [
        *good_rows(area_tree.village.code),
        resident_row(area_tree.village.code, household="X", name="Bad", sex="?", serial=70),
    ]
    path = write_csv(tmp_path / "f.csv", RESIDENT_HEADERS, rows)
    result = import_file(kind="residents", path=path, actor=None, options=ImportOptions(skip_invalid=True))
    text = result.rejected_file.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("Dòng,Mã thôn")
    assert "Giới tính" in text.splitlines()[1] and text.splitlines()[1].startswith("6,")


def test_a_dry_run_previews_and_saves_nothing(area_tree, catalogue, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    report = import_file(kind="residents", path=path, actor=None, options=ImportOptions(dry_run=True)).report
    assert report.ok and not report.written
    assert report.counts == {
        "households_new": 2,
        "households_existing": 0,
        "residents_new": 4,
        "residents_existing": 0,
        "adoptions_new": 5,
    }
    assert [p["full_name"] for p in report.preview] == [
        "Nguyễn Văn An",
        "Trần Thị Bình",
        "Nguyễn Văn Cường",
        "Lê Thị Dung",
    ]
    assert report.preview[0]["citizen_id"].startswith("*********")
    assert not Resident.objects.exists() and counts_of(area_tree.province) == {}


def test_the_village_option_fills_a_missing_village_column(area_tree, catalogue, tmp_path):
    headers = RESIDENT_HEADERS[1:]
    rows = [r[1:] for r in good_rows(area_tree.village.code)]
    options = ImportOptions(village=area_tree.village)
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", headers, rows), actor=None, options=options
    ).report
    assert report.ok and Resident.objects.filter(village=area_tree.village).count() == 4


def test_the_commune_option_refuses_villages_of_another_commune(area_tree, catalogue, tmp_path):
    rows = [*good_rows(area_tree.village.code), resident_row(area_tree.other_village.code, household="Z", serial=80)]
    options = ImportOptions(commune=area_tree.commune)
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=None, options=options
    ).report
    assert [(e.row, e.code) for e in report.errors] == [(6, "other_commune")]


# --- scope -----------------------------------------------------------------------------------------------


def test_an_officer_imports_only_into_their_own_commune(area_tree, catalogue, tmp_path, commune_officer):
    rows = [
        *good_rows(area_tree.village.code),
        resident_row(area_tree.other_village.code, household="Z", serial=80),
        resident_row(area_tree.far_village.code, household="Y", serial=81),
    ]
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows)

    report = import_file(kind="residents", path=path, actor=commune_officer).report

    assert [(e.row, e.column, e.code) for e in report.errors] == [
        (6, "Mã thôn", "out_of_scope"),
        (7, "Mã thôn", "out_of_scope"),
    ]
    assert not Resident.objects.exists()
    report = import_file(
        kind="residents", path=path, actor=commune_officer, options=ImportOptions(skip_invalid=True)
    ).report
    assert report.written and set(Resident.objects.values_list("village_id", flat=True)) == {area_tree.village.pk}


def test_a_viewer_may_not_import(area_tree, catalogue, tmp_path):
    viewer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.VIEWER).user
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    report = import_file(kind="residents", path=path, actor=viewer).report
    assert report.refused and not Resident.objects.exists()


def test_an_inactive_household_cannot_take_new_residents(area_tree, catalogue, tmp_path):
    household = HouseholdFactory(village=area_tree.village, code="HGD-1")
    Household.objects.filter(pk=household.pk).update(is_active=False)
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code)[:1])
    report = import_file(kind="residents", path=path, actor=None).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Mã hộ", "inactive_household")]


def test_a_departed_resident_matched_by_the_file_is_not_counted_again(area_tree, catalogue, tmp_path):
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    import_file(kind="residents", path=path, actor=None)
    dung = Resident.objects.get(full_name="Lê Thị Dung")
    people.record_departure(actor=None, resident=dung, status=ResidentStatus.DECEASED, on=today())
    rows = good_rows(area_tree.village.code)
    rows[3][RESIDENT_HEADERS.index("Có tài khoản thanh toán [payment_account]")] = "có"
    import_file(kind="residents", path=write_xlsx(tmp_path / "g.xlsx", RESIDENT_HEADERS, rows), actor=None)
    assert Resident.objects.count() == 4
    assert_no_drift(area_tree.province)


# --- django-import-export's own row-by-row import gives the same result ---------------------------------


def test_the_row_by_row_resource_import_gives_the_same_counts(area_tree, catalogue, tmp_path):
    from import_export.formats.base_formats import XLSX

    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    dataset = XLSX().create_dataset(path.read_bytes())

    result = RowByRowResidentResource().import_data(dataset, use_transactions=True, rollback_on_validation_errors=True)

    assert not result.has_errors() and not result.has_validation_errors()
    by_hand(area_tree.village2, catalogue)
    assert village_counts(area_tree.village) == village_counts(area_tree.village2)
    assert_no_drift(area_tree.province)
    again = RowByRowResidentResource().import_data(XLSX().create_dataset(path.read_bytes()), use_transactions=True)
    assert not again.has_validation_errors() and Resident.objects.filter(village=area_tree.village).count() == 4


def test_the_row_by_row_resource_import_reports_bad_rows_by_column(area_tree, catalogue, tmp_path):
    from import_export.formats.base_formats import XLSX

    rows = [
        *good_rows(area_tree.village.code),
        resident_row(area_tree.village.code, household="Z", phone="12", serial=90),
    ]
    dataset = XLSX().create_dataset(write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows).read_bytes())

    result = RowByRowResidentResource().import_data(dataset, use_transactions=True, rollback_on_validation_errors=True)

    assert [(r.number, list(r.error_dict)) for r in result.invalid_rows] == [(5, ["Số điện thoại"])]
    assert not Resident.objects.exists()


def test_without_calamine_openpyxl_reads_the_same_file(area_tree, catalogue, tmp_path, monkeypatch):
    from fieldteam.spreadsheets import reading

    monkeypatch.setattr(reading, "_xlsx_rows_calamine", lambda path, limits: None)
    path = write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, good_rows(area_tree.village.code))
    report = import_file(kind="residents", path=path, actor=None).report
    assert report.ok and report.counts["residents_new"] == 4 and report.counts["adoptions_new"] == 5


def test_a_household_capability_may_predate_a_child_on_whose_row_it_is_given(area_tree, catalogue, tmp_path):
    row = resident_row(
        area_tree.village.code,
        birth_date=dt.date(2015, 1, 1),
        with_cccd=False,
        fibre="có",
        fibre_on=dt.date(2010, 1, 1),
    )
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, [row]), actor=None
    ).report
    assert report.ok
    assert Household.objects.get().capability_mask == catalogue.fibre.mask
    row = resident_row(
        area_tree.village.code,
        household="B",
        birth_date=dt.date(2015, 1, 1),
        with_cccd=False,
        smartphone="có",
        smartphone_on=dt.date(2010, 1, 1),
    )
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "g.xlsx", RESIDENT_HEADERS, [row]), actor=None
    ).report
    assert [e.code for e in report.errors] == ["before_birth"]


# --- consent: identifiers only with the date the resident signed the form ---------------------------------


def signed_at(day: dt.date) -> dt.datetime:
    """The start of ``day``, local time: how a consent signed that day is recorded."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def consents() -> dict[str, tuple]:
    """Every consent record by resident name: channel, purposes, notice, given at, recorded by."""
    return {
        c.resident.full_name: (c.channel, c.purposes, c.notice_version, c.given_at, c.recorded_by_id)
        for c in ConsentRecord.objects.select_related("resident")
    }


def test_a_consent_record_holds_the_date_the_form_was_signed_and_the_importer(
    area_tree, catalogue, tmp_path, superuser
):
    rows = good_rows(area_tree.village.code)
    rows[1][RESIDENT_HEADERS.index("Ngày ký đồng ý")] = "03/02/2026"
    rows[2][RESIDENT_HEADERS.index("Ngày ký đồng ý")] = dt.date(2026, 2, 4)  # no identifiers: recorded anyway

    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=superuser
    ).report

    assert report.ok and report.written, report.errors
    paper = (ConsentChannel.PAPER, list(DEFAULT_PURPOSES), CURRENT_NOTICE_VERSION)
    assert consents() == {
        "Nguyễn Văn An": (*paper, signed_at(CONSENT_ON), superuser.pk),
        "Trần Thị Bình": (*paper, signed_at(dt.date(2026, 2, 3)), superuser.pk),
        "Nguyễn Văn Cường": (*paper, signed_at(dt.date(2026, 2, 4)), superuser.pk),
        "Lê Thị Dung": (*paper, signed_at(CONSENT_ON), superuser.pk),
    }
    given_at = ConsentRecord.objects.get(resident__full_name="Trần Thị Bình").given_at
    assert timezone.localtime(given_at).timetuple()[:6] == (2026, 2, 3, 0, 0, 0)
    # The same file again: everyone has an open consent, none gets a second.
    import_file(kind="residents", path=write_xlsx(tmp_path / "g.xlsx", RESIDENT_HEADERS, rows), actor=superuser)
    assert ConsentRecord.objects.count() == 4


def test_identifiers_without_a_consent_date_refuse_the_row_and_nothing_is_saved(area_tree, catalogue, tmp_path):
    rows = good_rows(area_tree.village.code)
    rows[0][RESIDENT_HEADERS.index("Ngày ký đồng ý")] = None

    result = import_file(kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows), actor=None)

    report = result.report
    assert not report.written
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Ngày ký đồng ý", "consent_required")]
    assert report.errors[0].text().startswith("Row 2, column “Ngày ký đồng ý”")
    assert "date the resident signed the consent form" in report.errors[0].message
    assert not Resident.objects.exists() and not ConsentRecord.objects.exists()


def test_skip_invalid_rejects_the_row_without_a_consent_date_with_its_reason(area_tree, catalogue, tmp_path):
    rows = good_rows(area_tree.village.code)
    rows[3][RESIDENT_HEADERS.index("Ngày ký đồng ý")] = ""

    result = import_file(
        kind="residents",
        path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows),
        actor=None,
        options=ImportOptions(skip_invalid=True),
    )

    report = result.report
    assert report.written and report.valid_rows == 3 and report.rejected_rows == 1
    assert not Resident.objects.filter(full_name="Lê Thị Dung").exists()
    assert set(consents()) == {"Nguyễn Văn An", "Trần Thị Bình"}
    rejected = tmp_path / "rejected.xlsx"
    rejected.write_bytes(result.rejected_file)
    sheet_rows = list(load_workbook(rejected).active.iter_rows(values_only=True))
    assert [r[0] for r in sheet_rows[1:]] == [5]
    assert "Ngày ký đồng ý" in sheet_rows[1][-1] and "consent form" in sheet_rows[1][-1]


def test_a_registered_resident_with_an_open_consent_needs_no_date(area_tree, catalogue, tmp_path, superuser):
    household = HouseholdFactory(village=area_tree.village, code="HGD-1")
    an = ResidentFactory(
        household=household,
        full_name="Nguyễn Văn An",
        sex=Sex.MALE,
        birth_date=dt.date(1970, 5, 1),
        consent=ConsentInput(channel=ConsentChannel.IN_PERSON),
    )
    row = good_rows(area_tree.village.code)[0]
    row[RESIDENT_HEADERS.index("Ngày ký đồng ý")] = None

    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, [row]), actor=superuser
    ).report

    assert report.ok and report.counts["identifiers_added"] == 1, report.errors
    an.refresh_from_db()
    assert an.citizen_id_hash and an.phone_hash
    assert list(an.consents.values_list("channel", flat=True)) == [ConsentChannel.IN_PERSON]


def test_a_registered_resident_whose_consent_was_withdrawn_needs_a_new_date(area_tree, catalogue, tmp_path):
    household = HouseholdFactory(village=area_tree.village, code="HGD-1")
    an = ResidentFactory(
        household=household,
        full_name="Nguyễn Văn An",
        sex=Sex.MALE,
        birth_date=dt.date(1970, 5, 1),
        consent=ConsentInput(channel=ConsentChannel.IN_PERSON),
    )
    withdraw_consent(actor=None, resident=an)
    row = good_rows(area_tree.village.code)[0]
    row[RESIDENT_HEADERS.index("Ngày ký đồng ý")] = None

    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, [row]), actor=None
    ).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Ngày ký đồng ý", "consent_required")]

    row[RESIDENT_HEADERS.index("Ngày ký đồng ý")] = dt.date(2026, 3, 1)
    report = import_file(
        kind="residents", path=write_xlsx(tmp_path / "g.xlsx", RESIDENT_HEADERS, [row]), actor=None
    ).report
    assert report.ok and report.counts["identifiers_added"] == 1, report.errors
    opened = an.consents.get(withdrawn_at__isnull=True)
    assert (opened.channel, opened.given_at) == (ConsentChannel.PAPER, signed_at(dt.date(2026, 3, 1)))


def consent_case_rows(village_code: str, serial: int) -> list[list]:
    """New residents with and without identifiers and dates; two registered ones (see ``register_known``)."""
    return [
        resident_row(village_code, household="K-1", name="Hai", serial=serial, consent_on=dt.date(2026, 2, 1)),
        resident_row(village_code, household="K-1", name="Ba", with_cccd=False, phone=f"09123456{serial:02d}"),
        resident_row(village_code, household="K-1", name="Tư", with_cccd=False, consent_on=dt.date(2026, 2, 2)),
        resident_row(village_code, household="K-1", name="Năm", birth_date=dt.date(2020, 1, 1), with_cccd=False),
        # registered without identifiers nor consent: gets both
        resident_row(village_code, household="K-1", name="Sáu", serial=serial + 1, consent_on=dt.date(2026, 2, 3)),
        # registered with a consent: gets a phone under it, the file's date adds no second consent
        resident_row(village_code, household="K-1", name="Bảy", with_cccd=False, phone=f"09876543{serial:02d}"),
        # registered without a consent, nothing new but the date: the consent is recorded
        resident_row(village_code, household="K-1", name="Tám", with_cccd=False, consent_on=dt.date(2026, 2, 5)),
    ]


def register_known(village) -> None:
    household = HouseholdFactory(village=village, code="K-1")
    born = dt.date(1985, 4, 12)
    ResidentFactory(household=household, full_name="Sáu", birth_date=born)
    ResidentFactory(
        household=household,
        full_name="Bảy",
        birth_date=born,
        consent=ConsentInput(channel=ConsentChannel.IN_PERSON, given_at=signed_at(dt.date(2026, 1, 2))),
    )
    ResidentFactory(household=household, full_name="Tám", birth_date=born)


def test_the_bulk_and_the_row_by_row_import_record_the_same_consents(area_tree, catalogue, tmp_path, superuser):
    from import_export.formats.base_formats import XLSX

    register_known(area_tree.village)
    register_known(area_tree.village2)
    bulk_file = write_xlsx(tmp_path / "a.xlsx", RESIDENT_HEADERS, consent_case_rows(area_tree.village.code, 10))
    row_file = write_xlsx(tmp_path / "b.xlsx", RESIDENT_HEADERS, consent_case_rows(area_tree.village2.code, 20))

    report = import_file(kind="residents", path=bulk_file, actor=superuser).report
    bulk, bulk_count = consents(), ConsentRecord.objects.filter(resident__village=area_tree.village).count()
    ConsentRecord.objects.filter(resident__village=area_tree.village).delete()
    result = RowByRowResidentResource(actor=superuser).import_data(
        XLSX().create_dataset(row_file.read_bytes()), use_transactions=True, rollback_on_validation_errors=True
    )

    assert report.ok and report.written, report.errors
    assert not result.has_errors() and not result.has_validation_errors()
    paper = (ConsentChannel.PAPER, list(DEFAULT_PURPOSES), CURRENT_NOTICE_VERSION)
    bay_recorder = ConsentRecord.objects.get(resident__full_name="Bảy").recorded_by_id  # the factory's user
    expected = {
        "Hai": (*paper, signed_at(dt.date(2026, 2, 1)), superuser.pk),
        "Ba": (*paper, signed_at(CONSENT_ON), superuser.pk),
        "Tư": (*paper, signed_at(dt.date(2026, 2, 2)), superuser.pk),
        "Sáu": (*paper, signed_at(dt.date(2026, 2, 3)), superuser.pk),
        "Bảy": (
            ConsentChannel.IN_PERSON,
            list(DEFAULT_PURPOSES),
            CURRENT_NOTICE_VERSION,
            signed_at(dt.date(2026, 1, 2)),
            bay_recorder,
        ),
        "Tám": (*paper, signed_at(dt.date(2026, 2, 5)), superuser.pk),
    }
    assert bulk == expected and bulk_count == len(expected)  # one each: none for a second time
    assert consents() == expected and ConsentRecord.objects.count() == len(expected)
    for village in (area_tree.village, area_tree.village2):
        residents = {r.full_name: r for r in Resident.objects.filter(village=village)}
        assert residents["Sáu"].citizen_id_hash and residents["Bảy"].phone_hash
        assert not residents["Năm"].consents.exists()
    assert_no_drift(area_tree.province)


def test_the_row_by_row_import_refuses_identifiers_without_a_consent_date(area_tree, catalogue, tmp_path):
    from import_export.formats.base_formats import XLSX

    rows = [*good_rows(area_tree.village.code), resident_row(area_tree.village.code, household="Z", consent_on=None)]
    dataset = XLSX().create_dataset(write_xlsx(tmp_path / "f.xlsx", RESIDENT_HEADERS, rows).read_bytes())

    result = RowByRowResidentResource().import_data(dataset, use_transactions=True, rollback_on_validation_errors=True)

    assert [(r.number, list(r.error_dict)) for r in result.invalid_rows] == [(5, ["Ngày ký đồng ý"])]
    assert not Resident.objects.exists() and not ConsentRecord.objects.exists()


def test_households_hold_what_their_imported_members_hold_new_or_registered(area_tree, catalogue, tmp_path):
    # A household holds a smartphone while a member does: new households go in holding it, a
    # registered one gains it from a new member, one whose members hold nothing does not.
    household_phone = CapabilityDerivationFactory(any_member=True, source=catalogue.smartphone).target
    indicator = IndicatorFactory(capability=household_phone, population=PopulationKind.HOUSEHOLDS, min_age=None)
    registered = people.register_household(actor=None, village=area_tree.village, code="HGD-OLD", head_name="Võ Văn Em")
    code = area_tree.village.code
    on = dt.date(2024, 3, 1)
    rows = [
        resident_row(code, household="HGD-A", head="Đinh Văn An", name="Đinh Văn An", serial=1),
        resident_row(code, household="HGD-A", head="Đinh Văn An", name="Đinh Thị Bình", serial=2,
                     smartphone="có", smartphone_on=on),
        resident_row(code, household="HGD-B", head="Hồ Thị Cúc", name="Hồ Thị Cúc", serial=3),
        resident_row(code, household="HGD-OLD", head="Võ Văn Em", name="Võ Thị Giang", serial=4,
                     smartphone="có", smartphone_on=on),
    ]  # fmt: skip

    result = import_file(kind="residents", path=write_csv(tmp_path / "f.csv", RESIDENT_HEADERS, rows), actor=None)

    assert result.report.written, result.report.errors
    derived = dict(Household.objects.filter(village=area_tree.village).values_list("code", "derived_mask"))
    assert derived == {"HGD-A": household_phone.mask, "HGD-B": 0, "HGD-OLD": household_phone.mask}
    registered.refresh_from_db()
    assert registered.capability_mask == 0  # held through a member, not adopted
    counted = VillageCount.objects.get(village=area_tree.village, indicator=indicator)
    assert (counted.numerator, counted.denominator) == (2, 3)
    assert_no_drift(area_tree.province)
