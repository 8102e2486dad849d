"""Report files (XLSX, CSV): the selectors' numbers, the expected sheets and headers, the job flow, the scope."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import load_workbook

from fieldteam.models import AreaRole, BackgroundJob, JobStatus
from fieldteam.periods import Period
from fieldteam.selectors import reports as report_documents
from fieldteam.selectors.activity import team_activity
from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values
from fieldteam.selectors.work_list import work_list
from fieldteam.services import reports
from tests.dashboards.conftest import login
from tests.factories import HouseholdFactory, ResidentFactory

HEADER = reports.HEADER_ROW


def workbook(content: bytes):
    return load_workbook(io.BytesIO(content))


def header(sheet) -> list[str]:
    return [c.value for c in sheet[HEADER] if c.value is not None]


def rows(sheet) -> list[list]:
    return [list(r) for r in sheet.iter_rows(min_row=HEADER + 1, values_only=True)]


def csv_sections(content: bytes) -> list[list[list[str]]]:
    """The CSV file's tables: [title row, header row, data rows...] each, split at empty lines."""
    assert content.startswith(b"\xef\xbb\xbf")  # a byte-order mark: Excel reads it as UTF-8
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    sections, current = [], []
    for line in lines[2:]:
        if not line:
            if current:
                sections.append(current)
            current = []
        else:
            current.append(line)
    sections.append(current)
    return sections


@pytest.fixture
def vietnamese():
    with translation.override("vi"):
        yield


@pytest.mark.usefixtures("vietnamese")
def test_the_xlsx_report_has_the_expected_sheets_and_headers(scenario):
    report = reports.report_file(
        user=scenario.commune_officer, area=scenario.tree.commune, period=Period.parse("2026-Q1"), fmt="xlsx"
    )

    book = workbook(report.content)
    assert report.filename.endswith(".xlsx")
    assert book.sheetnames == [
        str(report_documents.SHEET_INDICATORS),
        str(report_documents.SHEET_CHILDREN),
        str(report_documents.SHEET_ACTIVITY),
        str(report_documents.SHEET_WEEKS),
        str(report_documents.SHEET_CHILD_ACTIVITY),
        str(report_documents.SHEET_BREAKDOWNS),
        str(report_documents.SHEET_COVERAGE),
        str(report_documents.SHEET_REASONS),  # an officer's report (issue 17)
    ]
    indicators = book[str(report_documents.SHEET_INDICATORS)]
    assert scenario.tree.commune.name in indicators["A1"].value
    assert header(indicators)[:12] == [
        _("No."),
        _("Code"),
        _("Indicator"),
        _("Group"),
        _("Unit"),
        _("Value over the official population"),
        _("Official population"),
        _("Official figure"),
        _("Numerator"),
        _("Denominator"),
        _("Value"),
        _("Register coverage (%)"),
    ]
    assert _("Target %(year)s") % {"year": 2025} in header(indicators)
    assert _("Target %(year)s") % {"year": 2030} in header(indicators)
    assert header(book[str(report_documents.SHEET_CHILDREN)])[:4] == [_("Rank"), _("Code"), _("Area"), _("Mean gap (points)")]
    assert header(book[str(report_documents.SHEET_ACTIVITY)])[:2] == [_("Member"), _("User name")]
    assert header(book[str(report_documents.SHEET_WEEKS)]) == [_("Week from"), _("Week to"), _("Logs")]


@pytest.mark.parametrize("period", ["2026-06", "2026-Q1", "2026-05"])
@pytest.mark.parametrize(("who", "where"), [("commune_officer", "commune"), ("province_officer", "province")])
def test_the_numbers_in_the_xlsx_report_are_the_selectors(scenario, who, where, period):
    user, area, p = getattr(scenario, who), getattr(scenario.tree, where), Period.parse(period)

    book = workbook(reports.report_file(user=user, area=area, period=p, fmt="xlsx").content)

    readings = area_indicator_values(user=user, area=area, period=p)
    sheet = book[str(report_documents.SHEET_INDICATORS)]
    columns = header(sheet)
    gap = columns.index(_("Gap (points)"))
    target_2030 = columns.index(_("Target %(year)s") % {"year": 2030})
    for row, reading in zip(rows(sheet), readings, strict=True):
        assert row[1] == reading.indicator.code
        assert (row[5], row[6]) == (None, None)  # the scenario has no official figures
        assert (row[8], row[9]) == (reading.numerator, reading.denominator)
        assert row[10] == (float(reading.value) if reading.value is not None else None)
        assert row[gap] == (float(reading.gap) if reading.gap is not None else None)
        expected_target = reading.targets.get(2030)
        assert row[target_2030] == (float(expected_target.value) if expected_target else None)
    children = child_indicator_values(user=user, area=area, period=p)
    child_rows = rows(book[str(report_documents.SHEET_CHILDREN)])
    assert [(r[1], r[3]) for r in child_rows] == [
        (c.area.code, float(c.gap_score) if c.gap_score is not None else None) for c in children
    ]
    position = next(i for i, r in enumerate(readings) if r.indicator == scenario.adults)
    for row, child in zip(child_rows, children, strict=True):
        reading = child.readings[position]
        # The adults indicator is the first one shown: official value, value, target, gap after the four first columns.
        assert row[4:8] == [
            None,
            float(reading.value) if reading.value is not None else None,
            float(reading.target.value) if reading.target else None,
            float(reading.gap) if reading.gap is not None else None,
        ]
    activity = team_activity(user=user, area=area, period=p)
    member_rows = rows(book[str(report_documents.SHEET_ACTIVITY)])
    assert [(r[1], r[4], r[5], r[6]) for r in member_rows] == [
        (m.username, m.logs, m.logs_in_month, m.sessions) for m in activity.members
    ]
    assert [r[2] for r in rows(book[str(report_documents.SHEET_WEEKS)])] == activity.logs_per_week


def test_the_csv_report_has_the_same_numbers(scenario):
    user, area, p = scenario.commune_officer, scenario.tree.commune, Period.parse("2026-06")

    report = reports.report_file(user=user, area=area, period=p, fmt="csv")

    assert report.content_type.startswith("text/csv")
    indicators, children, members, weeks, by_area, _breakdowns, _coverage, _reasons = csv_sections(report.content)
    readings = area_indicator_values(user=user, area=area, period=p)
    assert indicators[1][:3] == [_("No."), _("Code"), _("Indicator")]
    for row, reading in zip(indicators[2:], readings, strict=True):
        assert row[1] == reading.indicator.code
        assert row[10] == ("" if reading.value is None else format(reading.value, "f"))
    assert children[1][4] == f"{scenario.adults.name}: {_('Official')}"  # header groups flattened
    assert children[1][5] == f"{scenario.adults.name}: {_('Value')}"
    assert [row[1] for row in children[2:]] == [
        c.area.code for c in child_indicator_values(user=user, area=area, period=p)
    ]
    activity = team_activity(user=user, area=area, period=p)
    assert [(row[1], row[4]) for row in members[2:]] == [(m.username, str(m.logs)) for m in activity.members]
    assert [int(row[2]) for row in weeks[2:]] == activity.logs_per_week
    assert [row[0] for row in by_area[2:]] == [c.area.code for c in activity.children]


def test_the_work_list_export_lists_the_selector_entries(scenario):
    sneaky = HouseholdFactory(village=scenario.tree.village, code="HH-X", head_name="=HYPERLINK(1)")
    ResidentFactory(household=sneaky, full_name="+Sneaky Name", birth_year=1990)

    xlsx = reports.work_list_file(user=scenario.leader, village=scenario.tree.village, fmt="xlsx")
    book = workbook(xlsx.content)
    assert book.sheetnames == [str(report_documents.SHEET_WORK_SUMMARY), str(report_documents.SHEET_WORK_LIST)]
    sections = work_list(user=scenario.leader, village=scenario.tree.village)
    listed = rows(book[str(report_documents.SHEET_WORK_LIST)])
    assert [(r[1], r[2]) for r in listed] == [
        (s.capability.name, e.household_code) for s in sections for e in s.entries
    ]
    assert [r[7] for r in rows(book[str(report_documents.SHEET_WORK_SUMMARY)])] == [s.needed for s in sections]
    # Text that looks like a formula stays text.
    cells = [c for row in book[str(report_documents.SHEET_WORK_LIST)].iter_rows() for c in row if c.value == "=HYPERLINK(1)"]
    assert cells and all(c.data_type == "s" for c in cells)

    content = reports.work_list_file(user=scenario.leader, village=scenario.tree.village, fmt="csv").content
    text = content.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text and "'+Sneaky Name" in text


# --- through the pages -----------------------------------------------------------------------------


def report_url(area) -> str:
    return reverse("dashboards:report", kwargs={"area_id": area.pk})


def test_a_commune_report_is_made_in_the_request(client, scenario):
    response = login(client, scenario.commune_officer).post(
        report_url(scenario.tree.commune), {"period": "2026-Q1", "format": "xlsx"}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert workbook(response.content).sheetnames[0] == str(report_documents.SHEET_INDICATORS)
    assert not BackgroundJob.objects.exists()


def test_a_province_report_is_a_job_with_progress_and_a_download(client, scenario, django_capture_on_commit_callbacks):
    """Given a large area, the report is queued after commit, runs, and its page links the file."""
    login(client, scenario.province_officer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(report_url(scenario.tree.province), {"period": "2026-06", "format": "csv"})
    job = BackgroundJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboards:job", kwargs={"job_id": job.pk})
    assert (job.status, job.created_by, job.area, job.params["period"]) == (
        JobStatus.QUEUED,
        scenario.province_officer,
        scenario.tree.province,
        "2026-06",
    )
    assert len(callbacks) == 1  # queued on commit, not before
    page = client.get(response["Location"])
    assert b'http-equiv="refresh"' in page.content

    callbacks[0]()  # the worker (eager in tests) runs the task

    job.refresh_from_db()
    assert (job.status, job.processed, job.total) == (JobStatus.DONE, reports.JOB_STEPS, reports.JOB_STEPS)
    page = client.get(response["Location"])
    download = reverse("dashboards:job_download", kwargs={"job_id": job.pk})
    assert download.encode() in page.content
    assert b'http-equiv="refresh"' not in page.content
    file = client.get(download)
    assert file.status_code == 200
    content = b"".join(file.streaming_content)
    assert content.startswith(b"\xef\xbb\xbf")
    assert job.summary["filename"] in file["Content-Disposition"]


def test_a_job_run_twice_is_made_once(scenario):
    job = reports.report_job_create(user=scenario.province_officer, area=scenario.tree.province, fmt="xlsx")
    first = reports.report_job_run(job_id=job.pk)
    name = first.result_file.name
    again = reports.report_job_run(job_id=job.pk)
    assert again.status == JobStatus.DONE
    assert again.result_file.name == name


def test_a_job_whose_user_lost_the_area_fails_with_a_reason(scenario):
    job = reports.report_job_create(user=scenario.commune_officer, area=scenario.tree.commune, fmt="xlsx")
    AreaRole.objects.filter(user=scenario.commune_officer).delete()

    job = reports.report_job_run(job_id=job.pk)

    assert job.status == JobStatus.FAILED
    assert job.error
    assert not job.result_file


@pytest.mark.parametrize("kind", ["job", "job_download"])
def test_someone_else_job_is_404(client, scenario, kind):
    job = reports.report_job_create(
        user=scenario.commune_officer, area=scenario.tree.commune, fmt="xlsx", in_request=True
    )
    page = reverse(f"dashboards:{kind}", kwargs={"job_id": job.pk})

    assert login(client, scenario.commune_officer).get(page).status_code == 200
    for other in (scenario.other_commune_officer, scenario.far_officer, scenario.leader):
        assert login(client, other).get(page).status_code == 404


def test_out_of_scope_reports_and_work_lists_are_404(client, scenario):
    login(client, scenario.commune_officer)
    assert client.post(report_url(scenario.tree.other_commune), {"format": "xlsx"}).status_code == 404
    assert client.post(report_url(scenario.tree.province), {"format": "xlsx"}).status_code == 404
    other_list = reverse("dashboards:work_list", kwargs={"area_id": scenario.tree.other_village.pk, "fmt": "csv"})
    assert client.get(other_list).status_code == 404
    login(client, scenario.member)
    assert client.post(report_url(scenario.tree.commune), {"format": "xlsx"}).status_code == 404
    assert not BackgroundJob.objects.exists()


def test_the_work_list_download_for_the_team(client, scenario):
    own = reverse("dashboards:work_list", kwargs={"area_id": scenario.tree.village.pk, "fmt": "xlsx"})
    response = login(client, scenario.member).get(own, {"capability": scenario.adults.capability.code})

    assert response.status_code == 200
    listed = rows(workbook(response.content)[str(report_documents.SHEET_WORK_LIST)])
    assert {r[1] for r in listed} == {scenario.adults.capability.name}
    assert client.get(own, {"capability": "no-such-thing"}).status_code == 404
    commune_list = reverse("dashboards:work_list", kwargs={"area_id": scenario.tree.commune.pk, "fmt": "xlsx"})
    assert login(client, scenario.commune_officer).get(commune_list).status_code == 404  # not a village
