"""What every kind of import shares: options, results, row errors, reading a file, the ``ImportKind`` base."""

from __future__ import annotations

import contextlib
import logging
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fieldteam.models import (
    Area,
    User,
)
from fieldteam.names import normalise_name
from fieldteam.periods import today
from fieldteam.permissions import Scope, scope_for
from fieldteam.resources import (
    FieldteamResource,
)
from fieldteam.resources.base import Column, HeaderProblem, is_blank
from fieldteam.spreadsheets import reading
from fieldteam.spreadsheets.reading import SpreadsheetRefused, Table

logger = logging.getLogger(__name__)

# Keeps each ``IN (...)`` under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 500
# Errors kept in a job's summary (the rejected-rows file has them all).
SUMMARY_ERRORS = 200

ProgressCallback = Callable[[int, int | None, str], None]


def name_key(full_name: str) -> str:
    """A person's name as rows are matched on it: case and spacing aside, as the duplicates list does."""
    return normalise_name(full_name).casefold()


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


def detect_format(name: str) -> str:
    try:
        return reading.detect_format(name)
    except SpreadsheetRefused as refused:
        raise ImportRefused(refused.message) from None


@contextlib.contextmanager
def open_table(path: Path, fmt: str) -> Iterator[Table]:
    """The file's header row and its data rows, read by ``fieldteam.spreadsheets.reading`` (size caps,
    encodings); a file it refuses, on opening or halfway, is an ``ImportRefused``."""
    try:
        with reading.open_table(path, fmt) as table:
            yield table
    except SpreadsheetRefused as refused:
        raise ImportRefused(refused.message) from None


def blank_row(values: list[Any]) -> bool:
    return all(is_blank(v) for v in values)


def _cleaner(widget: Any) -> Callable[[Any], Any]:
    """A column's cell parser: the widget's own (``CellWidget.cleaner``), else its ``clean``."""
    cleaner = getattr(widget, "cleaner", None)
    return cleaner() if cleaner is not None else widget.clean


# --- the base of every kind -------------------------------------------------------------------------------


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
        # Each column's cell parser, made once (``CellWidget.cleaner``): a row's cells go straight to it.
        self.cleaners: dict[str, Callable[[Any], Any]] = {key: _cleaner(w) for key, w in self.widgets.items()}
        self.columns: list[tuple[int, Column]] = []
        self._keys: list[str] = []
        self._pick: Callable[[list[Any]], Any] | None = None
        self._reach = 0
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
        # A row as long as the header row (as spreadsheets give them) is picked in one step.
        self._keys = [column.key for _position, column in self.columns]
        positions = [position for position, _column in self.columns]
        if len(positions) > 1:
            self._pick = operator.itemgetter(*positions)
            self._reach = positions[-1] + 1

    def cells(self, values: list[Any]) -> dict[str, Any]:
        if self._pick is not None and len(values) >= self._reach:
            return dict(zip(self._keys, self._pick(values), strict=True))
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

    @contextlib.contextmanager
    def refusals_of_row(
        self, row: int, columns: Callable[[ValidationError], ValidationError] | None = None
    ) -> Iterator[None]:
        """A service's refusal while writing ``row`` becomes that row's errors (``columns`` renames fields)."""
        try:
            yield
        except ValidationError as exc:
            raise row_failure(row, self, columns(exc) if columns else exc) from exc

    def fail(self, row: int, key: str, message: Any, code: str = "invalid") -> None:
        self.errors[row].append(RowError(row, self.headers.get(key, key) if key else "", str(message), code))

    def value(self, row: int, cells: dict[str, Any], key: str, *, required: bool = False) -> Any:
        """The cleaned value of a cell (blank: the widget's empty value); a problem is recorded on the cell."""
        raw = cells.get(key)
        if required and is_blank(raw):
            self.fail(row, key, _("Fill in this column."), code="required")
        try:
            return self.cleaners[key](raw)
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


_T = TypeVar("_T")


def resolved(reference: _T | None) -> _T:
    """A row's reference that ``check()`` resolved.

    Only valid rows are compared and written, and ``check()`` resolves every reference of a valid
    row (or records the row's error).
    """
    assert reference is not None  # noqa: S101 - an invalid row reached past check()
    return reference


def group_rows(items: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, list[int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item.row)
    return groups


def parent_ids(areas: list[Area]) -> dict[int, int]:
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


def row_failure(row: int, kind: ImportKind, exc: ValidationError) -> RowFailure:
    errors: list[RowError] = []
    if hasattr(exc, "error_dict"):
        for key, messages in exc.message_dict.items():
            column = kind.headers.get(key, "")
            errors.extend(RowError(row, column, m, "refused") for m in messages)
    else:
        errors.extend(RowError(row, "", m, "refused") for m in exc.messages)
    return RowFailure(errors)


# --- teams and members -------------------------------------------------------------------------------
