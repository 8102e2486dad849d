"""Report files: the periodic report of an area and period, and a village's work list; XLSX and CSV.

Every number comes from the selectors (``area_indicator_values``, ``child_indicator_values``,
``team_activity``, ``work_list``) called as the user who asked, so a report shows exactly what
the dashboards show that user, scoped the same way.

A report is first built as a ``ReportDocument`` (tables of typed cells), then written by one
function per format: ``report_xlsx`` (one sheet per table, Vietnamese headers once translated,
numbers as numbers) and ``report_csv`` (UTF-8 with a byte-order mark so that Excel reads the
Vietnamese text, tables one after the other separated by an empty line).

Small areas are made during the request (``report_file``, ``work_list_file``). Large ones go
through a ``BackgroundJob``: ``report_job_create`` writes the job row and queues
``fieldteam.tasks.generate_report`` when the transaction commits; the task calls
``report_job_run``, which records progress step by step and stores the file.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from fieldteam.choices import VILLAGE_KINDS, CapabilitySubject, IndicatorGroup, MembershipRole, PeriodKind, Sex
from fieldteam.dashboards.charts import tone
from fieldteam.dashboards.formatting import period_label, yes_no
from fieldteam.errors import field_error
from fieldteam.models import Area, BackgroundJob, Capability, JobKind, JobStatus, User
from fieldteam.periods import Period, today
from fieldteam.selectors.activity import team_activity
from fieldteam.selectors.indicators import OutOfScope, area_indicator_values, child_indicator_values
from fieldteam.selectors.scope import scope_for
from fieldteam.selectors.work_list import work_list
from fieldteam.services import jobs

logger = logging.getLogger(__name__)

PERIODIC = "periodic"
WORK_LIST = "work_list"
REPORTS = (PERIODIC, WORK_LIST)
JOB_NAMES = {PERIODIC: "periodic-report", WORK_LIST: "work-list"}
FORMATS = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
# Areas with more villages than this get their periodic report from a background job.
INLINE_MAX_VILLAGES = 60
# Steps a report job reports as its progress: the selectors' three reads, the file, the save.
JOB_STEPS = 5
TARGET_YEARS = (2025, 2030)

# Sheet names (at most 31 characters once translated, none of []:*?/\).
SHEET_INDICATORS = gettext_lazy("Indicators")
SHEET_CHILDREN = gettext_lazy("Child areas")
SHEET_ACTIVITY = gettext_lazy("Team activity")
SHEET_WEEKS = gettext_lazy("Activity by week")
SHEET_CHILD_ACTIVITY = gettext_lazy("Activity by area")
SHEET_WORK_SUMMARY = gettext_lazy("Summary")
SHEET_WORK_LIST = gettext_lazy("Work list")

Cell = str | int | Decimal | date | datetime | None


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"  # text, int, number, date, datetime
    width: int = 14


@dataclass
class Table:
    """One sheet of the XLSX file and one section of the CSV file."""

    sheet: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    # Header groups over consecutive columns, as (label, span): a merged row above the header in
    # XLSX, a "group: column" prefix in CSV.
    groups: list[tuple[str, int]] = field(default_factory=list)
    # Colour band (``charts.tone``) of some cells, by (row index, column index).
    bands: dict[tuple[int, int], str] = field(default_factory=dict)
    empty_note: str = ""
    frozen_columns: int = 0

    def header(self) -> list[str]:
        """The column labels, prefixed with their group where there is one (the CSV header)."""
        prefixes: list[str] = []
        for label, span in self.groups:
            prefixes += [label] * span
        prefixes += [""] * (len(self.columns) - len(prefixes))
        return [f"{prefix}: {c.label}" if prefix else c.label for prefix, c in zip(prefixes, self.columns, strict=True)]


@dataclass
class ReportDocument:
    title: str
    subtitle: str
    filename_stem: str
    tables: list[Table]


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content_type: str
    content: bytes


# --- the periodic report ------------------------------------------------------------------------


def file_stem(*parts: object) -> str:
    """An ASCII file name from Vietnamese words: ``báo cáo định kỳ`` → ``bao-cao-dinh-ky``."""
    text = " ".join(str(part) for part in parts).replace("đ", "d").replace("Đ", "D")
    return slugify(text) or "report"


def _made_by(user: User) -> str:
    return _("Made on %(when)s by %(user)s.") % {
        "when": date_format(timezone.localtime(), "d/m/Y H:i"),
        "user": user.get_full_name() or user.get_username(),
    }


def _target_years(readings: Sequence[Any]) -> list[int]:
    years = set(TARGET_YEARS)
    for reading in readings:
        years.update(reading.targets)
    return sorted(years)


def _indicators_table(readings: Sequence[Any]) -> Table:
    years = _target_years(readings)
    columns = [
        Column(_("No."), "int", 5),
        Column(_("Code"), width=24),
        Column(_("Indicator"), width=60),
        Column(_("Group"), width=18),
        Column(_("Unit"), width=6),
        Column(_("Numerator"), "int", 12),
        Column(_("Denominator"), "int", 12),
        Column(_("Value"), "number", 9),
        *[Column(_("Target %(year)s") % {"year": year}, "number", 11) for year in years],
        Column(_("Target year in force"), "int", 10),
        Column(_("Gap (points)"), "number", 11),
        Column(_("Expected by now"), "number", 11),
        Column(_("On track"), width=9),
        Column(_("Projected to reach the target"), width=22),
        Column(_("Source of the value"), width=22),
    ]
    table = Table(str(SHEET_INDICATORS), _("Indicators against their targets"), columns, frozen_columns=3)
    groups = dict(IndicatorGroup.choices)
    value_column = 7
    for number, reading in enumerate(readings, start=1):
        indicator, target = reading.indicator, reading.target
        if reading.is_live:
            source = _("Live (open period)")
        elif reading.value is None:
            source = ""
        elif indicator.is_computed:
            source = _("Snapshot at the period's close")
        else:
            source = _("Reported by hand")
        table.rows.append(
            [
                number,
                indicator.code,
                indicator.name,
                str(groups.get(indicator.group, indicator.group)),
                indicator.unit,
                reading.numerator,
                reading.denominator,
                reading.value,
                *[reading.targets[year].value if year in reading.targets else None for year in years],
                target.year if target else None,
                reading.gap,
                reading.expected_now,
                yes_no(reading.on_track),
                reading.projection_label,
                source,
            ]
        )
        met = bool(target and target.is_met_by(reading.value))
        table.bands[(number - 1, value_column)] = tone(value=reading.value, gap=reading.gap, met=met)
    return table


def _children_table(children: Sequence[Any], readings: Sequence[Any]) -> Table:
    first = [
        Column(_("Rank"), "int", 6),
        Column(_("Code"), width=12),
        Column(_("Area"), width=28),
        Column(_("Mean gap (points)"), "number", 11),
    ]
    # Every computed indicator, and the reported ones some child has a value for.
    shown = [
        position
        for position, reading in enumerate(readings)
        if reading.indicator.is_computed or any(child.readings[position].value is not None for child in children)
    ]
    columns = list(first)
    groups: list[tuple[str, int]] = [("", len(first))]
    for position in shown:
        groups.append((readings[position].indicator.name, 3))
        columns += [
            Column(_("Value"), "number", 9),
            Column(_("Target"), "number", 9),
            Column(_("Gap"), "number", 9),
        ]
    table = Table(
        str(SHEET_CHILDREN),
        _("Child areas ranked by their mean gap to the targets (largest gap first)"),
        columns,
        groups=groups,
        empty_note=_("This area has no child areas."),
        frozen_columns=3,
    )
    for row_index, child in enumerate(children):
        row: list[Cell] = [row_index + 1, child.area.code, child.area.name, child.gap_score]
        for position in shown:
            reading = child.readings[position]
            target = reading.target
            table.bands[(row_index, len(row))] = tone(
                value=reading.value, gap=reading.gap, met=bool(target and target.is_met_by(reading.value))
            )
            row += [reading.value, target.value if target else None, reading.gap]
        table.rows.append(row)
    return table


def _role_label(role: str) -> str:
    if not role:
        return _("Not a member of a team here")
    return str(dict(MembershipRole.choices).get(role, role))


def _activity_tables(activity: Any) -> list[Table]:
    month = period_label(activity.month)
    members = Table(
        str(SHEET_ACTIVITY),
        _("Assistance logs and training sessions per member; reference month: %(month)s") % {"month": month},
        [
            Column(_("Member"), width=26),
            Column(_("User name"), width=18),
            Column(_("Teams"), width=36),
            Column(_("Role"), width=14),
            Column(_("Logs in the period"), "int", 12),
            Column(_("Logs in %(month)s") % {"month": month}, "int", 12),
            Column(_("Training sessions in the period"), "int", 12),
            Column(_("Training sessions in %(month)s") % {"month": month}, "int", 12),
            Column(_("Last activity"), "datetime", 17),
            Column(_("Active in %(month)s") % {"month": month}, width=10),
        ],
        empty_note=_("No team works in this area, or none you may see."),
        frozen_columns=1,
    )
    for m in activity.members:
        members.rows.append(
            [
                m.name,
                m.username,
                ", ".join(m.team_names),
                _role_label(m.role),
                m.logs,
                m.logs_in_month,
                m.sessions,
                m.sessions_in_month,
                m.last_activity,
                yes_no(m.active_in_month),
            ]
        )
        if m.is_member and not m.active_in_month:
            members.bands[(len(members.rows) - 1, 9)] = "far"
    weeks = Table(
        str(SHEET_WEEKS),
        _("Assistance logs per week"),
        [Column(_("Week from"), "date", 12), Column(_("Week to"), "date", 12), Column(_("Logs"), "int", 10)],
    )
    for week, count in zip(activity.weeks, activity.logs_per_week, strict=True):
        weeks.rows.append([week, week + timedelta(days=6), count])
    tables = [members, weeks]
    if activity.children:
        by_child = Table(
            str(SHEET_CHILD_ACTIVITY),
            _("Activity per child area; reference month: %(month)s") % {"month": month},
            [
                Column(_("Code"), width=12),
                Column(_("Area"), width=28),
                Column(_("Logs in the period"), "int", 12),
                Column(_("Training sessions in the period"), "int", 12),
                Column(_("Team members"), "int", 10),
                Column(_("Active in %(month)s") % {"month": month}, "int", 10),
                Column(_("No activity in %(month)s") % {"month": month}, "int", 10),
            ],
            frozen_columns=2,
        )
        for child in activity.children:
            by_child.rows.append(
                [
                    child.area.code,
                    child.area.name,
                    child.logs,
                    child.sessions,
                    child.members,
                    child.active_members,
                    child.inactive_members,
                ]
            )
        tables.append(by_child)
    return tables


def periodic_report(
    *, user: User, area: Area, period: Period, progress: Callable[[], None] | None = None
) -> ReportDocument:
    """The periodic report of ``area`` for ``period`` as ``user`` may see it (``OutOfScope`` otherwise)."""
    step = progress or (lambda: None)
    readings = area_indicator_values(user=user, area=area, period=period)
    step()
    children = child_indicator_values(user=user, area=area, period=period)
    step()
    activity = team_activity(user=user, area=area, period=period)
    step()
    return ReportDocument(
        title=_("Periodic report: %(area)s (%(code)s), %(period)s")
        % {"area": area.name, "code": area.code, "period": period_label(period)},
        subtitle=_made_by(user),
        filename_stem=file_stem(_("periodic report"), area.code, period),
        tables=[_indicators_table(readings), _children_table(children, readings), *_activity_tables(activity)],
    )


# --- the work list --------------------------------------------------------------------------------


def work_list_report(*, user: User, village: Area, capability: Capability | None = None) -> ReportDocument:
    """A village's work list (``selectors.work_list``): a summary sheet, and one row per person and capability."""
    sections = work_list(user=user, village=village, capability=capability)
    subjects = dict(CapabilitySubject.choices)
    sexes = dict(Sex.choices)
    summary = Table(
        str(SHEET_WORK_SUMMARY),
        _("Capabilities in the order to work on them: the target closest to being met first"),
        [
            Column(_("No."), "int", 5),
            Column(_("Capability"), width=40),
            Column(_("Held by"), width=12),
            Column(_("Indicator"), width=50),
            Column(_("Value"), "number", 9),
            Column(_("Target"), "number", 9),
            Column(_("Target year"), "int", 9),
            Column(_("More holders needed to meet the target"), "int", 14),
            Column(_("Still without it"), "int", 12),
        ],
    )
    people = Table(
        str(SHEET_WORK_LIST),
        _("Residents and households still without each capability, household by household"),
        [
            Column(_("No."), "int", 6),
            Column(_("Capability"), width=36),
            Column(_("Household code"), width=16),
            Column(_("Head of household"), width=24),
            Column(_("Name"), width=26),
            Column(_("Birth year"), "int", 9),
            Column(_("Sex"), width=8),
            Column(_("Phone"), width=14),
        ],
        empty_note=_("Nobody is missing a capability."),
        frozen_columns=2,
    )
    for number, section in enumerate(sections, start=1):
        reading = section.reading
        target = reading.target if reading else None
        summary.rows.append(
            [
                number,
                section.capability.name,
                str(subjects.get(section.capability.subject, "")),
                reading.indicator.name if reading else "",
                reading.value if reading else None,
                target.value if target else None,
                target.year if target else None,
                section.needed,
                len(section.entries),
            ]
        )
        for entry in section.entries:
            people.rows.append(
                [
                    len(people.rows) + 1,
                    section.capability.name,
                    entry.household_code,
                    entry.household_head,
                    entry.name if entry.subject == CapabilitySubject.RESIDENT else "",
                    entry.birth_year,
                    str(sexes.get(entry.sex, "")),
                    entry.phone_masked,
                ]
            )
    stem = file_stem(_("work list"), village.code, capability.code if capability else "")
    return ReportDocument(
        title=_("Work list: %(village)s (%(code)s), %(day)s")
        % {"village": village.name, "code": village.code, "day": date_format(today(), "d/m/Y")},
        subtitle=_made_by(user),
        filename_stem=stem,
        tables=[summary, people],
    )


# --- writers: one per format ----------------------------------------------------------------------

_FILLS = {
    "reached": PatternFill("solid", fgColor="C8E6C9"),
    "near": PatternFill("solid", fgColor="E6EE9C"),
    "mid": PatternFill("solid", fgColor="FFE0B2"),
    "far": PatternFill("solid", fgColor="FFCDD2"),
}
_NUMBER_FORMATS = {"int": "#,##0", "number": "0.0", "date": "DD/MM/YYYY", "datetime": "DD/MM/YYYY HH:MM"}
_HEADER_FILL = PatternFill("solid", fgColor="E3EAF2")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER_ROW = 4  # the column labels; the title is on row 1, header groups (if any) on row 3


def _sheet_title(name: str) -> str:
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in name).strip()
    return cleaned[:31] or "Sheet"


def _xlsx_value(value: Cell) -> Cell:
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    return value


def _write_header(sheet: Any, table: Table) -> None:
    column = 1
    for label, span in table.groups:
        if label and span:
            cell = sheet.cell(row=HEADER_ROW - 1, column=column, value=label)
            cell.font = Font(bold=True)
            cell.alignment = Alignment(horizontal="center", wrap_text=True, vertical="center")
            if span > 1:
                sheet.merge_cells(
                    start_row=HEADER_ROW - 1, start_column=column, end_row=HEADER_ROW - 1, end_column=column + span - 1
                )
        column += span
    if table.groups:
        sheet.row_dimensions[HEADER_ROW - 1].height = 45
    for index, spec in enumerate(table.columns, start=1):
        cell = sheet.cell(row=HEADER_ROW, column=index, value=spec.label)
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        sheet.column_dimensions[get_column_letter(index)].width = spec.width


def _write_rows(sheet: Any, table: Table) -> None:
    for row_index, row in enumerate(table.rows):
        excel_row = HEADER_ROW + 1 + row_index
        for col_index, (spec, value) in enumerate(zip(table.columns, row, strict=True)):
            cell = sheet.cell(row=excel_row, column=col_index + 1)
            cell.value = _xlsx_value(value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # a name that looks like a formula stays text
            if spec.kind in _NUMBER_FORMATS and value is not None:
                cell.number_format = _NUMBER_FORMATS[spec.kind]
            band = table.bands.get((row_index, col_index))
            if band in _FILLS:
                cell.fill = _FILLS[band]
    if not table.rows and table.empty_note:
        sheet.cell(row=HEADER_ROW + 1, column=1, value=table.empty_note).font = Font(italic=True)


def report_xlsx(document: ReportDocument) -> bytes:
    """The document as an XLSX workbook: one sheet per table, header on row ``HEADER_ROW``."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    for table in document.tables:
        sheet = workbook.create_sheet(_sheet_title(table.sheet))
        sheet.cell(row=1, column=1, value=document.title).font = Font(bold=True, size=13)
        sheet.cell(row=2, column=1, value=f"{table.title}. {document.subtitle}").font = Font(italic=True)
        _write_header(sheet, table)
        _write_rows(sheet, table)
        sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=table.frozen_columns + 1)
        sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    text = str(value)
    # Spreadsheets run a cell that starts like a formula: keep names and notes inert.
    return f"'{text}" if text.startswith(_FORMULA_STARTS) else text


def report_csv(document: ReportDocument) -> bytes:
    """The document as one CSV file: title lines, then each table (title, header, rows) after an empty line.

    UTF-8 with a byte-order mark; numbers with a decimal point, dates as ISO ``YYYY-MM-DD``, so the
    file reads the same in any program and language.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([document.title])
    writer.writerow([document.subtitle])
    for table in document.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.header())
        for row in table.rows:
            writer.writerow([_csv_value(value) for value in row])
    return buffer.getvalue().encode("utf-8-sig")


WRITERS: dict[str, Callable[[ReportDocument], bytes]] = {"xlsx": report_xlsx, "csv": report_csv}


def _file(document: ReportDocument, fmt: str) -> ReportFile:
    return ReportFile(f"{document.filename_stem}.{fmt}", CONTENT_TYPES[fmt], WRITERS[fmt](document))


# --- in the request, or as a background job ----------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise field_error("format", _("Choose XLSX or CSV."), code="invalid_choice")


EARLIEST_YEAR = 2000


def _check_period(period: Period) -> None:
    if period.start > today():
        raise field_error("period", _("The period has not started yet."), code="future")
    if period.start.year < EARLIEST_YEAR:
        raise field_error("period", _("There are no values for that period."), code="too_early")


def _check_village(area: Area) -> None:
    if area.kind not in VILLAGE_KINDS and area.numchild:
        raise field_error("area", _("Choose a village: a work list is made per village."), code="not_a_village")


def runs_in_request(area: Area) -> bool:
    """Whether the periodic report of ``area`` is small enough to make during the request."""
    if area.depth == 1:
        return False
    villages = Area.objects.filter(path__startswith=area.path, kind__in=VILLAGE_KINDS)[: INLINE_MAX_VILLAGES + 1]
    return villages.count() <= INLINE_MAX_VILLAGES


def report_file(*, user: User, area: Area, period: Period, fmt: str) -> ReportFile:
    """The periodic report made now, in the request."""
    _check_format(fmt)
    _check_period(period)
    return _file(periodic_report(user=user, area=area, period=period), fmt)


def work_list_file(*, user: User, village: Area, fmt: str, capability: Capability | None = None) -> ReportFile:
    """A village's work list made now, in the request (a village is always small enough)."""
    _check_format(fmt)
    return _file(work_list_report(user=user, village=village, capability=capability), fmt)


def report_job_create(
    *,
    user: User,
    area: Area,
    fmt: str,
    report: str = PERIODIC,
    period: Period | None = None,
    capability: Capability | None = None,
    locale: str | None = None,
    in_request: bool = False,
) -> BackgroundJob:
    """Record a report job, then queue its task once the job row is committed.

    With ``in_request`` the job is run at once instead (small areas) and returned finished.
    Raises ``OutOfScope`` for an area the user may not see, ``ValidationError`` for bad input.
    """
    if not scope_for(user).contains(area):
        raise OutOfScope(_("No such area."))
    if report not in REPORTS:
        raise field_error("report", _("Unknown report."), code="invalid_choice")
    _check_format(fmt)
    params: dict[str, Any] = {"report": report, "format": fmt, "locale": locale or translation.get_language()}
    if report == PERIODIC:
        period = period or Period.containing(PeriodKind.MONTH, today())
        _check_period(period)
        params["period"] = str(period)
    else:
        _check_village(area)
        if capability is not None:
            params["capability"] = capability.code
    with transaction.atomic():
        job = BackgroundJob.objects.create(
            # Both reports are REPORT jobs, told apart by name: EXPORT jobs belong to the data
            # exports (``services.exports``), whose runner the admin may queue again.
            kind=JobKind.REPORT,
            name=JOB_NAMES[report],
            area=area,
            params=params,
            total=JOB_STEPS,
            created_by=user,
        )
        if not in_request:
            from fieldteam.tasks import enqueue_on_commit, generate_report

            enqueue_on_commit(generate_report, str(job.pk), params["locale"])
    if in_request:
        job = report_job_run(job_id=job.pk) or job
    return job


def _fail(job: BackgroundJob, message: str) -> None:
    job.status = JobStatus.FAILED
    job.error = message
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error", "finished_at"])


def _job_document(job: BackgroundJob, progress: Callable[[], None]) -> ReportDocument:
    params = job.params
    user = job.created_by
    if params.get("report") == WORK_LIST:
        capability = None
        if params.get("capability"):
            capability = Capability.objects.filter(code=params["capability"]).first()
            if capability is None:
                raise field_error("capability", _("This capability no longer exists."), code="missing")
        document = work_list_report(user=user, village=job.area, capability=capability)
        for _step in range(3):
            progress()
        return document
    return periodic_report(user=user, area=job.area, period=Period.parse(params["period"]), progress=progress)


def report_job_run(*, job_id: UUID | str) -> BackgroundJob | None:
    """Make the file of a report job, as the user who asked (their scope now), and store it.

    Idempotent: a finished job is left as it is; a queued, running (its worker died) or failed job
    is made again from the start. Not one transaction on purpose: each step's progress is
    committed so that the job page shows it; the file and the final status are written last, in
    one update. Returns ``None`` if the job no longer exists.
    """
    job = BackgroundJob.objects.select_related("area", "created_by").filter(pk=job_id).first()
    if job is None:
        logger.warning("report job %s no longer exists", job_id)
        return None
    if job.status == JobStatus.DONE:
        return job
    jobs.report_progress(job_id=job.pk, status=JobStatus.RUNNING, processed=0, error="")
    done = 0

    def progress() -> None:
        nonlocal done
        done = min(done + 1, JOB_STEPS)
        jobs.report_progress(job_id=job.pk, processed=done)

    try:
        if job.area is None:
            raise OutOfScope
        fmt = job.params.get("format", "xlsx")
        _check_format(fmt)
        with jobs.running(job=job):
            document = _job_document(job, progress)
        report = _file(document, fmt)
        progress()
    except OutOfScope:
        _fail(job, _("The area is no longer among the areas you may see."))
        return job
    except ValidationError as exc:
        _fail(job, " ".join(str(m) for m in exc.messages))
        return job
    except Exception:  # recorded on the job for the user; the traceback goes to the log
        logger.exception("report job %s failed", job.pk)
        _fail(job, _("The report could not be made. Try again later or tell the administrator."))
        return job
    job.result_file.save(f"{job.pk.hex}-{report.filename}", ContentFile(report.content), save=False)
    job.status = JobStatus.DONE
    job.processed = JOB_STEPS
    job.finished_at = timezone.now()
    job.error = ""
    job.summary = {
        "filename": report.filename,
        "content_type": report.content_type,
        "bytes": len(report.content),
        # Rows per sheet, under the keys the admin's job page shows.
        "counts": {table.sheet: len(table.rows) for table in document.tables},
    }
    job.save(update_fields=["status", "processed", "finished_at", "error", "summary", "result_file"])
    return job
