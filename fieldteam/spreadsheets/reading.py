"""The one reader of uploaded spreadsheets: XLSX and CSV, with caps checked before parsing.

Every import reads its file through ``open_table`` (the admin's upload is checked again on arrival
by ``check_upload``, so an oversized file is refused on the form). What is refused, each with a
translated sentence saying what to do, raised as ``SpreadsheetRefused``:

- **Size.** A file larger than ``FIELDTEAM_UPLOAD_MAX_BYTES``.
- **Zip bombs.** An .xlsx is a zip archive. Before anything is decompressed, its directory is
  read: more than ``MAX_MEMBERS`` members, a compression other than stored/deflate (Excel writes
  only those), or members whose declared sizes add up to more than
  ``FIELDTEAM_SPREADSHEET_MAX_UNCOMPRESSED_BYTES`` refuse the file. A member that lies about its
  size does not get past the parsers either: python-calamine's zip reader and Python's
  ``zipfile`` (openpyxl) both stop at the declared size (``tests/spreadsheets/test_reading.py``).
  Memory therefore stays bounded by the cap, whatever the file claims.
- **Rows and columns.** More than ``FIELDTEAM_SPREADSHEET_MAX_ROWS`` data rows or
  ``FIELDTEAM_SPREADSHEET_MAX_COLUMNS`` columns (XLSX: known when the sheet is opened, before a
  row is handed out; CSV: counted while reading, which streams).
- **Encodings.** CSV must be UTF-8, with or without a byte-order mark. UTF-16/UTF-32 ("Unicode
  text" in Excel) get their own message; any other encoding (Windows-1258, TCVN3, VNI) the
  "save it as CSV UTF-8" one, instead of being read as garbage and failing on "missing columns".
  An Excel file named .csv, an old .xls, or binary data are told apart too.

Cells come out as the parsers give them (text, numbers, dates, booleans, ``None``). A CSV cell the
writer neutralised (``'=…``, see ``writing``) comes back without its ``'``, so an exported file
imports unchanged.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import logging
import struct
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.utils.translation import gettext as _

from .columns import CSV, XLSX
from .writing import looks_like_formula

logger = logging.getLogger(__name__)

MB = 1024 * 1024
# An .xlsx made by Excel, LibreOffice or openpyxl holds a dozen members; thousands is not a spreadsheet.
MAX_MEMBERS = 2000
# The central directory of MAX_MEMBERS members is far below this; a bigger one is refused unparsed.
MAX_DIRECTORY_BYTES = 1 * MB
_CHUNK = 1 << 20
_XLS_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_SIGNATURE = b"PK\x03\x04"
_END_OF_DIRECTORY = b"PK\x05\x06"


class SpreadsheetRefused(Exception):
    """The whole file is refused; ``message`` (translated) says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Limits:
    """The caps, from the settings (see ``backend/settings/base.py``)."""

    max_bytes: int
    max_uncompressed_bytes: int
    max_rows: int
    max_columns: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_bytes=settings.FIELDTEAM_UPLOAD_MAX_BYTES,
            max_uncompressed_bytes=settings.FIELDTEAM_SPREADSHEET_MAX_UNCOMPRESSED_BYTES,
            max_rows=settings.FIELDTEAM_SPREADSHEET_MAX_ROWS,
            max_columns=settings.FIELDTEAM_SPREADSHEET_MAX_COLUMNS,
        )


@dataclass
class Table:
    headers: list[Any]
    rows: Iterator[tuple[int, list[Any]]]  # (spreadsheet row number, cell values)
    total: int | None  # data rows, counting blank ones, when known up front
    fmt: str


def _megabytes(size: int) -> str:
    return f"{size / MB:,.1f}" if size < 10 * MB else f"{size / MB:,.0f}"


def not_readable_xlsx() -> SpreadsheetRefused:
    return SpreadsheetRefused(_("This is not a readable Excel file (.xlsx)."))


def detect_format(name: str) -> str:
    """``xlsx`` or ``csv`` from the file's name, else refused."""
    suffix = Path(name or "").suffix.lower().lstrip(".")
    if suffix in (XLSX, "xlsm"):
        return XLSX
    if suffix in (CSV, "txt"):
        return CSV
    if suffix == "xls":
        raise SpreadsheetRefused(_old_excel())
    raise SpreadsheetRefused(_("Upload an Excel file (.xlsx) or a CSV file (.csv)."))


def _old_excel() -> str:
    return _("This is an old Excel file (.xls). Open it in Excel and save it as “Excel Workbook (.xlsx)”.")


# --- caps checked before parsing ------------------------------------------------------------------


def _check_size(size: int, limits: Limits) -> None:
    if size > limits.max_bytes:
        raise SpreadsheetRefused(
            _("The file is %(size)s MB; at most %(limit)s MB can be imported at once. Split it into smaller files.")
            % {"size": _megabytes(size), "limit": _megabytes(limits.max_bytes)}
        )


def _directory_size(handle: IO[bytes], size: int) -> tuple[int, int]:
    """The members and bytes the zip's end-of-directory record declares, read from the file's tail."""
    tail_length = min(size, 22 + 65535)
    handle.seek(size - tail_length)
    tail = handle.read(tail_length)
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) < at + 22:
        raise not_readable_xlsx()
    members, directory_bytes = struct.unpack("<xxxxxxxxxxHI", tail[at : at + 16])
    return members, directory_bytes


def check_xlsx_archive(handle: IO[bytes], limits: Limits) -> None:
    """Refuse a zip bomb from the archive's directory alone: nothing is decompressed here."""
    handle.seek(0, 2)
    size = handle.tell()
    _check_size(size, limits)
    handle.seek(0)
    head = handle.read(8)
    if head.startswith(_XLS_SIGNATURE):
        raise SpreadsheetRefused(_old_excel())
    if not head.startswith(_ZIP_SIGNATURE):
        raise not_readable_xlsx()
    members, directory_bytes = _directory_size(handle, size)
    # 0xFFFF/0xFFFFFFFF mean "see the ZIP64 record": archives beyond 4 GB, never a list of residents.
    if members > MAX_MEMBERS or directory_bytes > MAX_DIRECTORY_BYTES:
        raise _too_big_unpacked(limits.max_uncompressed_bytes + 1, limits)
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, struct.error) as exc:
        raise not_readable_xlsx() from exc
    unpacked = 0
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise not_readable_xlsx()
        unpacked += info.file_size
    if unpacked > limits.max_uncompressed_bytes:
        raise _too_big_unpacked(unpacked, limits)
    handle.seek(0)


def _too_big_unpacked(unpacked: int, limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _(
            "Once opened, this spreadsheet takes more than %(limit)s MB, far more than a list of this size "
            "should: it may be damaged or hold something other than data. Copy the data into a new file, "
            "or split it into smaller files."
        )
        % {"limit": _megabytes(limits.max_uncompressed_bytes)}
    )


def check_upload(upload: Any, name: str, *, limits: Limits | None = None) -> str:
    """Check an uploaded file before it is stored: its format (from ``name``), size, and for an
    .xlsx its zip directory. Returns the format; raises ``SpreadsheetRefused``."""
    limits = limits or Limits.from_settings()
    fmt = detect_format(name)
    size = getattr(upload, "size", None)
    if size is not None:
        _check_size(size, limits)
    if fmt == XLSX:
        check_xlsx_archive(upload, limits)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return fmt


def _too_many_rows(rows: int, limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _("The file has %(rows)s rows; at most %(limit)s can be imported at once. Split it into smaller files.")
        % {"rows": f"{rows:,}".replace(",", "."), "limit": f"{limits.max_rows:,}".replace(",", ".")}
    )


def _too_many_columns(columns: int, limits: Limits) -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _("The file has %(columns)s columns; at most %(limit)s can be read. Delete the columns that are not needed.")
        % {"columns": columns, "limit": limits.max_columns}
    )


# --- XLSX ------------------------------------------------------------------------------------------


def _xlsx_rows_calamine(path: Path, limits: Limits) -> tuple[list[Any], Iterator[list[Any]], int | None] | None:
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
    total = max(0, sheet.height - 1)
    if total > limits.max_rows:
        raise _too_many_rows(total, limits)
    if sheet.width > limits.max_columns:
        raise _too_many_columns(sheet.width, limits)
    rows = iter(sheet.iter_rows())
    headers = next(rows, [])
    return list(headers), rows, total


def _xlsx_rows_openpyxl(path: Path, limits: Limits) -> tuple[list[Any], Iterator[list[Any]], int | None]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
        sheet = book.worksheets[0]  # a damaged file may have none
        total = sheet.max_row - 1 if sheet.max_row else None
        rows = _openpyxl_rows(sheet.iter_rows(values_only=True), limits)
        headers = next(rows, [])
    except SpreadsheetRefused:
        raise
    except Exception as exc:
        raise not_readable_xlsx() from exc
    return list(headers), rows, total


def _openpyxl_rows(rows: Iterator[tuple[Any, ...]], limits: Limits) -> Iterator[list[Any]]:
    # openpyxl's read-only mode parses the sheet while it is iterated (the sheet's declared size
    # may be wrong): the caps are counted here, and damage found halfway refuses the file like
    # damage found on opening (tests/fuzz/test_imports.py).
    try:
        for count, row in enumerate(rows):
            if count > limits.max_rows:
                raise _too_many_rows(count, limits)
            values = list(row)
            if len(values) > limits.max_columns:
                while values and values[-1] is None:
                    values.pop()
                if len(values) > limits.max_columns:
                    raise _too_many_columns(len(values), limits)
            yield values
    except SpreadsheetRefused:
        raise
    except Exception as exc:
        raise not_readable_xlsx() from exc


def _xlsx_table(path: Path, limits: Limits) -> tuple[list[Any], Iterator[list[Any]], int | None]:
    with open(path, "rb") as handle:
        check_xlsx_archive(handle, limits)
    return _xlsx_rows_calamine(path, limits) or _xlsx_rows_openpyxl(path, limits)


# --- CSV -------------------------------------------------------------------------------------------


def _utf16_refused() -> SpreadsheetRefused:
    return SpreadsheetRefused(
        _(
            "The CSV file is saved as UTF-16 (“Unicode text”), which cannot be read. In Excel choose "
            "Save As → “CSV UTF-8 (Comma delimited)” and upload that file."
        )
    )


def _not_utf8_refused() -> SpreadsheetRefused:
    return SpreadsheetRefused(_("The CSV file is not in UTF-8; save it again as “CSV UTF-8”."))


def _looks_utf16(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    # Without a byte-order mark: Latin letters and digits then alternate with zero bytes.
    sample = head[:1024]
    return len(sample) >= 4 and sample.count(0) * 3 >= len(sample)


def _csv_encoding(path: Path, limits: Limits) -> tuple[str, int]:
    """The encoding to read the CSV with, and its number of lines; refuses anything but UTF-8."""
    size = path.stat().st_size
    _check_size(size, limits)
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with open(path, "rb") as handle:
        head = handle.read(_CHUNK)
        if _looks_utf16(head):
            raise _utf16_refused()
        if head.startswith(_ZIP_SIGNATURE):
            raise SpreadsheetRefused(
                _("This is an Excel file, not a CSV file: give it a name ending in .xlsx, or save it as “CSV UTF-8”.")
            )
        if head.startswith(_XLS_SIGNATURE):
            raise SpreadsheetRefused(_old_excel())
        encoding = "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"
        chunk = head
        while chunk:
            if b"\x00" in chunk:
                raise SpreadsheetRefused(_("This is not a readable CSV file."))
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                raise _not_utf8_refused() from None
            lines += chunk.count(b"\n")
            chunk = handle.read(_CHUNK)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _not_utf8_refused() from None
    return encoding, lines


def _csv_rows(handle: IO[str], delimiter: str, limits: Limits) -> Iterator[list[Any]]:
    reader = csv.reader(handle, delimiter=delimiter)
    count = 0
    try:
        for row in reader:
            count += 1
            if count > limits.max_rows + 1:  # the header row is not a data row
                raise _too_many_rows(count - 1, limits)
            if len(row) > limits.max_columns:
                while row and not row[-1]:
                    row.pop()
                if len(row) > limits.max_columns:
                    raise _too_many_columns(len(row), limits)
            # Most rows hold no "'" at all: one search of the joined row spares a look at each cell.
            yield [_unquote(v) for v in row] if "'" in "".join(row) else row
    except csv.Error as exc:
        raise SpreadsheetRefused(
            _("The CSV file cannot be read near row %(row)s (a very long cell or a stray quote mark).")
            % {"row": count + 1}
        ) from exc


def _unquote(value: str) -> str:
    # The writer's "'" before text that looks like a formula: taken off, so an export imports unchanged.
    if value[:1] == "'" and looks_like_formula(value[1:]):
        return value[1:]
    return value


@contextlib.contextmanager
def _csv_table(path: Path, limits: Limits) -> Iterator[tuple[list[Any], Iterator[list[Any]], int | None]]:
    encoding, lines = _csv_encoding(path, limits)
    with open(path, encoding=encoding, newline="") as handle:
        first_line = handle.readline()
        handle.seek(0)
        delimiter = max(",;\t", key=first_line.count)
        rows = _csv_rows(handle, delimiter, limits)
        headers = next(rows, [])
        yield headers, rows, max(0, lines - 1)


@contextlib.contextmanager
def open_table(path: Path | str, fmt: str, *, limits: Limits | None = None) -> Iterator[Table]:
    """The file's header row and its data rows, numbered as the spreadsheet numbers them.

    Refuses the file (``SpreadsheetRefused``) when opening it or, for caps only known while reading,
    when the rows are iterated.
    """
    limits = limits or Limits.from_settings()
    path = Path(path)
    with contextlib.ExitStack() as stack:
        if fmt == XLSX:
            headers, rows, total = _xlsx_table(path, limits)
        elif fmt == CSV:
            headers, rows, total = stack.enter_context(_csv_table(path, limits))
        else:
            raise ValueError(f"unknown format {fmt!r}")
        if len(headers) > limits.max_columns:
            raise _too_many_columns(len(headers), limits)
        numbered = ((number, list(values)) for number, values in enumerate(rows, start=2))
        yield Table(headers=list(headers), rows=numbered, total=total, fmt=fmt)
