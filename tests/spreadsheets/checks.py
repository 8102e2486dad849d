"""What the spreadsheet tests look for in a file: cells a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from openpyxl import load_workbook

from fieldteam.spreadsheets.writing import looks_like_formula

# What people have typed into names, notes and codes to make a spreadsheet run something.
PAYLOADS = (
    '=HYPERLINK("http://x","bấm vào")',
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1)",
    "+1",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "＝1+1",  # full-width equals sign
    "＋1",
)
_PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def live_formulas(content: bytes, fmt: str) -> list[str]:
    """Every cell of ``content`` a spreadsheet would run, described; empty when there is none.

    CSV: a cell that starts like a formula (a plain negative number is a number, not a formula).
    XLSX: a formula element in any sheet's XML, a formula cell, or text that starts like a
    formula without the quote prefix that keeps it text when edited.
    """
    if fmt == "csv":
        rows = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
        return [
            repr(cell) for row in rows for cell in row if looks_like_formula(cell) and not _PLAIN_NUMBER.fullmatch(cell)
        ]
    found = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and re.search(rb"<f[ >/]", archive.read(name)):
                found.append(f"{name}: a formula element")
    book = load_workbook(io.BytesIO(content))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    found.append(f"{sheet.title}!{cell.coordinate}: formula {cell.value!r}")
                elif isinstance(cell.value, str) and looks_like_formula(cell.value) and not cell.quotePrefix:
                    found.append(f"{sheet.title}!{cell.coordinate}: text {cell.value!r} without quote prefix")
    return found


def all_text(content: bytes, fmt: str) -> str:
    """Every cell of a file as one text."""
    if fmt == "csv":
        rows = csv.reader(io.StringIO(content.decode("utf-8-sig"), newline=""))
        return "\n".join("\t".join(row) for row in rows)
    book = load_workbook(io.BytesIO(content), read_only=True)
    return "\n".join(
        "\t".join("" if v is None else str(v) for v in row)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    )
