"""Imports from Excel (XLSX) and CSV files: validate every row, then write in one transaction.

How an import runs (``import_file``), whatever the kind (villages, teams, members, households,
residents, targets, reported indicator values):

1. The file is read as a stream (XLSX through python-calamine when installed, else openpyxl in
   read-only mode; CSV through the csv module), its header row matched to the kind's resource
   columns (``fieldteam.resources``). A missing required column refuses the whole file.
2. Every row is parsed and checked cell by cell (``parse``: no database), then all rows together
   (``check``: codes resolved, duplicates in the file and in the database, the actor's scope) in a
   few set-based queries. Every problem is a ``RowError`` naming the spreadsheet row and the column
   as written in the file, with a translated message.
3. All-or-nothing by default: any error and nothing is written. With ``skip_invalid`` the valid
   rows are written and the rejected ones come back as a file with their reasons. ``dry_run``
   writes nothing and reports what would be created or matched.
4. ``write`` runs in one transaction through the services, or, for households and residents, through
   the bulk functions here, which keep the services' invariants: identifiers validated, encrypted,
   hashed and masked; adoption rows and capability masks in step; the village counts moved by the
   summed deltas through ``counting.apply_deltas`` under the province's shared counts lock. After an
   import the counts are exactly what logging the same data by hand gives (the recompute finds no
   drift).

Rows are matched on natural codes, never on ids, so importing the same file twice creates nothing
the second time: villages on their code, households on village and household code (or head of
household and address), residents on their citizen ID, or on name and birth year within their
household; adoptions are idempotent (an earlier date moves the start back, as ``set_adoption`` does).

Large files run as a Celery task (``import_job_start`` writes the ``BackgroundJob`` row, then queues
``fieldteam.tasks.run_import_job`` on commit); ``manage.py import_residents`` etc. call
``import_file`` directly.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldteam import audit, identifiers
from fieldteam.choices import (
    COMMUNE_KINDS,
    PROVINCE_KINDS,
    VILLAGE_KINDS,
    AdoptionSource,
    AreaRoleKind,
    CapabilitySubject,
    ConsentChannel,
    IndicatorKind,
    MembershipRole,
    ResidentStatus,
    TargetComparison,
)
from fieldteam.errors import field_error
from fieldteam.models import (
    Adoption,
    Area,
    AreaRole,
    AuditEntry,
    BackgroundJob,
    Capability,
    ConsentRecord,
    Household,
    Indicator,
    JobKind,
    JobStatus,
    Membership,
    Resident,
    Target,
    Team,
    User,
)
from fieldteam.periods import Period, today
from fieldteam.resources import (
    CSV,
    XLSX,
    FieldteamResource,
    HouseholdResource,
    MemberResource,
    ReportedValueResource,
    ResidentResource,
    TargetResource,
    TeamResource,
    VillageResource,
)
from fieldteam.resources.base import DATE_DISPLAY, Column, HeaderProblem, fold, is_blank
from fieldteam.resources.people import capability_code_of, open_consent_given_at
from fieldteam.selectors.scope import Scope, scope_for
from fieldteam.services import counting, jobs
from fieldteam.services.consent import (
    CURRENT_NOTICE_VERSION,
    DEFAULT_PURPOSES,
    ConsentInput,
    consent_record,
    has_open_consent,
    record_consent,
)

logger = logging.getLogger(__name__)

# Keeps each ``IN (...)`` under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 500
# Rows per INSERT of the bulk writes.
INSERT_BATCH = 2000
# How often (rows) the progress of a running import is written.
PROGRESS_EVERY = 5000
# Errors kept in a job's summary (the rejected-rows file has them all).
SUMMARY_ERRORS = 200
PREVIEW_ROWS = 20
EARLIEST_BIRTH_YEAR = 1890

ProgressCallback = Callable[[int, int | None, str], None]


def name_key(full_name: str) -> str:
    """A person's name as rows are matched on it: case and spacing aside, as the duplicates list does."""
    return " ".join(full_name.split()).casefold()


# --- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem of one row: the spreadsheet row number (the header is row 1) and the column."""

    row: int
    column: str
    message: str
    code: str = "invalid"

    def text(self) -> str:
        if self.column:
            return _("Row %(row)s, column “%(column)s”: %(message)s") % {
                "row": self.row,
                "column": self.column,
                "message": self.message,
            }
        return _("Row %(row)s: %(message)s") % {"row": self.row, "message": self.message}


class ImportRefused(Exception):
    """The whole file is refused (a missing column, a role that may not import, ...)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class ImportOptions:
    """How to import. ``village``/``commune``: where the file's rows belong (the village column may
    then be left out or blank); ``import_date``: the day a "có" without a date stands for."""

    dry_run: bool = False
    skip_invalid: bool = False
    village: Area | None = None
    commune: Area | None = None
    import_date: date | None = None


@dataclass
class ImportReport:
    kind: str
    file_name: str = ""
    dry_run: bool = False
    skip_invalid: bool = False
    total_rows: int = 0
    valid_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    written: bool = False
    refused: str = ""
    preview: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rejected_rows(self) -> int:
        return len({e.row for e in self.errors})

    @property
    def ok(self) -> bool:
        return not self.refused and not self.errors

    def outcome(self) -> str:
        """One sentence for people: what happened."""
        if self.refused:
            return _("The file was refused: %(reason)s") % {"reason": self.refused}
        if self.dry_run:
            if self.errors:
                return _("Dry run: %(rejected)s of %(total)s rows have errors; nothing was saved.") % {
                    "rejected": self.rejected_rows,
                    "total": self.total_rows,
                }
            return _("Dry run: all %(total)s rows are valid; nothing was saved yet.") % {"total": self.total_rows}
        if self.written:
            if self.errors:
                return _("%(valid)s rows imported; %(rejected)s rows with errors were skipped.") % {
                    "valid": self.valid_rows,
                    "rejected": self.rejected_rows,
                }
            return _("All %(total)s rows imported.") % {"total": self.total_rows}
        return _("%(rejected)s of %(total)s rows have errors, so nothing was imported.") % {
            "rejected": self.rejected_rows,
            "total": self.total_rows,
        }

    def as_summary(self) -> dict[str, Any]:
        """JSON for ``BackgroundJob.summary``: counts, the first errors, the preview."""
        return {
            "phase": "done",
            "outcome": self.outcome(),
            "dry_run": self.dry_run,
            "skip_invalid": self.skip_invalid,
            "written": self.written,
            "refused": self.refused,
            "total_rows": self.total_rows,
            "valid_rows": self.valid_rows,
            "rejected_rows": self.rejected_rows,
            "error_count": len(self.errors),
            "errors": [e.text() for e in self.errors[:SUMMARY_ERRORS]],
            "counts": self.counts,
            "preview": self.preview,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class ImportResult:
    report: ImportReport
    rejected_file: bytes | None = None  # the rejected rows with their reasons, same format as the input


# --- reading files -----------------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[Any]
    rows: Iterator[tuple[int, list[Any]]]  # (spreadsheet row number, cell values)
    total: int | None  # data rows, counting blank ones, when known up front
    fmt: str


def detect_format(name: str) -> str:
    suffix = Path(name or "").suffix.lower().lstrip(".")
    if suffix in (XLSX, "xlsm"):
        return XLSX
    if suffix in (CSV, "txt"):
        return CSV
    raise ImportRefused(_("Upload an Excel file (.xlsx) or a CSV file (.csv)."))


def _xlsx_rows_calamine(path: Path) -> tuple[list[Any], Iterator[list[Any]], int | None] | None:
    try:
        from python_calamine import CalamineWorkbook
    except ImportError:
        return None
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheet = book.get_sheet_by_index(0)
    except Exception as exc:  # noqa: BLE001 - calamine raises its own error types; openpyxl gets a try
        logger.info("calamine could not read %s (%s); trying openpyxl", path, exc)
        return None
    rows = iter(sheet.iter_rows())
    headers = next(rows, [])
    return list(headers), rows, max(0, sheet.height - 1)


def _xlsx_rows_openpyxl(path: Path) -> tuple[list[Any], Iterator[list[Any]], int | None]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]  # a damaged file may have none
        rows = _unreadable_refused(list(r) for r in sheet.iter_rows(values_only=True))
        headers = next(rows, [])
        total = sheet.max_row - 1 if sheet.max_row else None
    except ImportRefused:
        raise
    except Exception as exc:
        raise ImportRefused(_("This is not a readable Excel file (.xlsx).")) from exc
    return list(headers), rows, total


def _unreadable_refused(rows: Iterator[list[Any]]) -> Iterator[list[Any]]:
    # openpyxl's read-only mode parses the sheet while it is iterated: damage found halfway
    # refuses the file like damage found on opening (tests/fuzz/test_imports.py).
    try:
        yield from rows
    except Exception as exc:
        raise ImportRefused(_("This is not a readable Excel file (.xlsx).")) from exc


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1258"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportRefused(_("The CSV file is not in UTF-8; save it again as “CSV UTF-8”."))


def _csv_rows(path: Path) -> tuple[list[Any], Iterator[list[Any]], int | None]:
    text = _decode(path.read_bytes())
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers = next(reader, [])
    return headers, reader, max(0, text.count("\n") - 1)


@contextlib.contextmanager
def open_table(path: Path, fmt: str) -> Iterator[Table]:
    """The file's header row and its data rows, numbered as the spreadsheet numbers them."""
    headers, rows, total = (_xlsx_rows_calamine(path) or _xlsx_rows_openpyxl(path)) if fmt == XLSX else _csv_rows(path)
    numbered = ((number, list(values)) for number, values in enumerate(rows, start=2))
    yield Table(headers=headers, rows=numbered, total=total, fmt=fmt)


def _blank_row(values: list[Any]) -> bool:
    return all(is_blank(v) for v in values)


# --- the kinds of import -------------------------------------------------------------------------------


class ImportKind:
    """One kind of file: its columns (the resource), how a row is parsed, checked and written."""

    name: ClassVar[str]
    resource_class: ClassVar[type[FieldteamResource]]

    def __init__(self, *, actor: User | None, options: ImportOptions) -> None:
        self.actor = actor
        self.options = options
        self.scope: Scope | None = scope_for(actor) if actor is not None else None
        self.resource = self.resource_class()
        self.errors: dict[int, list[RowError]] = defaultdict(list)
        self.headers: dict[str, str] = {c.key: c.header for c in self.resource.columns()}
        self.widgets = {c.key: c.widget for c in self.resource.columns()}
        self.columns: list[tuple[int, Column]] = []
        self.today = options.import_date or today()

    # --- set-up ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Refuse the whole import when the actor may not make it (``ImportRefused``)."""
        if self.scope is not None and not self.scope.can_edit:
            raise ImportRefused(_("Your role may only view; it cannot import."))
        for area in (self.options.village, self.options.commune):
            if area is not None and not self.may_write(area):
                raise ImportRefused(_("%(area)s is outside your area.") % {"area": area.name})

    def not_required(self) -> set[str]:
        return set()

    def bind(self, headers: list[Any]) -> None:
        try:
            mapping = self.resource.match_headers(headers, not_required=self.not_required())
        except HeaderProblem as problem:
            raise ImportRefused(
                _("The file has no column %(columns)s. Download the template to see the columns.")
                % {"columns": ", ".join(f"“{h}”" for h in problem.missing)}
            ) from None
        self.columns = sorted(mapping.items())
        for position, column in self.columns:
            self.headers[column.key] = str(headers[position]).strip()

    def cells(self, values: list[Any]) -> dict[str, Any]:
        width = len(values)
        return {column.key: values[position] if position < width else None for position, column in self.columns}

    # --- per row ---------------------------------------------------------------------------------

    def parse(self, row: int, cells: dict[str, Any]) -> Any:
        """The row as a value the kind can check and write, or ``None`` when it has errors."""
        raise NotImplementedError

    def check(self, items: list[Any]) -> None:
        """Checks that need all rows or the database (errors through ``fail``)."""

    def plan(self, items: list[Any]) -> dict[str, int]:
        """What ``write`` would do with these (valid) rows, as counts."""
        return {"rows": len(items)}

    def write(self, items: list[Any]) -> dict[str, int]:
        raise NotImplementedError

    def preview(self, item: Any) -> dict[str, Any]:
        return {"row": item.row}

    # --- helpers ---------------------------------------------------------------------------------

    def fail(self, row: int, key: str, message: Any, code: str = "invalid") -> None:
        self.errors[row].append(RowError(row, self.headers.get(key, key) if key else "", str(message), code))

    def value(self, row: int, cells: dict[str, Any], key: str, *, required: bool = False) -> Any:
        """The cleaned value of a cell (blank: the widget's empty value); a problem is recorded on the cell."""
        raw = cells.get(key)
        if required and is_blank(raw):
            self.fail(row, key, _("Fill in this column."), code="required")
        try:
            return self.widgets[key].clean(raw)
        except ValueError as exc:
            self.fail(row, key, exc, code="invalid")
            return None

    def may_write(self, area: Area) -> bool:
        if self.scope is None:
            return True
        return self.scope.can_edit and self.scope.contains(area)

    def is_valid(self, row: int) -> bool:
        return row not in self.errors

    def areas_by_code(self, codes: Iterable[str]) -> dict[str, Area]:
        codes = sorted({c for c in codes if c})
        found: dict[str, Area] = {}
        for start in range(0, len(codes), LOOKUP_CHUNK):
            for area in Area.objects.filter(code__in=codes[start : start + LOOKUP_CHUNK]):
                found[area.code] = area
        return found

    def flag_duplicates(self, groups: dict[Any, list[int]], key: str, message: str) -> None:
        """Every row of a group of more than one gets ``message`` naming the other rows."""
        for rows in groups.values():
            if len(rows) < 2:
                continue
            for row in rows:
                others = [str(r) for r in rows if r != row]
                shown = ", ".join(others[:10]) + (", …" if len(others) > 10 else "")
                self.fail(row, key, message % {"rows": shown}, code="duplicate_in_file")


# --- households and residents -------------------------------------------------------------------------


@dataclass(slots=True)
class HouseholdPart:
    """The household columns of a row, and its household capabilities (capability id → since)."""

    village_code: str
    code: str
    head_name: str
    address: str
    capabilities: dict[int, date]
    village: Area | None = None
    key: tuple[Any, ...] = ()
    existing: dict[str, Any] | None = None


@dataclass(slots=True)
class ResidentRow:
    row: int
    household: HouseholdPart
    full_name: str
    sex: str
    birth_year: int
    birth_date: date | None
    citizen_id: str
    phone: str
    ethnicity: str
    capabilities: dict[int, date]
    citizen_hash: str | None = None
    phone_hash: str | None = None
    existing: dict[str, Any] | None = None
    fill_citizen_id: bool = False
    fill_phone: bool = False
    # The day the resident signed the paper consent form ("Ngày ký đồng ý"), if the file gives it.
    consent_date: date | None = None


@dataclass(slots=True)
class HouseholdRow:
    row: int
    household: HouseholdPart


class _PeopleImport(ImportKind):
    """What the household and resident imports share: villages, household keys, capability columns."""

    def __init__(self, *, actor: User | None, options: ImportOptions) -> None:
        super().__init__(actor=actor, options=options)
        self.capabilities: dict[str, Capability] = {c.code: c for c in Capability.objects.filter(is_active=True)}
        self.capability_by_id = {c.pk: c for c in self.capabilities.values()}

    def not_required(self) -> set[str]:
        return {"village_code"} if (self.options.village or self.options.commune) else set()

    def bind(self, headers: list[Any]) -> None:
        super().bind(headers)
        # (yes/no key, date key, capability) for every capability column present in the file
        pairs: dict[str, list[str | None]] = {}
        for _position, column in self.columns:
            parsed = capability_code_of(column.key)
            if parsed is None:
                continue
            code, is_date = parsed
            pairs.setdefault(code, [None, None])[1 if is_date else 0] = column.key
        self.capability_columns = [
            (keys[0], keys[1], self.capabilities[code]) for code, keys in pairs.items() if code in self.capabilities
        ]

    def parse_capabilities(
        self, row: int, cells: dict[str, Any], birth: date | None
    ) -> tuple[dict[int, date], dict[int, date]]:
        """Resident and household capabilities of the row: capability id → since."""
        held: dict[int, date] = {}
        household: dict[int, date] = {}
        for yes_key, date_key, capability in self.capability_columns:
            raw_answer = cells.get(yes_key) if yes_key else None
            raw_since = cells.get(date_key) if date_key else None
            if (raw_answer is None or raw_answer == "") and (raw_since is None or raw_since == ""):
                continue  # the usual case: nothing said about this capability
            answer = self.value(row, cells, yes_key) if yes_key else None
            since = self.value(row, cells, date_key) if date_key else None
            if answer is False:
                if since is not None:
                    self.fail(
                        row, date_key or "", _("A date is given but the answer is “không”."), code="date_without_yes"
                    )
                continue
            if answer is None and since is None:
                continue
            since = since or self.today
            if since > self.today:
                self.fail(row, date_key or yes_key or "", _("The date is in the future."), code="future")
                continue
            of_household = capability.subject == CapabilitySubject.HOUSEHOLD
            if birth is not None and since < birth and not of_household:
                self.fail(row, date_key or yes_key or "", _("The date is before the birth."), code="before_birth")
                continue
            target = household if of_household else held
            if capability.pk not in target or since < target[capability.pk]:
                target[capability.pk] = since
        return held, household

    @property
    def household_code_key(self) -> str:
        return "household_code" if "household_code" in self.resource.fields else "code"

    def parse_household(self, row: int, cells: dict[str, Any]) -> HouseholdPart:
        return HouseholdPart(
            village_code=self.value(row, cells, "village_code") or "" if "village_code" in cells else "",
            code=self.value(row, cells, self.household_code_key) or "" if self.household_code_key in cells else "",
            head_name=self.value(row, cells, "head_name") or "",
            address=self.value(row, cells, "address") or "",
            capabilities={},
        )

    # --- villages and households -------------------------------------------------------------------

    def resolve_villages(self, rows: list[tuple[int, HouseholdPart]]) -> None:
        """Set each household part's village; unknown, wrong or out-of-scope codes are errors."""
        areas = self.areas_by_code(part.village_code for _row, part in rows)
        village, commune = self.options.village, self.options.commune
        for row, part in rows:
            code = part.village_code
            if not code:
                if village is not None or commune is not None:
                    part.village = village or commune
                else:
                    self.fail(row, "village_code", _("Fill in this column."), code="required")
                continue
            area = areas.get(code)
            if area is None:
                self.fail(
                    row,
                    "village_code",
                    _("No village has the code “%(code)s”.") % {"code": code},
                    code="unknown_village",
                )
            elif area.kind not in VILLAGE_KINDS | COMMUNE_KINDS:
                self.fail(
                    row,
                    "village_code",
                    _("“%(code)s” is not a village or residential group.") % {"code": code},
                    code="not_a_village",
                )
            elif village is not None and area.pk != village.pk:
                self.fail(
                    row,
                    "village_code",
                    _("The file is for %(village)s, not “%(code)s”.") % {"village": village.name, "code": code},
                    code="other_village",
                )
            elif commune is not None and not area.path.startswith(commune.path):
                self.fail(
                    row,
                    "village_code",
                    _("“%(code)s” does not lie in %(commune)s.") % {"code": code, "commune": commune.name},
                    code="other_commune",
                )
            elif not self.may_write(area):
                self.fail(
                    row, "village_code", _("“%(code)s” is outside your area.") % {"code": code}, code="out_of_scope"
                )
            else:
                part.village = area

    def household_key(self, row: int, part: HouseholdPart) -> tuple[Any, ...]:
        if part.code:
            return (part.village.pk, "code", part.code)
        if part.head_name:
            return (part.village.pk, "head", fold(part.head_name), fold(part.address))
        return (part.village.pk, "row", row)

    def resolve_households(self, rows: list[tuple[int, HouseholdPart]]) -> None:
        """Match household parts to existing households (by code, or by head of household and address)."""
        by_village_codes: dict[int, set[str]] = defaultdict(set)
        by_village_heads: dict[int, set[str]] = defaultdict(set)
        for row, part in rows:
            if part.village is None:
                continue
            part.key = self.household_key(row, part)
            if part.code:
                by_village_codes[part.village.pk].add(part.code)
            elif part.head_name:
                by_village_heads[part.village.pk].add(part.head_name)
        found = _existing_households(by_village_codes, by_village_heads)
        for row, part in rows:
            if part.village is None:
                continue
            part.existing = found.get(part.key)
            if part.existing is not None and not part.existing["is_active"]:
                key = self.household_code_key if part.code else "head_name"
                self.fail(row, key, _("This household is no longer active."), code="inactive_household")


def _existing_households(
    by_village_codes: dict[int, set[str]], by_village_heads: dict[int, set[str]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Existing households by household key: by code, else (no code) by head of household and address."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    values = ("id", "village_id", "province_id", "code", "head_name", "address", "is_active", "capability_mask")
    for village_id, codes in by_village_codes.items():
        ordered = sorted(codes)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            for hh in Household.objects.filter(village_id=village_id, code__in=chunk).values(*values):
                found[(village_id, "code", hh["code"])] = hh
    for village_id, heads in by_village_heads.items():
        ordered = sorted(heads)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            rows_found = Household.objects.filter(village_id=village_id, code="", head_name__in=chunk).order_by("pk")
            for hh in rows_found.values(*values):
                found.setdefault((village_id, "head", fold(hh["head_name"]), fold(hh["address"])), hh)
    return found


class ResidentsImport(_PeopleImport):
    """Residents with their households, one row per resident.

    A citizen ID or phone is stored only with the date the resident signed the paper consent form
    ("Ngày ký đồng ý"; recorded as a paper consent by the importing officer), or under the open
    consent of a resident already registered.
    """

    name = "residents"
    resource_class = ResidentResource

    def parse(self, row: int, cells: dict[str, Any]) -> ResidentRow | None:
        part = self.parse_household(row, cells)
        full_name = self.value(row, cells, "full_name", required=True)
        sex = self.value(row, cells, "sex", required=True)
        birth_year, birth_date = self.parse_birth(row, cells)
        citizen_id = self.value(row, cells, "citizen_id") if "citizen_id" in cells else ""
        if citizen_id:
            try:
                citizen_id = identifiers.validate_citizen_id(
                    citizen_id, birth_year=birth_year, sex=sex if sex else None
                )
            except ValidationError as exc:
                self.fail(row, "citizen_id", " ".join(exc.messages), code=exc.code or "invalid")
        phone = self.value(row, cells, "phone") if "phone" in cells else ""
        if phone:
            try:
                phone = identifiers.validate_phone(phone)
            except ValidationError as exc:
                self.fail(row, "phone", " ".join(exc.messages), code=exc.code or "invalid")
        ethnicity = self.value(row, cells, "ethnicity") or "" if "ethnicity" in cells else ""
        consent_date = self.value(row, cells, "consent_date") if "consent_date" in cells else None
        if consent_date is not None and consent_date > self.today:
            self.fail(row, "consent_date", _("The date is in the future."), code="future")
        birth = birth_date or (date(birth_year, 1, 1) if birth_year else None)
        held, household_held = self.parse_capabilities(row, cells, birth)
        part.capabilities = household_held
        if row in self.errors:
            return None
        return ResidentRow(
            row=row,
            household=part,
            full_name=full_name,
            sex=sex,
            birth_year=birth_year,  # type: ignore[arg-type]
            birth_date=birth_date,
            citizen_id=citizen_id,
            phone=phone,
            ethnicity=ethnicity,
            capabilities=held,
            citizen_hash=identifiers.keyed_hash("cccd", citizen_id) if citizen_id else None,
            phone_hash=identifiers.keyed_hash("phone", phone) if phone else None,
            consent_date=consent_date,
        )

    def parse_birth(self, row: int, cells: dict[str, Any]) -> tuple[int | None, date | None]:
        """Birth year and date: the date wins, and must agree with a year given beside it."""
        birth_date = self.value(row, cells, "birth_date") if "birth_date" in cells else None
        birth_year = self.value(row, cells, "birth_year") if "birth_year" in cells else None
        if birth_date is not None:
            if birth_date > self.today:
                self.fail(row, "birth_date", _("The birth date is in the future."), code="future")
            elif birth_year is not None and birth_year != birth_date.year:
                self.fail(row, "birth_year", _("The birth year does not match the birth date."), code="mismatch")
            birth_year = birth_date.year
        elif birth_year is None and is_blank(cells.get("birth_year")) and is_blank(cells.get("birth_date")):
            key = "birth_date" if "birth_date" in cells else "birth_year"
            self.fail(row, key, _("Give the birth date or at least the birth year."), code="required")
        if birth_year is not None and not EARLIEST_BIRTH_YEAR <= birth_year <= self.today.year:
            self.fail(
                row,
                "birth_date" if birth_date is not None else "birth_year",
                _("The birth year must be between %(low)s and %(high)s.")
                % {"low": EARLIEST_BIRTH_YEAR, "high": self.today.year},
                code="range",
            )
            birth_year = None
        return birth_year, birth_date

    def check(self, items: list[ResidentRow]) -> None:
        parts = [(i.row, i.household) for i in items]
        self.resolve_villages(parts)
        self.resolve_households(parts)
        self.check_in_file(items)
        self.match_residents([i for i in items if i.household.village is not None and self.is_valid(i.row)])
        self.check_consent([i for i in items if self.is_valid(i.row)])

    def check_consent(self, items: list[ResidentRow]) -> None:
        """A row with a citizen ID or phone needs the date the resident signed the consent form.

        Not needed when the row's resident is already registered with an open consent (the
        identifiers are then stored under that one, as ``update_resident`` does).
        """
        undated = [i for i in items if (i.citizen_id or i.phone) and i.consent_date is None]
        consented = open_consent_given_at([i.existing["id"] for i in undated if i.existing is not None])
        for item in undated:
            if item.existing is None or item.existing["id"] not in consented:
                self.fail(
                    item.row,
                    "consent_date",
                    _(
                        "A citizen ID or phone number is stored only with the date the resident signed the consent form."
                    ),
                    code="consent_required",
                )

    def check_in_file(self, items: list[ResidentRow]) -> None:
        by_hash: dict[str, list[int]] = defaultdict(list)
        by_person: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for item in items:
            if item.citizen_hash:
                by_hash[item.citizen_hash].append(item.row)
            if item.household.key:
                by_person[(item.household.key, name_key(item.full_name), item.birth_year)].append(item.row)
        self.flag_duplicates(by_hash, "citizen_id", _("The same citizen ID is also on row %(rows)s."))
        self.flag_duplicates(
            by_person, "full_name", _("The same name and birth year are also on row %(rows)s of this household.")
        )

    def match_residents(self, items: list[ResidentRow]) -> None:
        """Find each row's resident in the database: by citizen ID, else by name and birth year in the household."""
        by_hash, kept = _residents_by_hash(items)
        in_household = _residents_in_households(items)
        for item in items:
            household = item.household.existing
            same_person_key = (name_key(item.full_name), item.birth_year)
            found = by_hash.get(item.citizen_hash) if item.citizen_hash else None
            if found is not None:
                if found["status"] == ResidentStatus.MERGED and found["merged_into_id"] in kept:
                    found = kept[found["merged_into_id"]]
                if (name_key(found["full_name"]), found["birth_year"]) != same_person_key:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("This citizen ID is already registered to another resident."),
                        code="duplicate_citizen_id",
                    )
                elif household is None or found["household_id"] != household["id"]:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("This resident is already registered in another household; move them in the admin."),
                        code="other_household",
                    )
                else:
                    item.existing = found
                    item.fill_phone = bool(item.phone_hash) and not found["phone_hash"]
                continue
            if household is None:
                continue
            found = in_household.get((household["id"], *same_person_key))
            if found is None:
                continue
            if item.citizen_hash and found["citizen_id_hash"]:
                self.fail(
                    item.row,
                    "citizen_id",
                    _("The resident of this name and birth year in the household has another citizen ID."),
                    code="other_citizen_id",
                )
                continue
            item.existing = found
            item.fill_citizen_id = bool(item.citizen_hash)
            item.fill_phone = bool(item.phone_hash) and not found["phone_hash"]

    def plan(self, items: list[ResidentRow]) -> dict[str, int]:
        households = {i.household.key: i.household for i in items}
        new_residents = [i for i in items if i.existing is None]
        adoptions = sum(len(i.capabilities) for i in new_residents) + sum(
            1
            for i in items
            if i.existing is not None
            for capability_id in i.capabilities
            if not i.existing["capability_mask"] & self.capability_by_id[capability_id].mask
        )
        household_caps = _merge_household_capabilities(items)
        for key, part in households.items():
            for capability_id in household_caps.get(key, {}):
                if (
                    part.existing is None
                    or not part.existing["capability_mask"] & self.capability_by_id[capability_id].mask
                ):
                    adoptions += 1
        return {
            "households_new": sum(1 for p in households.values() if p.existing is None),
            "households_existing": sum(1 for p in households.values() if p.existing is not None),
            "residents_new": len(new_residents),
            "residents_existing": len(items) - len(new_residents),
            "adoptions_new": adoptions,
        }

    def write(self, items: list[ResidentRow]) -> dict[str, int]:
        return residents_import_bulk(actor=self.actor, rows=items, capabilities=self.capability_by_id)

    def preview(self, item: ResidentRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "village": item.household.village.code if item.household.village else "",
            "household": item.household.code or item.household.head_name,
            "full_name": item.full_name,
            "birth": item.birth_date.strftime(DATE_DISPLAY) if item.birth_date else str(item.birth_year),
            "citizen_id": identifiers.mask_citizen_id(item.citizen_id),
            "capabilities": ", ".join(
                sorted(self.capability_by_id[c].code for c in (*item.capabilities, *item.household.capabilities))
            ),
        }


_RESIDENT_VALUES = (
    "id",
    "full_name",
    "birth_year",
    "household_id",
    "village_id",
    "province_id",
    "status",
    "merged_into_id",
    "capability_mask",
    "citizen_id_hash",
    "phone_hash",
    "birth_month_index",
    "sex",
)


def _residents_by_hash(items: list[ResidentRow]) -> tuple[dict[str, dict[str, Any]], dict[int, dict[str, Any]]]:
    """Registered residents by citizen-ID hash, and the records merged ones were merged into."""
    hashes = sorted({i.citizen_hash for i in items if i.citizen_hash})
    by_hash: dict[str, dict[str, Any]] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        found = Resident.objects.filter(citizen_id_hash__in=hashes[start : start + LOOKUP_CHUNK]).values(
            *_RESIDENT_VALUES
        )
        for resident in found:
            by_hash[resident["citizen_id_hash"]] = resident
    merged_into = {r["merged_into_id"] for r in by_hash.values() if r["merged_into_id"]}
    kept = (
        {r["id"]: r for r in Resident.objects.filter(pk__in=merged_into).values(*_RESIDENT_VALUES)}
        if merged_into
        else {}
    )
    return by_hash, kept


def _residents_in_households(items: list[ResidentRow]) -> dict[tuple[int, str, int], dict[str, Any]]:
    """Residents of the matched households by (household, folded name, birth year)."""
    household_ids = sorted({i.household.existing["id"] for i in items if i.household.existing})
    found: dict[tuple[int, str, int], dict[str, Any]] = {}
    for start in range(0, len(household_ids), LOOKUP_CHUNK):
        residents = (
            Resident.objects.filter(household_id__in=household_ids[start : start + LOOKUP_CHUNK])
            .exclude(status=ResidentStatus.MERGED)
            .order_by("pk")
            .values(*_RESIDENT_VALUES)
        )
        for resident in residents:
            found.setdefault(
                (resident["household_id"], name_key(resident["full_name"]), resident["birth_year"]), resident
            )
    return found


class HouseholdsImport(_PeopleImport):
    """Households alone, with their household capabilities."""

    name = "households"
    resource_class = HouseholdResource

    def parse(self, row: int, cells: dict[str, Any]) -> HouseholdRow | None:
        part = self.parse_household(row, cells)
        if not part.code and not part.head_name:
            self.fail(row, "head_name", _("Give the household code or the head of household."), code="required")
        _held, part.capabilities = self.parse_capabilities(row, cells, None)
        if row in self.errors:
            return None
        return HouseholdRow(row=row, household=part)

    def check(self, items: list[HouseholdRow]) -> None:
        parts = [(i.row, i.household) for i in items]
        self.resolve_villages(parts)
        self.resolve_households(parts)
        groups: dict[Any, list[int]] = defaultdict(list)
        for item in items:
            if item.household.key:
                groups[item.household.key].append(item.row)
        key = "code"
        self.flag_duplicates(groups, key, _("The same household is also on row %(rows)s."))

    def plan(self, items: list[HouseholdRow]) -> dict[str, int]:
        new = sum(1 for i in items if i.household.existing is None)
        return {"households_new": new, "households_existing": len(items) - new}

    def write(self, items: list[HouseholdRow]) -> dict[str, int]:
        return households_import_bulk(
            actor=self.actor, parts=[i.household for i in items], capabilities=self.capability_by_id
        )

    def preview(self, item: HouseholdRow) -> dict[str, Any]:
        part = item.household
        return {
            "row": item.row,
            "action": "existing" if part.existing else "new",
            "village": part.village.code if part.village else "",
            "household": part.code,
            "head_name": part.head_name,
        }


def _merge_household_capabilities(items: Iterable[ResidentRow]) -> dict[tuple[Any, ...], dict[int, date]]:
    """Per household key, the household capabilities of all its rows (the earliest date wins)."""
    merged: dict[tuple[Any, ...], dict[int, date]] = defaultdict(dict)
    for item in items:
        target = merged[item.household.key]
        for capability_id, since in item.household.capabilities.items():
            if capability_id not in target or since < target[capability_id]:
                target[capability_id] = since
    return merged


# --- bulk writes of households and residents ----------------------------------------------------------


class _Counting:
    """Rules and deltas per province for one bulk write (the shared counts lock is taken once each)."""

    def __init__(self) -> None:
        self.rules: dict[int, counting.CountingRules] = {}
        self.deltas: dict[int, counting.Deltas] = {}

    def province(self, province_id: int) -> counting.Deltas:
        if province_id not in self.rules:
            self.rules[province_id] = counting.rules_for_writes(province_id)
            self.deltas[province_id] = defaultdict(lambda: [0, 0])
        return self.deltas[province_id]

    def resident(
        self, province_id: int, before: counting.ResidentFacts | None, after: counting.ResidentFacts | None
    ) -> None:
        deltas = self.province(province_id)
        counting.resident_contribution(self.rules[province_id], before, -1, deltas)
        counting.resident_contribution(self.rules[province_id], after, +1, deltas)

    def household(
        self, province_id: int, before: counting.HouseholdFacts | None, after: counting.HouseholdFacts | None
    ) -> None:
        deltas = self.province(province_id)
        counting.household_contribution(self.rules[province_id], before, -1, deltas)
        counting.household_contribution(self.rules[province_id], after, +1, deltas)

    def apply(self) -> None:
        for province_id in sorted(self.deltas):
            counting.apply_deltas(province_id, self.deltas[province_id])


def _mask_of(capability_ids: Iterable[int], capabilities: dict[int, Capability]) -> int:
    mask = 0
    for capability_id in capability_ids:
        mask |= capabilities[capability_id].mask
    return mask


def _adopt_existing(
    *,
    field_name: str,
    wanted: dict[int, dict[int, date]],
    capabilities: dict[int, Capability],
    actor: User | None,
    adoptions: list[tuple[Any, ...]],
    province_of: dict[int, int],
) -> dict[int, tuple[int, int]]:
    """Adoptions for existing subjects (locked here), as ``set_adoption`` would record them.

    ``wanted``: subject id → {capability id → since}. A capability already held keeps its open
    adoption (its start moves back to an earlier date); one not held gets a new adoption. Returns
    subject id → (old mask, new mask) for the subjects whose mask changes.
    """
    if not wanted:
        return {}
    model = Resident if field_name == "resident" else Household
    ids = sorted(wanted)
    masks: dict[int, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        # Locked in pk order, like every service that locks subjects: no deadlock with a logging member.
        masks.update(
            model.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", "capability_mask")
        )
    open_rows: dict[tuple[int, int], Adoption] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for adoption in Adoption.objects.filter(**{f"{field_name}_id__in": chunk}, ended_on__isnull=True):
            open_rows[(getattr(adoption, f"{field_name}_id"), adoption.capability_id)] = adoption
    moved_back: list[Adoption] = []
    changes: dict[int, tuple[int, int]] = {}
    for subject_id in ids:
        old = masks[subject_id]
        new = old
        for capability_id, since in sorted(wanted[subject_id].items()):
            current = open_rows.get((subject_id, capability_id))
            if current is not None:
                if since < current.since:
                    current.since = since
                    moved_back.append(current)
                continue
            adoptions.append(_adoption(field_name, subject_id, province_of[subject_id], capability_id, since, actor))
            new |= capabilities[capability_id].mask
        if new != old:
            changes[subject_id] = (old, new)
    if moved_back:
        Adoption.objects.bulk_update(moved_back, ["since"], batch_size=INSERT_BATCH)
        audit.record_bulk(moved_back, action=AuditEntry.Action.UPDATE, fields=["since"])
    for subject_id, (_old, new) in changes.items():
        model.objects.filter(pk=subject_id).update(capability_mask=new)
    return changes


def paper_consent(signed_on: date) -> ConsentInput:
    """The consent form a resident signed on ``signed_on`` (to the current notice), as the file states it.

    Given at the start of that day, local time: the form carries a date, not a time.
    """
    return ConsentInput(
        channel=ConsentChannel.PAPER,
        notice_version=CURRENT_NOTICE_VERSION,
        purposes=DEFAULT_PURPOSES,
        given_at=timezone.make_aware(datetime.combine(signed_on, datetime.min.time())),
    )


def _record_paper_consents(signed: dict[int, tuple[int, date]], actor: User | None) -> int:
    """A paper consent, recorded by ``actor``, for each resident id → (province id, date signed).

    The caller leaves out residents who already have an open consent. Returns the number recorded.
    """
    records = [
        consent_record(actor=actor, resident_id=resident_id, province_id=province_id, consent=paper_consent(signed_on))
        for resident_id, (province_id, signed_on) in signed.items()
    ]
    ConsentRecord.objects.bulk_create(records, batch_size=INSERT_BATCH)
    audit.record_bulk(records, action=AuditEntry.Action.CREATE)
    return len(records)


def _birth_month_index(birth_year: int, birth_date: date | None) -> int:
    """As ``Resident.derive_birth_month_index`` computes it."""
    if birth_date is not None:
        return Resident.month_index(birth_date.year, birth_date.month)
    return Resident.month_index(birth_year, settings.FIELDTEAM_YEAR_ONLY_BIRTH_MONTH)


def _reserve_ids(model: type[Any], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]


def bulk_insert(model: type[Any], fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[int]:
    """``_insert_rows``, and an audit entry per row for the models the trail covers (no signal fires)."""
    ids = _insert_rows(model, fields, rows)
    if auditlog.contains(model):
        audit.record_bulk(
            (model(pk=pk, **dict(zip(fields, row, strict=True))) for pk, row in zip(ids, rows, strict=True)),
            action=AuditEntry.Action.CREATE,
        )
    return ids


def _insert_rows(model: type[Any], fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> list[int]:
    """Insert ``rows`` (values of ``fields``, by attname; the model's other fields take their defaults)
    and return their ids, in order.

    PostgreSQL: ids are taken from the table's sequence first and the rows go in through binary
    ``COPY``, the database's own bulk load (an order of magnitude faster than multi-row INSERTs);
    constraints and foreign keys are checked as for any insert. Elsewhere: ``bulk_create`` in
    batches. Values are plain Python values (str, int, date, aware datetime, None).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model.objects.bulk_create(objects, batch_size=INSERT_BATCH)
        return [o.pk for o in objects]
    ids = _reserve_ids(model, len(rows))
    now = timezone.now()
    meta = model._meta
    given = [meta.get_field(name) for name in fields]
    rest = [f for f in meta.concrete_fields if not f.primary_key and f not in given]
    tail = tuple(
        now if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False) else f.get_default() for f in rest
    )
    columns = [meta.pk, *given, *rest]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    types = [_copy_type(f) for f in columns]
    binary = COPY_BINARY and None not in types
    statement = f"COPY {connection.ops.quote_name(meta.db_table)} ({names}) FROM STDIN"
    if binary:
        statement += " (FORMAT BINARY)"
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        if binary:
            copy.set_types(types)
        write = copy.write_row
        for pk, row in zip(ids, rows, strict=True):
            write((pk, *row, *tail))
    return ids


COPY_BINARY = True
_COPY_TYPES = {
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "text": "text",
    "varchar": "varchar",
}


def _copy_type(field: Any) -> str | None:
    """The PostgreSQL type name binary COPY needs for a column (``None``: not one we map)."""
    db_type = (field.db_type(connection) or "").split("(")[0].strip().lower()
    return _COPY_TYPES.get(db_type)


ADOPTION_FIELDS = ("province_id", "capability_id", "resident_id", "household_id", "since", "source", "recorded_by_id")
HOUSEHOLD_FIELDS = ("province_id", "village_id", "code", "head_name", "address", "capability_mask", "is_active")
RESIDENT_FIELDS = (
    "province_id",
    "village_id",
    "household_id",
    "full_name",
    "sex",
    "birth_year",
    "birth_date",
    "birth_month_index",
    "ethnicity",
    "citizen_id_ciphertext",
    "citizen_id_hash",
    "citizen_id_masked",
    "phone_ciphertext",
    "phone_hash",
    "phone_masked",
    "status",
    "capability_mask",
)


def _adoption(
    subject: str, subject_id: int, province_id: int, capability_id: int, since: date, actor: User | None
) -> tuple[Any, ...]:
    """An adoption row (``ADOPTION_FIELDS``) recorded by the import, as ``set_adoption`` would write it."""
    resident_id, household_id = (subject_id, None) if subject == "resident" else (None, subject_id)
    actor_id = actor.pk if actor is not None else None
    return (province_id, capability_id, resident_id, household_id, since, AdoptionSource.IMPORT.value, actor_id)


@transaction.atomic
def households_import_bulk(
    *, actor: User | None, parts: list[HouseholdPart], capabilities: dict[int, Capability]
) -> dict[str, int]:
    """Register new households and record household capabilities, in bulk, keeping the counts right.

    The parts come checked (villages resolved and in the actor's scope, existing households
    matched). New households are counted in the household indicators' denominators (and numerators
    for the capabilities they hold); existing ones gain adoptions as ``set_adoption`` would add them.
    """
    tally = _Counting()
    wanted: dict[tuple[Any, ...], dict[int, date]] = defaultdict(dict)
    by_key: dict[tuple[Any, ...], HouseholdPart] = {}
    for part in parts:
        by_key.setdefault(part.key, part)
        for capability_id, since in part.capabilities.items():
            if capability_id not in wanted[part.key] or since < wanted[part.key][capability_id]:
                wanted[part.key][capability_id] = since
    new_keys = [key for key, part in by_key.items() if part.existing is None]
    existing = {part.existing["id"]: part for part in by_key.values() if part.existing is not None}
    adoptions = _write_households(by_key, new_keys, wanted, existing, capabilities, actor, tally)
    bulk_insert(Adoption, ADOPTION_FIELDS, adoptions)
    tally.apply()
    return {"households_new": len(new_keys), "households_existing": len(existing), "adoptions_new": len(adoptions)}


def _write_households(
    parts: dict[tuple[Any, ...], HouseholdPart],
    new_keys: list[tuple[Any, ...]],
    wanted: dict[tuple[Any, ...], dict[int, date]],
    existing: dict[int, HouseholdPart],
    capabilities: dict[int, Capability],
    actor: User | None,
    tally: _Counting,
    head_names: dict[tuple[Any, ...], str] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert the new households, lock the existing ones and give both their capabilities.

    Sets ``part.existing``-like ids on the new parts (``part.new_id``) and returns the adoption rows.
    """
    for province_id in sorted({p.village.province_id or p.village.pk for p in parts.values() if p.village}):
        tally.province(province_id)
    rows = []
    for key in new_keys:
        part = parts[key]
        village = part.village
        rows.append(
            (
                village.province_id or village.id,
                village.id,
                part.code,
                part.head_name or (head_names or {}).get(key, ""),
                part.address,
                _mask_of(wanted.get(key, {}), capabilities),
                True,
            )
        )
    adoptions: list[tuple[Any, ...]] = []
    for key, row, household_id in zip(new_keys, rows, bulk_insert(Household, HOUSEHOLD_FIELDS, rows), strict=True):
        province_id, village_id, mask = row[0], row[1], row[5]
        parts[key].existing = {"id": household_id, "province_id": province_id, "village_id": village_id, "new": True}
        tally.household(province_id, None, counting.HouseholdFacts(village_id, True, mask))
        adoptions.extend(
            _adoption("household", household_id, province_id, capability_id, since, actor)
            for capability_id, since in sorted(wanted.get(key, {}).items())
        )
    changes = _adopt_existing(
        field_name="household",
        wanted={hh_id: wanted[p.key] for hh_id, p in existing.items() if wanted.get(p.key)},
        capabilities=capabilities,
        actor=actor,
        adoptions=adoptions,
        province_of={hh_id: p.existing["province_id"] for hh_id, p in existing.items()},  # type: ignore[index]
    )
    for hh_id, (old, new_mask) in changes.items():
        facts = existing[hh_id].existing
        tally.household(
            facts["province_id"],
            counting.HouseholdFacts(facts["village_id"], True, old),
            counting.HouseholdFacts(facts["village_id"], True, new_mask),
        )
    return adoptions


@transaction.atomic
def residents_import_bulk(
    *, actor: User | None, rows: list[ResidentRow], capabilities: dict[int, Capability]
) -> dict[str, int]:
    """Register residents (and their new households) and record their capabilities, in bulk.

    Rows come checked (``ResidentsImport.check``). In one transaction, as ``register_household``,
    ``register_resident``, ``update_resident`` and ``set_adoption`` would do one by one:

    - new households and residents are inserted with their identifiers encrypted, hashed and masked
      and their capability masks set from the adoptions inserted with them;
    - matched residents and households are locked (pk order) and gain the adoptions they lack (an
      earlier date moves an open adoption's start back); a matched resident without a citizen ID or
      phone gets the file's through ``update_resident``;
    - the village counts move by the summed deltas, one upsert per province, under the province's
      shared counts lock.
    """
    tally = _Counting()
    household_caps = _merge_household_capabilities(rows)
    parts: dict[tuple[Any, ...], HouseholdPart] = {}
    head_names: dict[tuple[Any, ...], str] = {}
    for item in rows:
        parts.setdefault(item.household.key, item.household)
        head_names.setdefault(item.household.key, item.full_name)
    new_keys = [key for key, part in parts.items() if part.existing is None]
    existing_households = {p.existing["id"]: p for p in parts.values() if p.existing is not None}
    adoptions = _write_households(
        parts, new_keys, household_caps, existing_households, capabilities, actor, tally, head_names
    )

    # New residents go in with their masks; every row of a household shares its (now known) id.
    masks = {c.id: c.mask for c in capabilities.values()}
    new_rows: list[ResidentRow] = [i for i in rows if i.existing is None]
    resident_rows = []
    facts = []
    active = ResidentStatus.ACTIVE.value
    for item in new_rows:
        part = parts[item.household.key]
        household = part.existing or {}
        mask = 0
        for capability_id in item.capabilities:
            mask |= masks[capability_id]
        province_id, village_id, sex = household["province_id"], part.village.id, str(item.sex)
        month = _birth_month_index(item.birth_year, item.birth_date)
        resident_rows.append(
            (
                province_id,
                village_id,
                household["id"],
                item.full_name,
                sex,
                item.birth_year,
                item.birth_date,
                month,
                item.ethnicity,
                identifiers.encrypt(item.citizen_id),
                item.citizen_hash,
                identifiers.mask_citizen_id(item.citizen_id),
                identifiers.encrypt(item.phone),
                item.phone_hash,
                identifiers.mask_phone(item.phone),
                active,
                mask,
            )
        )
        facts.append((province_id, counting.ResidentFacts(village_id, month, sex, True, mask)))
    resident_ids = bulk_insert(Resident, RESIDENT_FIELDS, resident_rows)
    signed: dict[int, tuple[int, date]] = {
        resident_id: (province_id, item.consent_date)
        for item, (province_id, _after), resident_id in zip(new_rows, facts, resident_ids, strict=True)
        if item.consent_date is not None
    }
    for item, (province_id, after), resident_id in zip(new_rows, facts, resident_ids, strict=True):
        tally.resident(province_id, None, after)
        adoptions.extend(
            _adoption("resident", resident_id, province_id, capability_id, since, actor)
            for capability_id, since in sorted(item.capabilities.items())
        )

    matched = [i for i in rows if i.existing is not None]
    _adopt_matched_residents(matched, capabilities, actor, adoptions, tally)
    bulk_insert(Adoption, ADOPTION_FIELDS, adoptions)
    tally.apply()
    # Registered residents get the file's consent only if they have no open one (never a second);
    # those given identifiers below then hold one, which ``update_resident`` requires.
    matched_signed: dict[int, tuple[int, date]] = {}
    for item in matched:
        if item.consent_date is not None and item.existing is not None:
            matched_signed.setdefault(item.existing["id"], (item.existing["province_id"], item.consent_date))
    for resident_id in open_consent_given_at(list(matched_signed)):
        del matched_signed[resident_id]
    _record_paper_consents({**signed, **matched_signed}, actor)
    filled = _fill_identifiers(matched, actor)
    return {
        "households_new": len(new_keys),
        "households_existing": len(existing_households),
        "residents_new": len(new_rows),
        "residents_existing": len(matched),
        "adoptions_new": len(adoptions),
        "identifiers_added": filled,
    }


def _adopt_matched_residents(
    matched: list[ResidentRow],
    capabilities: dict[int, Capability],
    actor: User | None,
    adoptions: list[tuple[Any, ...]],
    tally: _Counting,
) -> None:
    """Matched residents gain the capabilities they lack (their counts move with their masks)."""
    wanted: dict[int, dict[int, date]] = defaultdict(dict)
    facts_of: dict[int, dict[str, Any]] = {}
    for item in matched:
        existing = item.existing or {}
        facts_of[existing["id"]] = existing
        target = wanted[existing["id"]]
        for capability_id, since in item.capabilities.items():
            if capability_id not in target or since < target[capability_id]:
                target[capability_id] = since
    changes = _adopt_existing(
        field_name="resident",
        wanted={pk: caps for pk, caps in wanted.items() if caps},
        capabilities=capabilities,
        actor=actor,
        adoptions=adoptions,
        province_of={pk: facts["province_id"] for pk, facts in facts_of.items()},
    )
    for resident_id, (old, new_mask) in changes.items():
        facts = facts_of[resident_id]
        active = facts["status"] == ResidentStatus.ACTIVE
        before = counting.ResidentFacts(facts["village_id"], facts["birth_month_index"], facts["sex"], active, old)
        after = counting.ResidentFacts(facts["village_id"], facts["birth_month_index"], facts["sex"], active, new_mask)
        tally.resident(facts["province_id"], before, after)


def _fill_identifiers(matched: list[ResidentRow], actor: User | None) -> int:
    """A matched resident without a citizen ID or phone gets the file's, through ``update_resident``.

    Under the resident's open consent: checked before (``check_consent``) or recorded just before
    from the file's consent date (``_record_paper_consents``).
    """
    from fieldteam.services.people import update_resident

    filled = 0
    for item in matched:
        changes: dict[str, str] = {}
        if item.fill_citizen_id:
            changes["citizen_id"] = item.citizen_id
        if item.fill_phone:
            changes["phone"] = item.phone
        if changes and item.existing is not None:
            update_resident(actor=actor, resident=Resident.objects.get(pk=item.existing["id"]), **changes)
            filled += 1
    return filled


class RowByRowResidents(ResidentsImport):
    """The resident import as django-import-export runs it: row by row, each saved through the services.

    Used by ``ResidentResource.import_data`` (the library's default, non-bulk path). Every row is
    parsed and checked like in the bulk import, then saved with ``register_household``,
    ``register_resident``, ``update_resident`` and ``set_adoption``.
    """

    def __init__(self, *, actor: User | None, options: ImportOptions, resource: ResidentResource) -> None:
        super().__init__(actor=actor, options=options)
        self.resource = resource
        self.headers = {c.key: c.header for c in resource.columns()}
        self.widgets = {c.key: c.widget for c in resource.columns()}
        self.row_number = 1
        self.seen_hashes: dict[str, int] = {}
        self.seen_people: dict[tuple[Any, ...], int] = {}

    def start(self, headers: list[Any]) -> None:  # type: ignore[override]
        super().start()
        self.bind(headers)
        self.header_names = headers

    def parse_and_match(self, row: dict[str, Any]) -> tuple[Resident, bool]:
        self.row_number += 1
        number = self.row_number
        values = [row.get(h) for h in self.header_names]
        item = self.parse(number, self.cells(values))
        if item is not None:
            self.check([item])
        if number in self.errors:
            messages: dict[str, list[str]] = defaultdict(list)
            for error in self.errors[number]:
                messages[error.column or "__all__"].append(error.message)
            raise ValidationError(dict(messages))
        if item.existing is not None:
            resident = Resident.objects.get(pk=item.existing["id"])
            new = False
        else:
            resident = Resident(
                full_name=item.full_name, sex=item.sex, birth_year=item.birth_year, birth_date=item.birth_date
            )
            new = True
        resident._import_item = item  # type: ignore[attr-defined]
        return resident, new

    def check_in_file(self, items: list[ResidentRow]) -> None:
        for item in items:
            if item.citizen_hash:
                other = self.seen_hashes.setdefault(item.citizen_hash, item.row)
                if other != item.row:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("The same citizen ID is also on row %(rows)s.") % {"rows": other},
                        code="duplicate_in_file",
                    )
            if item.household.key:
                key = (item.household.key, name_key(item.full_name), item.birth_year)
                other = self.seen_people.setdefault(key, item.row)
                if other != item.row:
                    self.fail(
                        item.row,
                        "full_name",
                        _("The same name and birth year are also on row %(rows)s of this household.") % {"rows": other},
                        code="duplicate_in_file",
                    )

    def save(self, instance: Resident, is_create: bool) -> None:
        from fieldteam.services.adoption import set_adoption
        from fieldteam.services.people import register_household, register_resident, update_resident

        item: ResidentRow = instance._import_item  # type: ignore[attr-defined]
        part = item.household
        if part.existing is not None:
            household = Household.objects.get(pk=part.existing["id"])
        else:
            household = register_household(
                actor=self.actor,
                village=part.village,
                code=part.code,
                head_name=part.head_name or item.full_name,
                address=part.address,
            )
        if is_create:
            resident = register_resident(
                actor=self.actor,
                household=household,
                full_name=item.full_name,
                sex=item.sex,
                birth_year=item.birth_year,
                birth_date=item.birth_date,
                citizen_id=item.citizen_id,
                phone=item.phone,
                ethnicity=item.ethnicity,
                consent=paper_consent(item.consent_date) if item.consent_date is not None else None,
            )
        else:
            resident = instance
            changes = {}
            if item.fill_citizen_id:
                changes["citizen_id"] = item.citizen_id
            if item.fill_phone:
                changes["phone"] = item.phone
            # Never a second consent for a resident who has an open one.
            consent = (
                paper_consent(item.consent_date)
                if item.consent_date is not None and not has_open_consent(resident)
                else None
            )
            if changes:
                resident = update_resident(actor=self.actor, resident=resident, consent=consent, **changes)
            elif consent is not None:
                record_consent(actor=self.actor, resident=resident, consent=consent)
        for capability_id, since in sorted(item.capabilities.items()):
            set_adoption(
                actor=self.actor,
                capability=self.capability_by_id[capability_id],
                since=since,
                source=AdoptionSource.IMPORT,
                resident=resident,
            )
        for capability_id, since in sorted(part.capabilities.items()):
            set_adoption(
                actor=self.actor,
                capability=self.capability_by_id[capability_id],
                since=since,
                source=AdoptionSource.IMPORT,
                household=household,
            )
        instance.pk = resident.pk
        instance.__dict__.update({k: v for k, v in resident.__dict__.items() if k != "_state"})


# --- villages ------------------------------------------------------------------------------------------


@dataclass(slots=True)
class VillageRow:
    row: int
    commune_code: str
    code: str
    name: str
    kind: str
    commune: Area | None = None
    existing: Area | None = None


class VillagesImport(ImportKind):
    name = "villages"
    resource_class = VillageResource

    def parse(self, row: int, cells: dict[str, Any]) -> VillageRow | None:
        item = VillageRow(
            row=row,
            commune_code=self.value(row, cells, "commune_code", required=True) or "",
            code=self.value(row, cells, "code", required=True) or "",
            name=self.value(row, cells, "name", required=True) or "",
            kind=self.value(row, cells, "kind", required=True) or "",
        )
        return None if row in self.errors else item

    def check(self, items: list[VillageRow]) -> None:
        self.flag_duplicates(
            _group(items, lambda i: i.code), "code", _("The same village code is also on row %(rows)s.")
        )
        areas = self.areas_by_code([i.commune_code for i in items] + [i.code for i in items])
        parents = _parents([a for a in areas.values() if a.kind in VILLAGE_KINDS])
        for item in items:
            commune = areas.get(item.commune_code)
            if commune is None:
                self.fail(
                    item.row,
                    "commune_code",
                    _("No commune has the official code “%(code)s”.") % {"code": item.commune_code},
                    code="unknown_commune",
                )
                continue
            if commune.kind not in COMMUNE_KINDS:
                self.fail(
                    item.row,
                    "commune_code",
                    _("“%(code)s” is not the code of a commune, ward or special zone.") % {"code": item.commune_code},
                    code="not_a_commune",
                )
                continue
            if self.options.commune is not None and commune.pk != self.options.commune.pk:
                self.fail(
                    item.row,
                    "commune_code",
                    _("The file is for %(commune)s.") % {"commune": self.options.commune.name},
                    code="other_commune",
                )
                continue
            if not self.may_write(commune):
                self.fail(
                    item.row,
                    "commune_code",
                    _("“%(code)s” is outside your area.") % {"code": item.commune_code},
                    code="out_of_scope",
                )
                continue
            item.commune = commune
            taken = areas.get(item.code)
            if taken is not None:
                if taken.kind in VILLAGE_KINDS and parents.get(taken.pk) == commune.pk:
                    item.existing = taken
                else:
                    self.fail(
                        item.row,
                        "code",
                        _("The code “%(code)s” is already used by %(area)s.") % {"code": item.code, "area": taken.name},
                        code="code_taken",
                    )

    def plan(self, items: list[VillageRow]) -> dict[str, int]:
        existing = [i for i in items if i.existing is not None]
        changed = sum(1 for i in existing if (i.existing.name, i.existing.kind) != (i.name, i.kind))  # type: ignore[union-attr]
        return {
            "villages_new": len(items) - len(existing),
            "villages_existing": len(existing),
            "villages_updated": changed,
        }

    @transaction.atomic
    def write(self, items: list[VillageRow]) -> dict[str, int]:
        from fieldteam.services.areas import create_village

        counts = self.plan(items)
        for item in sorted(items, key=lambda i: (i.commune_code, i.code)):
            if item.existing is None:
                commune = Area.objects.get(pk=item.commune.pk)  # fresh path: earlier inserts may have moved it
                try:
                    create_village(commune=commune, code=item.code, name=item.name, kind=item.kind)
                except ValidationError as exc:
                    raise _row_failure(item.row, self, exc) from exc
            elif (item.existing.name, item.existing.kind) != (item.name, item.kind):
                Area.objects.filter(pk=item.existing.pk).update(name=item.name, kind=item.kind)
        return counts

    def preview(self, item: VillageRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "commune": item.commune_code,
            "code": item.code,
            "name": item.name,
        }


def _group(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item.row)
    return groups


def _parents(areas: list[Area]) -> dict[int, int]:
    """Area id → parent id, in one query."""
    paths = {a.path[: -Area.steplen]: a.pk for a in areas if a.depth > 1}
    result = {}
    by_path = dict(Area.objects.filter(path__in=list(paths)).values_list("path", "pk")) if paths else {}
    for area in areas:
        parent = by_path.get(area.path[: -Area.steplen])
        if parent is not None:
            result[area.pk] = parent
    return result


class RowFailure(Exception):
    """A service refused a row while writing (e.g. data changed since the check): the import is undone."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(e.text() for e in errors))
        self.errors = errors


def _row_failure(row: int, kind: ImportKind, exc: ValidationError) -> RowFailure:
    errors = []
    if hasattr(exc, "error_dict"):
        for key, messages in exc.message_dict.items():
            column = kind.headers.get(key, "")
            errors.extend(RowError(row, column, m, "refused") for m in messages)
    else:
        errors.extend(RowError(row, "", m, "refused") for m in exc.messages)
    return RowFailure(errors)


# --- teams and members -------------------------------------------------------------------------------


@dataclass(slots=True)
class TeamRow:
    row: int
    village_codes: list[str]
    name: str
    founded_on: date
    decision_ref: str
    is_active: bool
    areas: list[Area] = field(default_factory=list)
    existing: Team | None = None


class TeamsImport(ImportKind):
    name = "teams"
    resource_class = TeamResource

    def parse(self, row: int, cells: dict[str, Any]) -> TeamRow | None:
        codes = self.value(row, cells, "village_codes", required=True) or []
        founded_on = self.value(row, cells, "founded_on", required=True)
        if founded_on is not None and founded_on > self.today:
            self.fail(row, "founded_on", _("The date is in the future."), code="future")
        active = self.value(row, cells, "is_active") if "is_active" in cells else None
        item = TeamRow(
            row=row,
            village_codes=codes,
            name=self.value(row, cells, "name") or "" if "name" in cells else "",
            founded_on=founded_on,  # type: ignore[arg-type]
            decision_ref=self.value(row, cells, "decision_ref") or "" if "decision_ref" in cells else "",
            is_active=True if active is None else active,
        )
        return None if row in self.errors else item

    def check(self, items: list[TeamRow]) -> None:
        areas = self.areas_by_code(code for i in items for code in i.village_codes)
        for item in items:
            for code in item.village_codes:
                area = areas.get(code)
                if area is None:
                    self.fail(
                        item.row,
                        "village_codes",
                        _("No village has the code “%(code)s”.") % {"code": code},
                        code="unknown_village",
                    )
                elif area.kind in PROVINCE_KINDS:
                    self.fail(
                        item.row,
                        "village_codes",
                        _("A team serves villages or a commune, not a province."),
                        code="province",
                    )
                elif not self.may_write(area):
                    self.fail(
                        item.row,
                        "village_codes",
                        _("“%(code)s” is outside your area.") % {"code": code},
                        code="out_of_scope",
                    )
                else:
                    item.areas.append(area)
            if not self.is_valid(item.row):
                continue
            if len({a.province_id for a in item.areas}) > 1:
                self.fail(
                    item.row, "village_codes", _("A team serves areas of one province only."), code="several_provinces"
                )
                continue
            if not item.name:
                item.name = f"Tổ công nghệ số cộng đồng {item.areas[0].name}"
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            _group(valid, lambda i: (fold(i.name), i.areas[0].pk)), "name", _("The same team is also on row %(rows)s.")
        )
        for item in valid:
            if self.is_valid(item.row):
                item.existing = Team.objects.filter(name=item.name, areas=item.areas[0]).order_by("pk").first()

    def plan(self, items: list[TeamRow]) -> dict[str, int]:
        existing = sum(1 for i in items if i.existing is not None)
        return {"teams_new": len(items) - existing, "teams_existing": existing}

    @transaction.atomic
    def write(self, items: list[TeamRow]) -> dict[str, int]:
        counts = self.plan(items)
        for item in items:
            team = item.existing or Team(province_id=item.areas[0].province_id or item.areas[0].pk)
            team.name, team.founded_on = item.name, item.founded_on
            team.decision_ref, team.is_active = item.decision_ref, item.is_active
            try:
                team.full_clean(exclude=["areas"])
            except ValidationError as exc:
                raise _row_failure(item.row, self, exc) from exc
            team.save()
            team.areas.set(item.areas)
        return counts

    def preview(self, item: TeamRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "name": item.name,
            "villages": ", ".join(item.village_codes),
        }


@dataclass(slots=True)
class MemberRow:
    row: int
    village_code: str
    team_name: str
    username: str
    last_name: str
    first_name: str
    phone: str
    role: str
    affiliation: str
    started_on: date
    ended_on: date | None
    team: Team | None = None
    user: User | None = None
    membership: Membership | None = None


class MembersImport(ImportKind):
    name = "members"
    resource_class = MemberResource

    def parse(self, row: int, cells: dict[str, Any]) -> MemberRow | None:
        username = self.value(row, cells, "username", required=True) or ""
        if username:
            try:
                UnicodeUsernameValidator()(username)
            except ValidationError as exc:
                self.fail(row, "username", " ".join(exc.messages), code="invalid_username")
        phone = self.value(row, cells, "phone") or "" if "phone" in cells else ""
        if phone:
            try:
                phone = identifiers.validate_phone(phone)
            except ValidationError as exc:
                self.fail(row, "phone", " ".join(exc.messages), code="phone_format")
        started_on = self.value(row, cells, "started_on", required=True)
        ended_on = self.value(row, cells, "ended_on") if "ended_on" in cells else None
        for key, day in (("started_on", started_on), ("ended_on", ended_on)):
            if day is not None and day > self.today:
                self.fail(row, key, _("The date is in the future."), code="future")
        if started_on and ended_on and ended_on < started_on:
            self.fail(row, "ended_on", _("The end date is before the start date."), code="before_start")
        item = MemberRow(
            row=row,
            village_code=self.value(row, cells, "village_code", required=True) or "",
            team_name=self.value(row, cells, "team_name") or "" if "team_name" in cells else "",
            username=username,
            last_name=self.value(row, cells, "last_name") or "" if "last_name" in cells else "",
            first_name=self.value(row, cells, "first_name") or "" if "first_name" in cells else "",
            phone=phone,
            role=(self.value(row, cells, "role") if "role" in cells else None) or MembershipRole.MEMBER,
            affiliation=self.value(row, cells, "affiliation") or "" if "affiliation" in cells else "",
            started_on=started_on,  # type: ignore[arg-type]
            ended_on=ended_on,
        )
        return None if row in self.errors else item

    def check(self, items: list[MemberRow]) -> None:
        areas = self.areas_by_code(i.village_code for i in items)
        users = {u.username: u for u in User.objects.filter(username__in=sorted({i.username for i in items}))}
        for item in items:
            area = areas.get(item.village_code)
            if area is None:
                self.fail(
                    item.row,
                    "village_code",
                    _("No village has the code “%(code)s”.") % {"code": item.village_code},
                    code="unknown_village",
                )
                continue
            if not self.may_write(area):
                self.fail(
                    item.row,
                    "village_code",
                    _("“%(code)s” is outside your area.") % {"code": item.village_code},
                    code="out_of_scope",
                )
                continue
            teams = list(Team.objects.filter(areas=area).order_by("pk"))
            if item.team_name:
                teams = [t for t in teams if fold(t.name) == fold(item.team_name)]
            if not teams:
                self.fail(
                    item.row,
                    "team_name" if item.team_name else "village_code",
                    _("No team serves this village under that name.")
                    if item.team_name
                    else _("No team serves this village."),
                    code="no_team",
                )
                continue
            if len(teams) > 1:
                self.fail(
                    item.row,
                    "team_name",
                    _("Several teams serve this village; give the team's name."),
                    code="several_teams",
                )
                continue
            item.team = teams[0]
            user = users.get(item.username)
            if user is not None and not self.may_use_user(user):
                self.fail(
                    item.row,
                    "username",
                    _("This user name belongs to someone outside your area."),
                    code="user_out_of_scope",
                )
                continue
            item.user = user
            if user is not None:
                item.membership = Membership.objects.filter(
                    team=item.team, user=user, ended_on__isnull=True
                ).first() or (Membership.objects.filter(team=item.team, user=user, started_on=item.started_on).first())
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            _group(valid, lambda i: (i.team.pk, i.username)),
            "username",
            _("The same member of the same team is also on row %(rows)s."),
        )  # type: ignore[union-attr]

    def may_use_user(self, user: User) -> bool:
        """A user the actor may put in a team: no administrator; for an officer, nobody placed only elsewhere."""
        if user.is_superuser:
            return self.actor is not None and self.actor.is_superuser
        if self.scope is None or self.scope.everything:
            return True
        places = list(AreaRole.objects.filter(user=user).select_related("area").values_list("area__path", flat=True))
        places += list(
            Area.objects.filter(teams__memberships__user=user, teams__memberships__ended_on__isnull=True).values_list(
                "path", flat=True
            )
        )
        return not places or any(self.scope.contains(Area(path=p)) for p in places)

    def plan(self, items: list[MemberRow]) -> dict[str, int]:
        return {
            "users_new": len({i.username for i in items if i.user is None}),
            "memberships_new": sum(1 for i in items if i.membership is None),
            "memberships_existing": sum(1 for i in items if i.membership is not None),
        }

    @transaction.atomic
    def write(self, items: list[MemberRow]) -> dict[str, int]:
        counts = self.plan(items)
        created: dict[str, User] = {}
        for item in items:
            user = item.user or created.get(item.username)
            if user is None:
                user = User(
                    username=item.username,
                    first_name=item.first_name,
                    last_name=item.last_name,
                    phone_display=item.phone,
                )
                user.set_unusable_password()
                user.save()
                created[item.username] = user
            else:
                changed = [
                    name for name in ("first_name", "last_name") if not getattr(user, name) and getattr(item, name)
                ]
                if not user.phone_display and item.phone:
                    changed.append("phone_display")
                for name in changed:
                    setattr(user, name, getattr(item, name if name != "phone_display" else "phone"))
                if changed:
                    user.save(update_fields=changed)
            membership = item.membership or Membership(team=item.team, user=user)
            membership.role, membership.affiliation = item.role, item.affiliation
            membership.started_on, membership.ended_on = item.started_on, item.ended_on
            try:
                membership.full_clean(validate_constraints=False)
                with transaction.atomic():
                    membership.save()
            except (ValidationError, IntegrityError) as exc:
                error = (
                    exc
                    if isinstance(exc, ValidationError)
                    else field_error(
                        "username", _("This member already has an open membership in the team."), code="duplicate"
                    )
                )
                raise _row_failure(item.row, self, error) from exc
        return counts

    def preview(self, item: MemberRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.membership else "new",
            "team": item.team.name if item.team else "",
            "username": item.username,
            "role": item.role,
        }


# --- targets and reported values -------------------------------------------------------------------


def _is_province_officer_for(actor: User | None, area: Area) -> bool:
    """Targets and reported values are set by the province officer of the area (or a superuser)."""
    if actor is None or actor.is_superuser:
        return True
    paths = AreaRole.objects.filter(user=actor, role=AreaRoleKind.PROVINCE_OFFICER).values_list("area__path", flat=True)
    return any(area.path.startswith(p) for p in paths)


def _check_indicator_and_area(importer: Any, items: list[Any], *, reported_only: bool, out_of_scope: Any) -> None:
    """Resolve each row's indicator and area codes and check them (targets and reported values alike).

    Only a province officer of the area may set its targets or report its values; ``reported_only``
    refuses indicators computed from household data.
    """
    indicators = {i.code: i for i in Indicator.objects.filter(code__in={i.indicator_code for i in items})}
    areas = importer.areas_by_code(i.area_code for i in items)
    for item in items:
        item.indicator = indicators.get(item.indicator_code)
        item.area = areas.get(item.area_code)
        if item.indicator is None:
            importer.fail(
                item.row,
                "indicator_code",
                _("No indicator has the code “%(code)s”.") % {"code": item.indicator_code},
                code="unknown_indicator",
            )
        elif reported_only and item.indicator.kind != IndicatorKind.REPORTED:
            importer.fail(
                item.row, "indicator_code", _("This indicator is computed from household data."), code="computed"
            )
        elif item.indicator.unit == "%" and item.value > 100:
            importer.fail(item.row, "value", _("A percentage cannot exceed 100."), code="range")
        if item.area is None:
            importer.fail(
                item.row,
                "area_code",
                _("No area has the code “%(code)s”.") % {"code": item.area_code},
                code="unknown_area",
            )
        elif not importer.may_write(item.area) or not _is_province_officer_for(importer.actor, item.area):
            importer.fail(item.row, "area_code", out_of_scope, code="out_of_scope")


@dataclass(slots=True)
class TargetRow:
    row: int
    indicator_code: str
    area_code: str
    year: int
    value: Decimal
    comparison: str
    source: str
    indicator: Indicator | None = None
    area: Area | None = None
    existing: Target | None = None


class TargetsImport(ImportKind):
    name = "targets"
    resource_class = TargetResource

    def parse(self, row: int, cells: dict[str, Any]) -> TargetRow | None:
        value = self.value(row, cells, "value", required=True)
        if value is not None and value < 0:
            self.fail(row, "value", _("Enter a value of zero or more."), code="range")
        if value is not None and value >= Decimal("100000"):
            self.fail(row, "value", _("The value is too large."), code="range")
        item = TargetRow(
            row=row,
            indicator_code=self.value(row, cells, "indicator_code", required=True) or "",
            area_code=self.value(row, cells, "area_code", required=True) or "",
            year=self.value(row, cells, "year", required=True),
            value=value,  # type: ignore[arg-type]
            comparison=(self.value(row, cells, "comparison") if "comparison" in cells else None)
            or TargetComparison.AT_LEAST,
            source=self.value(row, cells, "source") or "" if "source" in cells else "",
        )
        return None if row in self.errors else item

    def check(self, items: list[TargetRow]) -> None:
        _check_indicator_and_area(
            self, items, reported_only=False, out_of_scope=_("Only the province officer of this area sets its targets.")
        )
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            _group(valid, lambda i: (i.indicator.pk, i.area.pk, i.year)),
            "year",
            _("The same target is also on row %(rows)s."),
        )  # type: ignore[union-attr]
        existing = {
            (t.indicator_id, t.area_id, t.year): t
            for t in Target.objects.filter(indicator__in={i.indicator for i in valid}, area__in={i.area for i in valid})
        }
        for item in valid:
            item.existing = existing.get((item.indicator.pk, item.area.pk, item.year))  # type: ignore[union-attr]

    def plan(self, items: list[TargetRow]) -> dict[str, int]:
        existing = sum(1 for i in items if i.existing is not None)
        return {"targets_new": len(items) - existing, "targets_existing": existing}

    @transaction.atomic
    def write(self, items: list[TargetRow]) -> dict[str, int]:
        counts = self.plan(items)
        for item in items:
            target = item.existing or Target(indicator=item.indicator, area=item.area, year=item.year)
            target.value, target.comparison, target.source = item.value, item.comparison, item.source
            try:
                target.full_clean(validate_unique=False)
            except ValidationError as exc:
                raise _row_failure(item.row, self, exc) from exc
            target.save()
        return counts

    def preview(self, item: TargetRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "indicator": item.indicator_code,
            "area": item.area_code,
            "year": item.year,
            "value": str(item.value),
        }


@dataclass(slots=True)
class ReportedValueRow:
    row: int
    indicator_code: str
    area_code: str
    period: Period
    value: Decimal
    note: str
    indicator: Indicator | None = None
    area: Area | None = None


class ReportedValuesImport(ImportKind):
    name = "indicator_values"
    resource_class = ReportedValueResource

    def start(self) -> None:
        super().start()
        if self.actor is None:
            raise ImportRefused(_("Reported values record who reported them: import them as a user (--as-user)."))

    def parse(self, row: int, cells: dict[str, Any]) -> ReportedValueRow | None:
        value = self.value(row, cells, "value", required=True)
        if value is not None and value < 0:
            self.fail(row, "value", _("Enter a value of zero or more."), code="range")
        period = self.value(row, cells, "period", required=True)
        if period is not None and period.start > self.today:
            self.fail(row, "period", _("The period has not started yet."), code="future")
        item = ReportedValueRow(
            row=row,
            indicator_code=self.value(row, cells, "indicator_code", required=True) or "",
            area_code=self.value(row, cells, "area_code", required=True) or "",
            period=period,  # type: ignore[arg-type]
            value=value,  # type: ignore[arg-type]
            note=self.value(row, cells, "note") or "" if "note" in cells else "",
        )
        return None if row in self.errors else item

    def check(self, items: list[ReportedValueRow]) -> None:
        _check_indicator_and_area(
            self,
            items,
            reported_only=True,
            out_of_scope=_("Only the province officer of this area reports its values."),
        )
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            _group(valid, lambda i: (i.indicator.pk, i.area.pk, i.period)),
            "period",
            _("The same value is also on row %(rows)s."),
        )  # type: ignore[union-attr]

    @transaction.atomic
    def write(self, items: list[ReportedValueRow]) -> dict[str, int]:
        from fieldteam.services.rollup import report_indicator_value

        for item in items:
            try:
                report_indicator_value(
                    actor=self.actor,
                    indicator=item.indicator,
                    area=item.area,
                    period=item.period,
                    value=item.value,
                    note=item.note,
                )  # type: ignore[arg-type]
            except ValidationError as exc:
                raise _row_failure(item.row, self, exc) from exc
        return {"values": len(items)}

    def preview(self, item: ReportedValueRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "indicator": item.indicator_code,
            "area": item.area_code,
            "period": str(item.period),
            "value": str(item.value),
        }


KINDS: dict[str, type[ImportKind]] = {
    kind.name: kind
    for kind in (
        VillagesImport,
        TeamsImport,
        MembersImport,
        HouseholdsImport,
        ResidentsImport,
        TargetsImport,
        ReportedValuesImport,
    )
}
KIND_LABELS = {
    "villages": gettext_lazy("villages"),
    "teams": gettext_lazy("teams"),
    "members": gettext_lazy("team members"),
    "households": gettext_lazy("households"),
    "residents": gettext_lazy("households and residents"),
    "targets": gettext_lazy("indicator targets"),
    "indicator_values": gettext_lazy("reported indicator values"),
}


# --- the engine ----------------------------------------------------------------------------------------


def import_file(
    *,
    kind: str,
    path: Path | str,
    actor: User | None,
    options: ImportOptions | None = None,
    fmt: str | None = None,
    file_name: str = "",
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import the file at ``path`` as ``kind``; see the module docstring. Never raises for bad data.

    Returns the report (counts, every error with its row and column) and, when rows were
    rejected, a file of those rows with their reasons (same format as the input). A service
    refusing a row while writing (data changed since the check) undoes the whole write and is
    reported like any row error.
    """
    started = time.perf_counter()
    options = options or ImportOptions()
    path = Path(path)
    file_name = file_name or path.name
    report = ImportReport(kind=kind, file_name=file_name, dry_run=options.dry_run, skip_invalid=options.skip_invalid)
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    importer = KINDS[kind](actor=actor, options=options)
    try:
        fmt = fmt or detect_format(file_name)
        importer.start()
        items = _read_rows(importer, path, fmt, report, progress)
        if not report.total_rows:
            raise ImportRefused(_("The file has no rows to import."))
    except ImportRefused as refused:
        report.refused = refused.message
        report.seconds = time.perf_counter() - started
        return ImportResult(report)
    if progress:
        progress(report.total_rows, report.total_rows, "checking")
    importer.check(items)
    valid = [i for i in items if importer.is_valid(i.row)]
    report.errors = [e for row in sorted(importer.errors) for e in importer.errors[row]]
    report.valid_rows = len(valid)
    report.preview = [importer.preview(i) for i in valid[:PREVIEW_ROWS]]
    may_write = valid and (not report.errors or options.skip_invalid)
    if options.dry_run or not may_write:
        report.counts = importer.plan(valid) if may_write or options.dry_run else {}
    else:
        if progress:
            progress(report.total_rows, report.total_rows, "writing")
        try:
            report.counts = importer.write(valid)
            report.written = True
        except RowFailure as failure:
            report.errors.extend(failure.errors)
            report.valid_rows = 0
    report.seconds = time.perf_counter() - started
    rejected = None
    if report.errors:
        rejected = rejected_rows_file(path, fmt, importer, report.errors)
    return ImportResult(report, rejected)


def _read_rows(
    importer: ImportKind, path: Path, fmt: str, report: ImportReport, progress: ProgressCallback | None
) -> list[Any]:
    items: list[Any] = []
    with open_table(path, fmt) as table:
        importer.bind(table.headers)
        total = table.total
        seen = 0
        for number, values in table.rows:
            seen += 1
            if progress and seen % PROGRESS_EVERY == 0:
                progress(seen, max(total or 0, seen) if total is not None else None, "reading")
            if _blank_row(values):
                continue
            report.total_rows += 1
            item = importer.parse(number, importer.cells(values))
            if item is not None:
                items.append(item)
    return items


def rejected_rows_file(path: Path, fmt: str, importer: ImportKind, errors: list[RowError]) -> bytes:
    """The rejected rows as they were in the file, with a row-number column first and the reasons last."""
    reasons: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        reasons[error.row].append(f"{error.column}: {error.message}" if error.column else error.message)
    with open_table(path, fmt) as table:
        headers = ["Dòng", *[("" if h is None else h) for h in table.headers], "Lỗi"]
        rows = ([number, *values, "; ".join(reasons[number])] for number, values in table.rows if number in reasons)
        return write_table(fmt, headers, rows)


def write_table(fmt: str, headers: list[Any], rows: Iterable[list[Any]]) -> bytes:
    """A small XLSX or CSV file in memory (rejected rows; exports stream to disk instead)."""
    if fmt == CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for row in rows:
            writer.writerow(["" if v is None else v.strftime(DATE_DISPLAY) if isinstance(v, date) else v for v in row])
        return ("\ufeff" + buffer.getvalue()).encode()
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Lỗi")
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- background jobs -----------------------------------------------------------------------------------


def import_job_start(
    *,
    actor: User,
    kind: str,
    upload: File,
    file_name: str,
    dry_run: bool = True,
    skip_invalid: bool = False,
    village: Area | None = None,
    commune: Area | None = None,
    locale: str = "vi",
) -> BackgroundJob:
    """Save the upload and the job row, then queue the import after commit (a lost message leaves a
    visible queued job, never a silent gap). Raises ``ValidationError`` naming the field."""
    from fieldteam.tasks import enqueue_on_commit, run_import_job

    if kind not in KINDS:
        raise field_error("kind", _("Unknown kind of import."), code="invalid_choice")
    try:
        fmt = detect_format(file_name)
    except ImportRefused as refused:
        raise field_error("import_file", refused.message, code="format") from None
    scope = scope_for(actor)
    if not scope.can_edit:
        raise field_error("import_file", _("Your role may only view; it cannot import."), code="read_only")
    for name, area in (("village", village), ("commune", commune)):
        if area is not None and not scope.contains(area):
            raise field_error(name, _("This is outside your area."), code="out_of_scope")
    with transaction.atomic():
        job = BackgroundJob(
            kind=JobKind.IMPORT,
            name=kind,
            area=village or commune or _single_area(scope),
            params={
                "dry_run": dry_run,
                "skip_invalid": skip_invalid,
                "village_id": village.pk if village else None,
                "commune_id": commune.pk if commune else None,
                "file_name": file_name,
                "format": fmt,
                "locale": locale,
            },
            created_by=actor,
        )
        job.input_file.save(f"{kind}-{uuid.uuid4().hex[:12]}.{fmt}", upload, save=False)
        job.save()
        enqueue_on_commit(run_import_job, str(job.pk), locale)
    return job


def import_job_confirm(*, actor: User, job: BackgroundJob) -> BackgroundJob:
    """Run for real the import a dry run checked: a new job on the same file."""
    from fieldteam.tasks import enqueue_on_commit, run_import_job

    if job.kind != JobKind.IMPORT or not job.params.get("dry_run") or job.status != JobStatus.DONE:
        raise field_error("job", _("Only a finished dry run can be imported."), code="not_a_dry_run")
    if job.summary.get("refused"):
        raise field_error("job", _("The file was refused; fix it and upload it again."), code="refused")
    with transaction.atomic():
        new = BackgroundJob.objects.create(
            kind=JobKind.IMPORT,
            name=job.name,
            area=job.area,
            params={**job.params, "dry_run": False, "checked_by_job": str(job.pk)},
            input_file=job.input_file.name,
            created_by=actor,
        )
        enqueue_on_commit(run_import_job, str(new.pk), job.params.get("locale", "vi"))
    return new


def _single_area(scope: Scope) -> Area | None:
    if scope.everything or len(scope.paths) != 1:
        return None
    return Area.objects.filter(path=scope.paths[0]).first()


def _job_progress(job_id: Any) -> ProgressCallback:
    def report(processed: int, total: int | None, phase: str) -> None:
        fields: dict[str, Any] = {"processed": processed, "summary": {"phase": phase}}
        if total is not None:
            fields["total"] = max(total, processed)
        jobs.report_progress(job_id=job_id, **fields)

    return report


@contextlib.contextmanager
def _local_copy(field_file: Any) -> Iterator[Path]:
    """A path to the stored file (a temporary copy where the storage is not on this disk)."""
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        with field_file.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


def import_job_run(*, job_id: Any) -> BackgroundJob:
    """Run a queued import job (the Celery task's body). Idempotent: a job already started is left alone."""
    claimed = jobs.claim_job(job_id=job_id)
    job = BackgroundJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job
    params = job.params
    options = ImportOptions(
        dry_run=bool(params.get("dry_run")),
        skip_invalid=bool(params.get("skip_invalid")),
        village=Area.objects.filter(pk=params.get("village_id")).first() if params.get("village_id") else None,
        commune=Area.objects.filter(pk=params.get("commune_id")).first() if params.get("commune_id") else None,
    )
    try:
        with _local_copy(job.input_file) as path, jobs.running(job=job):
            result = import_file(
                kind=job.name,
                path=path,
                actor=job.created_by,
                options=options,
                fmt=params.get("format"),
                file_name=params.get("file_name", ""),
                progress=_job_progress(job.pk),
            )
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        BackgroundJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    report = result.report
    job.refresh_from_db()
    if result.rejected_file is not None:
        fmt = params.get("format", XLSX)
        job.result_file.save(
            f"{job.name}-rejected-{str(job.pk)[:8]}.{fmt}", ContentFile(result.rejected_file), save=False
        )
    job.status = JobStatus.DONE
    job.total = max(report.total_rows, job.processed)
    job.processed = job.total
    job.summary = report.as_summary()
    job.error = report.refused
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "total", "processed", "summary", "error", "result_file", "finished_at"])
    return job


def uses_postgresql() -> bool:
    return connection.vendor == "postgresql"
