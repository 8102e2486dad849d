"""The one spreadsheet writer: CSV and XLSX, streamed, with formulas neutralised and types set.

Every file fieldteam makes goes through here: the exports (admin jobs and ``export_*`` commands),
the periodic report and work list, the person-data workbook, the rejected-rows file of an import
and the import templates.

**Formulas.** A spreadsheet runs a cell that starts like a formula: ``=HYPERLINK(...)`` becomes a
link, ``-2+3+cmd|' /C calc'!A0`` a command (CSV injection). Text a person typed — a name, a note, a
household code — must never run. Any *text* value whose first character, after spaces, is one of
``= + - @``, a tab, a carriage return or a line feed, or the full-width or small forms of the first
four (``＝ ＋ － ＠ ﹦ ﹢ ﹣ ﹫``, which some spreadsheets also accept), is neutralised:

- in XLSX it is written as an explicit string cell (never a formula cell) with the *quote prefix*
  style, so Excel shows it as typed, keeps it text when edited, and the text round-trips exactly
  (an exported file can be imported again unchanged);
- in CSV, which has no types, it gets a leading ``'``: Excel and LibreOffice then show it as text.
  ``reading`` takes that ``'`` off again when the file comes back.

Only text is neutralised: numbers stay numbers (``-5`` as a number is written as a number, in both
formats), dates stay dates.

**Types.** ``None`` is an empty cell; ``int``/``float``/``Decimal`` are numbers; ``date`` and
``datetime`` are date cells shown ``DD/MM/YYYY`` (``HH:MM``) in XLSX and text in CSV (``DD/MM/YYYY``
unless the caller asks for another form); aware datetimes are written in local time; anything else
is text (``str()``). Characters XML cannot hold are dropped from XLSX text and text is cut at the
32,767 characters a cell holds, so no value makes the writer fail halfway.

**Streaming.** XLSX uses openpyxl's write-only workbook, CSV the csv module on the open file:
memory stays flat whatever the number of rows. Sheet-level looks (column widths, merged cells,
frozen panes, print titles) are set through the ``Sheet`` methods; a cell's look through ``Styled``.
CSV has one stream: every ``sheet()`` of a CSV writer appends to it, and the looks are ignored.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.cell_range import CellRange

from .columns import (
    CSV,
    DATA_SHEET,
    DATE_DISPLAY,
    DATETIME_DISPLAY,
    EXCEL_DATE_FORMAT,
    EXCEL_DATETIME_FORMAT,
    FORMATS,
)

# The characters a spreadsheet reads as the start of a formula (or, tab/CR/LF, that shift a cell).
FORMULA_STARTS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b")
# Leading spaces do not stop a spreadsheet from reading a formula.
_LEADING_SPACES = " \u00a0\u3000"
XLSX_CELL_MAX = 32767


def looks_like_formula(text: str) -> bool:
    """Whether a spreadsheet would read ``text`` as a formula (or a shifted cell)."""
    if not text:
        return False
    if text[0] in FORMULA_STARTS:
        return True
    stripped = text.lstrip(_LEADING_SPACES)
    return bool(stripped) and stripped[0] in FORMULA_STARTS


def neutralise(text: str) -> str:
    """``text`` as CSV writes it: a leading ``'`` when it looks like a formula."""
    return f"'{text}" if looks_like_formula(text) else text


def set_text(cell: Cell, text: str) -> None:
    """Put ``text`` into an openpyxl ``cell`` of a loaded workbook (a file being rewritten) as text:
    openpyxl would make text starting with ``=`` a formula."""
    cell.value = ILLEGAL_CHARACTERS_RE.sub("", text)[:XLSX_CELL_MAX]
    cell.data_type = "s"
    if looks_like_formula(text):
        cell.quotePrefix = True


@dataclass(frozen=True)
class Styled:
    """A cell value with a look (XLSX only; CSV writes the value). ``fill`` is an RGB colour like ``"E3EAF2"``."""

    value: Any
    bold: bool = False
    italic: bool = False
    size: float | None = None
    fill: str | None = None
    number_format: str | None = None
    wrap: bool = False
    horizontal: str | None = None
    vertical: str | None = None


class Sheet:
    """One sheet of a file being written. Rows are appended in order; ``rows`` counts them."""

    def __init__(self) -> None:
        self.rows = 0

    def append(self, values: Iterable[Any]) -> None:
        raise NotImplementedError

    def column(self, index: int, *, width: float | None = None, number_format: str | None = None) -> None:
        """Set column ``index``'s (1-based) width and/or the number format of the whole column; before the first row."""

    def merge(self, row: int, first_column: int, last_column: int) -> None:
        """Merge cells of ``row`` from ``first_column`` to ``last_column``."""

    def row_height(self, row: int, height: float) -> None:
        """Set a row's height; before that row is appended."""

    def freeze(self, row: int, column: int = 1) -> None:
        """Freeze the rows above ``row`` and the columns left of ``column``; before the first row."""

    def print_title_row(self, row: int) -> None:
        """Repeat ``row`` at the top of every printed page."""


class _CsvSheet(Sheet):
    def __init__(self, writer: Any, date_format: str, datetime_format: str) -> None:
        super().__init__()
        self._writerow = writer.writerow
        self.date_format = date_format
        self.datetime_format = datetime_format

    def append(self, values: Iterable[Any]) -> None:
        self._writerow([self.cell(v) for v in values])
        self.rows += 1

    def cell(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return neutralise(value)
        if value is None:
            return ""
        if kind is int or kind is float or kind is bool:
            return value
        if isinstance(value, Styled):
            return self.cell(value.value)
        if isinstance(value, Decimal):
            return format(value, "f") if value.is_finite() else str(value)
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value)
            return value.strftime(self.datetime_format)
        if isinstance(value, date):
            return value.strftime(self.date_format)
        if isinstance(value, int | float):  # subclasses (IntEnum): still numbers
            return value
        return neutralise(str(value))


class _XlsxSheet(Sheet):
    def __init__(self, sheet: Any) -> None:
        super().__init__()
        self._sheet = sheet

    def append(self, values: Iterable[Any]) -> None:
        self._sheet.append([self.cell(v) for v in values])
        self.rows += 1

    def cell(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            if looks_like_formula(value):
                return self._text_cell(value)
            if len(value) > XLSX_CELL_MAX or ILLEGAL_CHARACTERS_RE.search(value):
                return self._text_cell(value)
            return value
        if value is None or kind is int or kind is bool:
            return value
        if kind is float:
            return value if math.isfinite(value) else str(value)
        if isinstance(value, Styled):
            return self._styled(value)
        if isinstance(value, Decimal):
            return value if value.is_finite() else str(value)
        if isinstance(value, date):
            return self._date_cell(value)
        if isinstance(value, int | float | time):
            return value
        return self.cell(str(value))

    def _date_cell(self, value: date) -> Cell:
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value).replace(tzinfo=None)
            cell = WriteOnlyCell(self._sheet, value)
            cell.number_format = EXCEL_DATETIME_FORMAT
            return cell
        cell = WriteOnlyCell(self._sheet, value)  # type: ignore[arg-type]  # openpyxl writes dates; types-openpyxl lists datetime only
        cell.number_format = EXCEL_DATE_FORMAT
        return cell

    def _text_cell(self, text: str) -> Cell:
        text = ILLEGAL_CHARACTERS_RE.sub("", text)[:XLSX_CELL_MAX]
        cell = WriteOnlyCell(self._sheet)
        cell.value = text  # openpyxl makes text starting with "=" a formula cell ...
        cell.data_type = "s"  # ... so the type is set after the value: always a string
        if looks_like_formula(text):
            cell.quotePrefix = True  # Excel shows it as typed and keeps it text when edited
        return cell

    def _styled(self, styled: Styled) -> Cell:
        inner = self.cell(styled.value)
        cell = inner if isinstance(inner, Cell) else WriteOnlyCell(self._sheet, inner)
        if styled.bold or styled.italic or styled.size:
            cell.font = Font(bold=styled.bold, italic=styled.italic, size=styled.size)
        if styled.fill:
            cell.fill = PatternFill("solid", fgColor=styled.fill)
        if styled.number_format:
            cell.number_format = styled.number_format
        if styled.wrap or styled.horizontal or styled.vertical:
            cell.alignment = Alignment(wrap_text=styled.wrap, horizontal=styled.horizontal, vertical=styled.vertical)
        return cell

    def _before_rows(self, what: str) -> None:
        # openpyxl's write-only sheet writes its columns and panes with the first row.
        if self.rows:
            raise ValueError(f"set the {what} before the first row")

    def column(self, index: int, *, width: float | None = None, number_format: str | None = None) -> None:
        self._before_rows("columns")
        dimension = self._sheet.column_dimensions[get_column_letter(index)]
        if width is not None:
            dimension.width = width
        if number_format is not None:
            dimension.number_format = number_format

    def merge(self, row: int, first_column: int, last_column: int) -> None:
        if last_column > first_column:
            self._sheet.merged_cells.add(CellRange(min_row=row, max_row=row, min_col=first_column, max_col=last_column))

    def row_height(self, row: int, height: float) -> None:
        self._sheet.row_dimensions[row].height = height

    def freeze(self, row: int, column: int = 1) -> None:
        self._before_rows("frozen panes")
        self._sheet.freeze_panes = f"{get_column_letter(column)}{row}"

    def print_title_row(self, row: int) -> None:
        self._sheet.print_title_rows = f"{row}:{row}"


def sheet_title(name: str, used: set[str] | None = None) -> str:
    """A valid, unique sheet name: no ``[]:*?/\\``, at most 31 characters."""
    cleaned = "".join(" " if ch in "[]:*?/\\" else ch for ch in str(name)).strip()[:31] or "Sheet"
    if used is not None:
        base, number = cleaned, 2
        while cleaned in used:
            suffix = f" ({number})"
            cleaned, number = base[: 31 - len(suffix)] + suffix, number + 1
        used.add(cleaned)
    return cleaned


class SpreadsheetWriter:
    """Write a CSV or XLSX file to ``target`` (a path or a binary file object), streamed.

    ``date_format``/``datetime_format``: how CSV writes dates (XLSX writes date cells). CSV files
    start with a UTF-8 byte-order mark so that Excel reads Vietnamese right. Use as a context
    manager, or call ``close()``: the XLSX file is complete only then.
    """

    def __init__(
        self,
        target: Path | str | IO[bytes],
        fmt: str,
        *,
        date_format: str = DATE_DISPLAY,
        datetime_format: str = DATETIME_DISPLAY,
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.fmt = fmt
        self.target = target
        self._used: set[str] = set()
        self._closed = False
        if fmt == CSV:
            if isinstance(target, str | Path):
                self._text: io.TextIOWrapper = open(target, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115 - closed in close()
            else:
                self._text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="")
            self._csv_sheet = _CsvSheet(csv.writer(self._text, lineterminator="\r\n"), date_format, datetime_format)
        else:
            self._book = Workbook(write_only=True)

    def sheet(self, title: str = DATA_SHEET) -> Sheet:
        """A new sheet (XLSX); for CSV, the one stream every sheet shares."""
        if self.fmt == CSV:
            return self._csv_sheet
        return _XlsxSheet(self._book.create_sheet(sheet_title(title, self._used)))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.fmt == CSV:
            if isinstance(self.target, str | Path):
                self._text.close()
            else:
                self._text.flush()
                self._text.detach()  # the caller's file object stays open
            return
        if not self._book.worksheets:
            self._book.create_sheet(DATA_SHEET)
        self._book.save(self.target)

    def __enter__(self) -> SpreadsheetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def spreadsheet_bytes(fmt: str, build: Callable[[SpreadsheetWriter], None], **options: Any) -> bytes:
    """A small file made in memory: ``build`` writes it through the writer it is given."""
    buffer = io.BytesIO()
    with SpreadsheetWriter(buffer, fmt, **options) as writer:
        build(writer)
    return buffer.getvalue()


def write_table(
    target: Path | str | IO[bytes],
    fmt: str,
    headers: Iterable[Any],
    rows: Iterable[Iterable[Any]],
    *,
    title: str = DATA_SHEET,
    bold_header: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """One sheet: a header row, then ``rows``, streamed to ``target``. Returns the rows written
    (without the header); ``progress`` is called with that count after each row."""
    with SpreadsheetWriter(target, fmt) as writer:
        sheet = writer.sheet(title)
        sheet.append([Styled(h, bold=True) for h in headers] if bold_header else headers)
        written = 0
        for row in rows:
            sheet.append(row)
            written += 1
            if progress is not None:
                progress(written)
    return written


def table_bytes(fmt: str, headers: Iterable[Any], rows: Iterable[Iterable[Any]], *, title: str = DATA_SHEET) -> bytes:
    """``write_table`` in memory."""
    buffer = io.BytesIO()
    write_table(buffer, fmt, headers, rows, title=title)
    return buffer.getvalue()
