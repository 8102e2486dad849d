"""Report files and report jobs: the documents of ``fieldteam.selectors.reports`` as XLSX and CSV.

A report is built by the selectors as a ``ReportDocument`` (tables of typed cells), as the user
who asked, then written here by one function per format: ``report_xlsx`` (one sheet per table,
Vietnamese headers once translated, numbers as numbers) and ``report_csv`` (UTF-8 with a
byte-order mark so that Excel reads the Vietnamese text, tables one after the other separated by
an empty line).

Small areas are made during the request (``report_file``, ``work_list_file``). Large ones go
through a ``BackgroundJob``: ``report_job_create`` writes the job row and queues
its run (``jobs.queue_job_on_commit``) when the transaction commits; the task calls
``report_job_run``, which records progress step by step and stores the file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from fieldteam.choices import VILLAGE_KINDS, PeriodKind
from fieldteam.errors import field_error
from fieldteam.models import Area, BackgroundJob, Capability, JobKind, JobStatus, User
from fieldteam.periods import Period, today
from fieldteam.permissions import scope_for
from fieldteam.selectors.approvals import month_report
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.selectors.reasons import LISTS
from fieldteam.selectors.reports import (
    JOB_NAMES,
    PERIODIC,
    REPORTS,
    WORK_LIST,
    ReportDocument,
    Table,
    national_report,
    periodic_report,
    reason_list_report,
    work_list_report,
)
from fieldteam.services import jobs
from fieldteam.spreadsheets import writing

logger = logging.getLogger(__name__)

FORMATS = ("xlsx", "csv")
CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
# Areas with more villages than this get their periodic report from a background job.
INLINE_MAX_VILLAGES = 60
# Steps a report job reports as its progress: the selectors' three reads, the file, the save.
JOB_STEPS = 5


@dataclass(frozen=True)
class ReportFile:
    filename: str
    content_type: str
    content: bytes


# --- writers: one per format ----------------------------------------------------------------------

# Both go through the one spreadsheet writer (``fieldteam.spreadsheets.writing``): a village or
# person's name that looks like a formula stays text.
_FILLS = {"reached": "C8E6C9", "near": "E6EE9C", "mid": "FFE0B2", "far": "FFCDD2"}
_NUMBER_FORMATS = {"int": "#,##0", "number": "0.0", "date": "DD/MM/YYYY", "datetime": "DD/MM/YYYY HH:MM"}
_HEADER_FILL = "E3EAF2"
HEADER_ROW = 4  # the column labels; the title is on row 1, header groups (if any) on row 3


def _write_table(sheet: writing.Sheet, document: ReportDocument, table: Table) -> None:
    for index, spec in enumerate(table.columns, start=1):
        sheet.column(index, width=spec.width)
    sheet.freeze(HEADER_ROW + 1, table.frozen_columns + 1)
    sheet.print_title_row(HEADER_ROW)
    sheet.append([writing.Styled(document.title, bold=True, size=13)])
    sheet.append([writing.Styled(f"{table.title}. {document.subtitle}", italic=True)])
    groups: list[Any] = []
    column = 1
    for label, span in table.groups:
        if label and span:
            groups.append(writing.Styled(label, bold=True, wrap=True, horizontal="center", vertical="center"))
            groups += [None] * (span - 1)
            sheet.merge(HEADER_ROW - 1, column, column + span - 1)
        else:
            groups += [None] * span
        column += span
    if table.groups:
        sheet.row_height(HEADER_ROW - 1, 45)
    sheet.append(groups)
    sheet.append(
        [writing.Styled(spec.label, bold=True, fill=_HEADER_FILL, wrap=True, vertical="top") for spec in table.columns]
    )
    for row_index, row in enumerate(table.rows):
        cells: list[Any] = []
        for col_index, (spec, value) in enumerate(zip(table.columns, row, strict=True)):
            number_format = _NUMBER_FORMATS.get(spec.kind) if value is not None else None
            fill = _FILLS.get(table.bands.get((row_index, col_index), ""))
            cells.append(
                writing.Styled(value, number_format=number_format, fill=fill) if number_format or fill else value
            )
        sheet.append(cells)
    if not table.rows and table.empty_note:
        sheet.append([writing.Styled(table.empty_note, italic=True)])


def report_xlsx(document: ReportDocument) -> bytes:
    """The document as an XLSX workbook: one sheet per table, header on row ``HEADER_ROW``."""

    def build(writer: writing.SpreadsheetWriter) -> None:
        for table in document.tables:
            _write_table(writer.sheet(table.sheet), document, table)

    return writing.spreadsheet_bytes("xlsx", build)


def report_csv(document: ReportDocument) -> bytes:
    """The document as one CSV file: title lines, then each table (title, header, rows) after an empty line.

    UTF-8 with a byte-order mark; numbers with a decimal point, dates as ISO ``YYYY-MM-DD``, so the
    file reads the same in any program and language.
    """

    def build(writer: writing.SpreadsheetWriter) -> None:
        sheet = writer.sheet()
        sheet.append([document.title])
        sheet.append([document.subtitle])
        for table in document.tables:
            sheet.append([])
            sheet.append([table.title])
            sheet.append(table.header())
            for row in table.rows:
                sheet.append(row)

    # Dates as every other file and page writes them: dd/mm/yyyy (HH:MM).
    return writing.spreadsheet_bytes("csv", build)


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


def national_report_file(*, user: User, period: Period | None, fmt: str) -> ReportFile:
    """The national report (34 provinces' rows: small enough for the request), made now.

    ``ValidationError`` naming ``format`` or ``period`` for bad input; ``OutOfScope`` unless the user
    sees the nation.
    """
    _check_format(fmt)
    if period is not None:
        _check_period(period)
    return _file(national_report(user=user, period=period), fmt)


def month_report_file(*, user: User, area: Area, month: date, fmt: str) -> ReportFile:
    """A province's (or commune's) report of a closed month from its approved values, naming the communes
    not approved (``selectors.approvals.month_report``), made now, in the request."""
    _check_format(fmt)
    return _file(month_report(user=user, area=area, month=month), fmt)


def work_list_file(*, user: User, village: Area, fmt: str, capability: Capability | None = None) -> ReportFile:
    """A village's work list made now, in the request (a village is always small enough)."""
    _check_format(fmt)
    return _file(work_list_report(user=user, village=village, capability=capability), fmt)


def reason_list_file(*, user: User, area: Area, period: Period, kind: str, fmt: str) -> ReportFile:
    """One list an office acts on (``selectors.reasons.LISTS``: villages and counts) made now, in the request.

    Raises ``ValidationError`` naming ``list``, ``format`` or ``period`` for bad input, ``OutOfScope``
    unless the user sees the area's reasons.
    """
    if kind not in LISTS:
        raise field_error("list", _("Unknown list."), code="invalid_choice")
    _check_format(fmt)
    _check_period(period)
    return _file(reason_list_report(user=user, area=area, period=period, kind=kind), fmt)


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
            # exports (``fieldteam.exports``), whose runner the admin may queue again.
            kind=JobKind.REPORT,
            name=JOB_NAMES[report],
            area=area,
            params=params,
            total=JOB_STEPS,
            created_by=user,
        )
        if not in_request:
            jobs.queue_job_on_commit(job=job)
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
    area = job.area
    assert area is not None  # noqa: S101 - report_job_create always records the area (protected)
    if params.get("report") == WORK_LIST:
        capability = None
        if params.get("capability"):
            capability = Capability.objects.filter(code=params["capability"]).first()
            if capability is None:
                raise field_error("capability", _("This capability no longer exists."), code="missing")
        document = work_list_report(user=user, village=area, capability=capability)
        for _step in range(3):
            progress()
        return document
    return periodic_report(user=user, area=area, period=Period.parse(params["period"]), progress=progress)


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
