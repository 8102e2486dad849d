"""Exports: every row, streamed, in the import's columns; identifiers masked; scoped to the officer."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason, Sex
from fieldteam.exports import export_file, export_job_start
from fieldteam.imports.engine import import_file
from fieldteam.models import BackgroundJob, ConsentRecord, JobStatus, Resident
from fieldteam.periods import Period
from fieldteam.rollup import recompute
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.indicators import report_indicator_value
from tests.factories import IndicatorFactory, make_citizen_id
from tests.imports.conftest import CONSENT_ON, RESIDENT_HEADERS, resident_row, write_xlsx

pytestmark = pytest.mark.django_db


def many_rows(village_code: str, count: int) -> list[list]:
    return [
        resident_row(
            village_code,
            household=f"H{n // 3}",
            head=f"Chủ hộ {n // 3}",
            name=f"Người {n}",
            sex="Nam" if n % 2 else "Nữ",
            birth_date=dt.date(1950 + n % 60, 1 + n % 12, 1 + n % 28),
            cccd=make_citizen_id(birth_year=1950 + n % 60, sex=Sex.MALE if n % 2 else Sex.FEMALE, serial=n),
            smartphone="có" if n % 3 else "",
            smartphone_on=dt.date(2024, 1, 1) if n % 3 else None,
            fibre="có" if n % 3 == 0 else "",
        )
        for n in range(count)
    ]


def read_xlsx(path) -> list[tuple]:
    return list(load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))


def test_a_resident_export_streams_every_row_and_imports_back_unchanged(area_tree, catalogue, tmp_path):
    source = write_xlsx(tmp_path / "in.xlsx", RESIDENT_HEADERS, many_rows(area_tree.village.code, 2105))
    assert import_file(kind="residents", path=source, actor=None).report.written
    Resident.objects.filter(full_name="Người 1").update(ethnicity="Gia Rai")

    written = export_file(kind="residents", actor=None, path=tmp_path / "out.xlsx", fmt="xlsx")

    rows = read_xlsx(tmp_path / "out.xlsx")
    assert written == 2105 and len(rows) == 2106  # more than one chunk of 2,000
    header = list(rows[0])
    assert header[:11] == RESIDENT_HEADERS[:11] and "Dân tộc" not in header and "Trạng thái" in header
    first = dict(zip(header, rows[1], strict=True))
    assert first["Họ và tên"] == "Người 0" and first["Số CCCD"].startswith("*********")
    assert first["Ngày ký đồng ý"].date() == CONSENT_ON
    assert first["Hộ có cáp quang [fibre_broadband]"] == "có"
    second = dict(zip(header, rows[2], strict=True))
    assert second["Có điện thoại thông minh [smartphone]"] == "có"
    assert second["Có điện thoại thông minh – ngày [smartphone]"].date() == dt.date(2024, 1, 1)
    assert "Gia Rai" not in {v for r in rows for v in r}

    again = import_file(kind="residents", path=tmp_path / "out.xlsx", actor=None).report
    assert again.ok and again.counts["residents_new"] == 0 and again.counts["adoptions_new"] == 0
    assert Resident.objects.count() == 2105 and ConsentRecord.objects.count() == 2105
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []


def test_a_csv_export_has_vietnamese_dates_and_a_bom(area_tree, catalogue, tmp_path):
    import_file(
        kind="residents",
        path=write_xlsx(
            tmp_path / "in.xlsx",
            RESIDENT_HEADERS,
            [
                *many_rows(area_tree.village.code, 3),
                resident_row(area_tree.village.code, household="Z", name="Không", with_cccd=False),
            ],
        ),
        actor=None,
    )
    export_file(kind="residents", actor=None, path=tmp_path / "out.csv", fmt="csv")
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines()))
    assert rows[1][RESIDENT_HEADERS.index("Ngày sinh")] == "01/01/1950"
    # The consent date: the open consent's, blank for a resident who has none.
    assert [r[RESIDENT_HEADERS.index("Ngày ký đồng ý")] for r in rows[1:]] == ["15/01/2026"] * 3 + [""]
    assert len(rows) == 5


def test_an_export_holds_only_the_officers_area(area_tree, catalogue, tmp_path, commune_officer):
    rows = [
        *many_rows(area_tree.village.code, 2),
        resident_row(area_tree.other_village.code, household="X", name="Ngoài", serial=500),
    ]
    import_file(kind="residents", path=write_xlsx(tmp_path / "in.xlsx", RESIDENT_HEADERS, rows), actor=None)
    assert export_file(kind="residents", actor=commune_officer, path=tmp_path / "out.xlsx") == 2
    assert export_file(kind="residents", actor=None, path=tmp_path / "all.xlsx", area=area_tree.other_commune) == 1
    assert export_file(kind="villages", actor=commune_officer, path=tmp_path / "v.xlsx") == 2


def test_assistance_logs_and_indicator_values_are_exported(
    area_tree, catalogue, tmp_path, team, member, province_officer
):
    import_file(
        kind="residents",
        path=write_xlsx(tmp_path / "in.xlsx", RESIDENT_HEADERS, many_rows(area_tree.village.code, 1)),
        actor=None,
    )
    resident = Resident.objects.get()
    log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.now(),
        channel=AssistanceChannel.HOME_VISIT,
        items=[
            ItemInput(catalogue.payment, AssistanceOutcome.DONE),
            ItemInput(catalogue.skills, AssistanceOutcome.NOT_DONE, NotDoneReason.NO_DEVICE),
        ],
        resident=resident,
    )
    grdp = IndicatorFactory(reported=True)
    report_indicator_value(
        actor=province_officer,
        indicator=grdp,
        area=area_tree.province,
        period=Period.parse("2025"),
        value=Decimal("12.5"),
    )

    export_file(kind="assistance_logs", actor=None, path=tmp_path / "logs.xlsx")
    header, row = read_xlsx(tmp_path / "logs.xlsx")
    log = dict(zip(header, row, strict=True))
    assert log["Mã thôn"] == area_tree.village.code and log["Hình thức"] == "Đến nhà"
    assert log["Có tài khoản thanh toán [payment_account]"] == "xong"
    assert log["Có kỹ năng số cơ bản [basic_digital_skills]"] == "chưa: Không có thiết bị"

    export_file(kind="indicator_values", actor=province_officer, path=tmp_path / "values.xlsx")
    header, row = read_xlsx(tmp_path / "values.xlsx")
    value = dict(zip(header, row, strict=True))
    assert (value["Mã chỉ tiêu"], value["Kỳ"], value["Giá trị"], value["Cách tính"]) == (
        grdp.code,
        "2025",
        12.5,
        "báo cáo",
    )

    export_file(kind="reported_values", actor=province_officer, path=tmp_path / "reported.xlsx")
    assert import_file(kind="indicator_values", path=tmp_path / "reported.xlsx", actor=province_officer).report.ok


def test_an_export_job_writes_its_file_in_the_background(
    area_tree, catalogue, tmp_path, commune_officer, django_capture_on_commit_callbacks
):
    import_file(
        kind="residents",
        path=write_xlsx(tmp_path / "in.xlsx", RESIDENT_HEADERS, many_rows(area_tree.village.code, 5)),
        actor=None,
    )
    with django_capture_on_commit_callbacks(execute=True):
        job = export_job_start(actor=commune_officer, kind="residents", fmt="xlsx")
        assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED  # written before the task runs
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and (job.processed, job.total) == (5, 5) and job.area == area_tree.commune
    with job.result_file.open("rb") as handle:
        assert len(list(load_workbook(handle, read_only=True).worksheets[0].iter_rows())) == 6
