"""Importing official population figures: Vietnamese columns, bad rows named by row and column, nothing partial."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import load_workbook

from fieldteam.choices import AdoptionSource
from fieldteam.exports import export_file
from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import import_file
from fieldteam.models import OfficialPopulation
from fieldteam.periods import today
from fieldteam.resources import OfficialPopulationResource
from fieldteam.rollup import recompute
from fieldteam.services import adoption as adoption_services
from tests.factories import HouseholdFactory, OfficialPopulationFactory, ResidentFactory
from tests.imports.conftest import write_csv, write_xlsx

pytestmark = pytest.mark.django_db

HEADERS = [
    "Mã địa bàn",
    "Năm",
    "Tổng dân số",
    "Từ 14 tuổi trở lên",
    "Từ 15 tuổi trở lên",
    "Từ 18 tuổi trở lên",
    "Nam trong độ tuổi lao động",
    "Nữ trong độ tuổi lao động",
    "Số hộ",
    "Nguồn",
]


def test_figures_are_imported_and_a_second_import_corrects_them(area_tree, tmp_path, province_officer):
    rows = [
        [area_tree.commune.code, 2025, 5000, 3900, 3800, 3600, 1700, 1600, 1300, "Cục Thống kê"],
        [area_tree.village.code, 2025, 800, "", "", 600, "", "", 200, "công an xã"],
    ]
    path = write_xlsx(tmp_path / "p.xlsx", HEADERS, rows)

    report = import_file(kind="population", path=path, actor=province_officer).report

    assert report.ok and report.counts["figures_new"] == 2
    commune = OfficialPopulation.objects.get(area=area_tree.commune, year=2025)
    assert (commune.total, commune.age_18_plus, commune.working_age, commune.households) == (5000, 3600, 3300, 1300)
    assert commune.entered_by == province_officer and commune.source == "Cục Thống kê"
    village = OfficialPopulation.objects.get(area=area_tree.village)
    assert (village.age_14_plus, village.age_18_plus) == (None, 600)

    rows[0][2] = 5100
    again = import_file(kind="population", path=write_csv(tmp_path / "p.csv", HEADERS, rows), actor=province_officer)
    assert again.report.counts["figures_existing"] == 2
    assert OfficialPopulation.objects.get(area=area_tree.commune).total == 5100


def test_bad_rows_are_named_by_row_and_column_and_nothing_is_saved(area_tree, tmp_path, commune_officer):
    rows = [
        [area_tree.village.code, 2025, 800, "", "", 600, "", "", 200, ""],  # good
        [area_tree.village2.code, 2025, -5, "", "", "", "", "", "", ""],  # negative
        [area_tree.commune.code, 2025, "1200,5", "", "", "", "", "", "", ""],  # not whole
        [area_tree.commune.code, 2024, 1000, "", "", 1001, "", "", "", ""],  # band above total
        [area_tree.other_village.code, 2025, 100, "", "", "", "", "", "", ""],  # another commune
        [area_tree.village.code, 2025, 900, "", "", "", "", "", "", ""],  # same area and year as row 2
    ]
    path = write_xlsx(tmp_path / "p.xlsx", HEADERS, rows)

    result = import_file(kind="population", path=path, actor=commune_officer)

    report = result.report
    assert {(e.row, e.column, e.code) for e in report.errors} == {
        (3, "Tổng dân số", "invalid"),
        (4, "Tổng dân số", "invalid"),
        (5, "Từ 18 tuổi trở lên", "invalid"),
        (6, "Mã địa bàn", "out_of_scope"),
        (2, "Năm", "duplicate_in_file"),
        (7, "Năm", "duplicate_in_file"),
    }
    messages = {e.row: e.text() for e in report.errors}
    assert "negative" in messages[3] and "whole number" in messages[4] and "1001" in messages[5]
    assert not report.written
    assert not OfficialPopulation.objects.exists()
    assert result.rejected_file


def test_skip_invalid_writes_only_the_good_rows(area_tree, tmp_path, province_officer):
    rows = [
        [area_tree.village.code, 2025, 800, "", "", "", "", "", "", ""],
        ["khong-co", 2025, 10, "", "", "", "", "", "", ""],
    ]
    path = write_xlsx(tmp_path / "p.xlsx", HEADERS, rows)

    report = import_file(
        kind="population", path=path, actor=province_officer, options=ImportOptions(skip_invalid=True)
    ).report

    assert [(e.row, e.code) for e in report.errors] == [(3, "unknown_area")]
    assert list(OfficialPopulation.objects.values_list("area__code", flat=True)) == [area_tree.village.code]


def test_a_viewer_or_a_team_member_cannot_import(area_tree, tmp_path, member):
    path = write_xlsx(tmp_path / "p.xlsx", HEADERS, [[area_tree.village.code, 2025, 800, "", "", "", "", "", "", ""]])
    report = import_file(kind="population", path=path, actor=member).report
    assert not report.ok and not OfficialPopulation.objects.exists()


def test_the_template_has_vietnamese_columns_and_instructions(db):
    workbook = load_workbook(io.BytesIO(OfficialPopulationResource().template_bytes()))
    sheets = workbook.sheetnames
    assert "Hướng dẫn" in sheets
    headers = [cell.value for cell in workbook[sheets[0]][1]]
    assert headers == HEADERS


def test_a_figure_below_the_register_is_imported_and_counted(area_tree, catalogue, tmp_path, province_officer):
    household = HouseholdFactory(village=area_tree.village)
    for _ in range(3):
        ResidentFactory(household=household, birth_year=1980)
    rows = [[area_tree.village.code, 2025, 10, "", "", 2, "", "", "", ""]]
    path = write_xlsx(tmp_path / "p.xlsx", HEADERS, rows)

    report = import_file(kind="population", path=path, actor=province_officer).report

    assert report.ok and report.counts["figures_below_register"] == 1
    assert OfficialPopulation.objects.get(area=area_tree.village).age_18_plus == 2


def test_the_indicator_values_export_gives_the_official_value_first(area_tree, catalogue, tmp_path):
    household = HouseholdFactory(village=area_tree.village)
    for n in range(4):
        resident = ResidentFactory(household=household, birth_year=1980)
        if n < 2:
            adoption_services.set_adoption(
                actor=None,
                capability=catalogue.smartphone,
                since=dt.date(2024, 1, 5),
                source=AdoptionSource.SURVEY,
                resident=resident,
            )
    this_month = today().replace(day=1)
    OfficialPopulationFactory(area=area_tree.village, year=this_month.year, total=20, age_18_plus=10)
    recompute.close_month(province_id=area_tree.province.pk, month=this_month)

    export_file(kind="indicator_values", actor=None, path=tmp_path / "values.xlsx")

    rows = list(load_workbook(tmp_path / "values.xlsx").worksheets[0].iter_rows(values_only=True))
    header = list(rows[0])
    values = [dict(zip(header, row, strict=True)) for row in rows[1:]]
    village = next(
        v
        for v in values
        if v["Mã địa bàn"] == area_tree.village.code and v["Mã chỉ tiêu"] == catalogue.adults_smartphone.code
    )
    assert header.index("Tỷ lệ theo dân số chính thức") < header.index("Giá trị")
    assert (village["Tỷ lệ theo dân số chính thức"], village["Dân số chính thức"], village["Giá trị"]) == (20, 10, 50)
    assert village["Độ bao phủ của sổ đăng ký (%)"] == 40
    commune = next(
        v
        for v in values
        if v["Mã địa bàn"] == area_tree.commune.code and v["Mã chỉ tiêu"] == catalogue.adults_smartphone.code
    )
    assert commune["Dân số chính thức"] is None and "Thôn 2" in commune["Số liệu chính thức"]
