"""The one spreadsheet writer: formulas neutralised in both formats, types kept, files that read back."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from fieldteam.spreadsheets import reading, writing
from fieldteam.spreadsheets.writing import Styled, looks_like_formula, neutralise, table_bytes
from tests.spreadsheets.checks import PAYLOADS, live_formulas

FORMATS = ("xlsx", "csv")


@pytest.mark.parametrize("text", PAYLOADS)
def test_every_payload_looks_like_a_formula(text) -> None:
    assert looks_like_formula(text)
    assert neutralise(text) == f"'{text}"


@pytest.mark.parametrize("text", ["Nguyễn Văn A", "Thôn 1", "12/03/1985", "'quoted", "", "a=b", "x-1"])
def test_ordinary_text_is_left_alone(text) -> None:
    assert not looks_like_formula(text)
    assert neutralise(text) == text


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_payload_is_written_as_a_live_formula(fmt) -> None:
    content = table_bytes(
        fmt, ["Họ và tên", "Ghi chú"], [[p, f"ghi chú {p}"] for p in PAYLOADS] + [[p, p] for p in PAYLOADS]
    )
    assert live_formulas(content, fmt) == []


def test_without_the_writer_the_check_finds_the_formulas(tmp_path) -> None:
    """The check can fail: openpyxl and the csv module on their own write live formulas."""
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(list(PAYLOADS))
    buffer = io.BytesIO()
    book.save(buffer)
    assert live_formulas(buffer.getvalue(), "xlsx")
    text = io.StringIO()
    csv.writer(text).writerow(PAYLOADS)
    assert len(live_formulas(text.getvalue().encode(), "csv")) == len(PAYLOADS)


def test_xlsx_keeps_the_text_exactly_as_typed_and_marks_it_text() -> None:
    content = table_bytes("xlsx", ["a"], [[p] for p in PAYLOADS])
    sheet = load_workbook(io.BytesIO(content)).worksheets[0]
    cells = [row[0] for row in sheet.iter_rows(min_row=2)]
    # XML reads a carriage return as a line feed: the one change a cell's text may undergo.
    assert [c.value for c in cells] == [p.replace("\r", "\n") for p in PAYLOADS]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_numbers_stay_numbers_and_dates_stay_dates() -> None:
    aware = timezone.make_aware(dt.datetime(2026, 1, 15, 9, 30))  # noqa: DTZ001 (made aware here)
    row = [-5, Decimal("-2.5"), 1.25, dt.date(1985, 3, 25), aware, True, None]
    sheet = load_workbook(io.BytesIO(table_bytes("xlsx", list("abcdefg"), [row]))).worksheets[0]
    cells = next(iter(sheet.iter_rows(min_row=2)))
    assert [c.value for c in cells[:3]] == [-5, -2.5, 1.25] and all(c.data_type == "n" for c in cells[:3])
    naive = (dt.datetime(1985, 3, 25), dt.datetime(2026, 1, 15, 9, 30))  # noqa: DTZ001 (a sheet's cells are naive)
    assert (cells[3].value, cells[4].value) == naive
    assert (cells[3].number_format, cells[4].number_format) == ("DD/MM/YYYY", "DD/MM/YYYY HH:MM")
    assert cells[5].value is True

    text = table_bytes("csv", list("abcdefg"), [row]).decode("utf-8-sig")
    assert text.splitlines()[1] == "-5,-2.5,1.25,25/03/1985,15/01/2026 09:30,True,"


def test_csv_starts_with_a_byte_order_mark_and_uses_crlf() -> None:
    content = table_bytes("csv", ["Họ và tên"], [["Nguyễn Thị Ánh"]])
    assert content.startswith(b"\xef\xbb\xbf") and content.endswith(b"\r\n")


def test_text_xml_cannot_hold_or_too_long_for_a_cell_does_not_break_the_file() -> None:
    content = table_bytes("xlsx", ["a", "b"], [["nul\x00 and bell\x07 here", "x" * 40000]])
    cells = next(iter(load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(min_row=2, values_only=True)))
    assert cells[0] == "nul and bell here" and len(cells[1]) == writing.XLSX_CELL_MAX


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_the_writer_wrote_the_reader_reads_back_unchanged(tmp_path: Path, fmt) -> None:
    rows = [[p, f"ghi chú {n}", n] for n, p in enumerate(PAYLOADS)]
    path = tmp_path / f"round.{fmt}"
    path.write_bytes(table_bytes(fmt, ["Tên", "Ghi chú", "Số"], rows))
    with reading.open_table(path, fmt) as table:
        back = [values for _number, values in table.rows]
    # CSV has no types: its numbers come back as text.
    expected = (
        [[p.replace("\r", "\n"), note, n] for p, note, n in rows]
        if fmt == "xlsx"
        else [[p, note, str(n)] for p, note, n in rows]
    )
    assert [[v if not isinstance(v, float) else int(v) for v in row] for row in back] == expected


def test_sheets_get_valid_unique_names_and_looks() -> None:
    def build(writer: writing.SpreadsheetWriter) -> None:
        for _ in range(2):
            sheet = writer.sheet("Chỉ tiêu: [2026]/quý 1 và những thứ khác dài")
            sheet.column(1, width=30, number_format="@")
            sheet.freeze(2)
            sheet.append([Styled("=tiêu đề", bold=True, fill="E3EAF2")])
            sheet.merge(1, 1, 3)

    book = load_workbook(io.BytesIO(writing.spreadsheet_bytes("xlsx", build)))
    assert len(set(book.sheetnames)) == 2 and all(len(n) <= 31 and "[" not in n for n in book.sheetnames)
    sheet = book.worksheets[0]
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold and sheet["A1"].data_type == "s"
    assert str(sheet.merged_cells) == "A1:C1" and sheet.column_dimensions["A"].width == 30


def test_a_look_set_after_the_first_row_is_refused_not_silently_lost() -> None:
    def build(writer: writing.SpreadsheetWriter) -> None:
        sheet = writer.sheet()
        sheet.append(["a"])
        sheet.freeze(2)

    with pytest.raises(ValueError, match="before the first row"):
        writing.spreadsheet_bytes("xlsx", build)


def test_set_text_rewrites_a_loaded_cell_as_text() -> None:
    from openpyxl import Workbook

    book = Workbook()
    writing.set_text(book.active["A1"], "=1+1")
    buffer = io.BytesIO()
    book.save(buffer)
    assert live_formulas(buffer.getvalue(), "xlsx") == []
