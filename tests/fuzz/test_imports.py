"""Fuzz the import parsers: any bytes, any CSV text, any cell values, damaged spreadsheets.

``import_file`` promises never to raise for bad data: a file it cannot read is refused with a
reason, a bad row is a row error naming its column. Every import here is a dry run.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import Workbook

from fieldteam.imports.base import ImportOptions, ImportResult
from fieldteam.imports.engine import KINDS, import_file
from fieldteam.models import User
from tests.fuzz.conftest import fuzz_settings
from tests.imports.conftest import RESIDENT_HEADERS, resident_row
from tests.spreadsheets import bombs

pytestmark = [pytest.mark.fuzz, pytest.mark.django_db]

DRY_RUN = ImportOptions(dry_run=True)

# Control characters cannot be written into a spreadsheet (the CSV text test has them).
cell_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=40)
# What a spreadsheet cell can hold once read: text, numbers, dates, times, booleans, nothing.
cells = st.one_of(
    st.none(),
    cell_text,
    st.sampled_from(["có", "Có", "x", "không", "Nam", "Nữ", "01/02/1990", "1990", "31/02/2000", "0912345678"]),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 12, 31)),  # noqa: DTZ001 (a sheet's cells are naive)
)


def _import(tmp_path: Path, name: str, content: bytes, kind: str, actor: User) -> ImportResult:
    path = tmp_path / name
    path.write_bytes(content)
    result = import_file(kind=kind, path=path, actor=actor, options=DRY_RUN)
    report = result.report
    assert not report.written
    # Refused as a whole with a reason, or read row by row: every error names its row.
    assert report.refused or report.total_rows >= 0
    for error in report.errors:
        assert error.row >= 1 and error.text()
    return result


def _xlsx(headers: list[Any], rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _csv(headers: list[Any], rows: list[list[Any]], delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


@fuzz_settings
@given(
    kind=st.sampled_from(sorted(KINDS)),
    name=st.sampled_from(["data.csv", "data.xlsx", "data.txt", "data"]),
    content=st.binary(max_size=2000),
)
def test_any_bytes_are_refused_or_read_never_raised(tmp_path, superuser, kind, name, content) -> None:
    _import(tmp_path, name, content, kind, superuser)


@fuzz_settings
@given(
    kind=st.sampled_from(sorted(KINDS)),
    text=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=1500),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1258"]),
)
def test_any_csv_text_is_refused_or_read_never_raised(tmp_path, superuser, kind, text, encoding) -> None:
    content = text.encode(encoding, errors="replace")
    _import(tmp_path, "data.csv", content, kind, superuser)


@fuzz_settings
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=len(RESIDENT_HEADERS) + 2), min_size=1, max_size=6),
    fmt=st.sampled_from(["csv", "xlsx"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    kind=st.sampled_from(["residents", "households"]),
)
def test_valid_headers_with_any_cells_give_row_errors_never_an_exception(
    tmp_path, superuser, area_tree, rows, fmt, delimiter, kind
) -> None:
    if fmt == "xlsx":
        content = _xlsx(RESIDENT_HEADERS, rows)
    else:
        content = _csv(RESIDENT_HEADERS, [["" if v is None else v for v in row] for row in rows], delimiter)
    _import(tmp_path, f"people.{fmt}", content, kind, superuser)


@fuzz_settings
@given(
    kind=st.sampled_from(sorted(KINDS)),
    headers=st.lists(st.one_of(cell_text, st.sampled_from(RESIDENT_HEADERS)), max_size=12),
    rows=st.lists(st.lists(cells, max_size=12), max_size=4),
)
def test_any_headers_are_refused_or_read_never_raised(tmp_path, superuser, kind, headers, rows) -> None:
    _import(tmp_path, "data.xlsx", _xlsx(headers, rows), kind, superuser)


@pytest.fixture
def valid_xlsx(area_tree) -> bytes:
    """A valid residents file, made once per test (its bytes must not change between examples)."""
    return _xlsx(RESIDENT_HEADERS, [resident_row(area_tree.village.code, serial=n) for n in range(3)])


@fuzz_settings
@given(data=st.data())
def test_a_damaged_spreadsheet_is_refused_or_read_never_raised(tmp_path, superuser, valid_xlsx, data) -> None:
    valid = valid_xlsx
    how = data.draw(st.sampled_from(["flip", "truncate", "drop member", "replace member"]))
    if how == "flip":
        damaged = bytearray(valid)
        for position in data.draw(st.lists(st.integers(0, len(valid) - 1), min_size=1, max_size=20)):
            damaged[position] = data.draw(st.integers(0, 255))
        content = bytes(damaged)
    elif how == "truncate":
        content = valid[: data.draw(st.integers(0, len(valid) - 1))]
    else:
        source = zipfile.ZipFile(io.BytesIO(valid))
        names = source.namelist()
        victim = data.draw(st.sampled_from(names))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as target:
            for member in names:
                if member != victim:
                    target.writestr(member, source.read(member))
                elif how == "replace member":
                    target.writestr(member, data.draw(st.binary(max_size=400)))
        content = buffer.getvalue()
    _import(tmp_path, "people.xlsx", content, "residents", superuser)


MB = 1024 * 1024


@fuzz_settings
@given(data=st.data())
def test_a_spreadsheet_bomb_is_refused_never_parsed_or_raised(tmp_path, superuser, valid_xlsx, settings, data) -> None:
    """Zip bombs, archives no spreadsheet program makes, too many rows, UTF-16: refused with a reason."""
    settings.FIELDTEAM_SPREADSHEET_MAX_UNCOMPRESSED_BYTES = 2 * MB
    settings.FIELDTEAM_SPREADSHEET_MAX_ROWS = 40
    how = data.draw(st.sampled_from(["declared", "repeated", "members", "bzip2", "rows", "utf-16"]))
    name = "people.xlsx"
    if how == "declared":
        content = bombs.declared_size(valid_xlsx, bombs.SHEET, data.draw(st.integers(3 * MB, 2**32 - 1)))
    elif how == "repeated":
        content = bombs.repeated_rows(valid_xlsx, data.draw(st.integers(3 * MB, 6 * MB)))
    elif how == "members":
        content = bombs.many_members(valid_xlsx, data.draw(st.integers(2001, 2050)))
    elif how == "bzip2":
        content = bombs.bzip2(valid_xlsx)
    elif how == "rows":
        rows = [["01", f"Người {n}"] for n in range(data.draw(st.integers(41, 80)))]
        fmt = data.draw(st.sampled_from(["csv", "xlsx"]))
        name = f"people.{fmt}"
        content = _xlsx(RESIDENT_HEADERS, rows) if fmt == "xlsx" else _csv(RESIDENT_HEADERS, rows)
    else:
        name = "people.csv"
        content = (
            _csv(RESIDENT_HEADERS, [["01"]])
            .decode("utf-8-sig")
            .encode(data.draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"])))
        )
    result = _import(tmp_path, name, content, "residents", superuser)
    assert result.report.refused and not result.report.written
