"""A column's cell parser (``CellWidget.cleaner``, made once per column) reads every cell as ``clean`` does.

An import parses each cell through its column's cleaner, which takes shorter ways for the cells
spreadsheets mostly hold (text, dates) and remembers repeated texts; the widgets' ``clean`` stays the
definition. Here both read the same odd and ordinary cells, for every column of every import kind,
and must give the same value or refuse with the same message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldteam.imports.engine import KINDS
from fieldteam.resources.base import REMEMBERED_TEXTS, CodeWidget, TextWidget
from tests.fuzz.conftest import fuzz_settings

pytestmark = pytest.mark.django_db

CELLS: list[Any] = [
    None,
    "",
    "   ",
    "\t\n",
    "\u00a0\u2003",  # no-break and em spaces: whitespace to ``split``, as to ``strip``
    "  Nguyễn   Thị\tBình  ",
    "x" * 300,  # longer than any text column allows
    "có",
    "CÓ",
    "Không",
    " x ",
    "nam",
    "Nữ",
    "0912 345 678",
    "*********123",  # a masked identifier, as exports write it
    "001085123456",
    "1085123456",
    "23764-01",
    " 12 ",
    "25/03/1985",
    "1985-03-25",
    "31/02/2000",
    "2025-06",
    "1990",
    "80,5",
    "80%",
    "='1+1",
    0,
    1,
    1985,
    1085123456,
    -3,
    1985.0,
    1985.5,
    True,
    False,
    Decimal("1990"),
    dt.date(1985, 3, 25),
    dt.datetime(1985, 3, 25, 14, 30),  # noqa: DTZ001 - a spreadsheet's date cell holds a naive time
    45000,  # an Excel serial day
]


def _outcome(parse: Any, value: Any) -> tuple[str, Any]:
    try:
        return ("value", parse(value))
    except ValueError as exc:
        return ("refused", str(exc))


def _columns(catalogue: Any) -> list[Any]:
    columns = []
    for kind in KINDS.values():
        columns.extend(kind.resource_class().import_columns())
    assert any(isinstance(c.widget, CodeWidget) for c in columns) and any(type(c.widget) is TextWidget for c in columns)
    return columns


def test_every_columns_cleaner_reads_every_cell_as_its_widgets_clean_does(catalogue) -> None:
    for column in _columns(catalogue):
        cleaner = column.widget.cleaner()
        for _twice in range(2):  # the second time from what the cleaner remembered
            for value in CELLS:
                assert _outcome(cleaner, value) == _outcome(column.widget.clean, value), (column.key, value)


def test_a_cleaner_remembers_a_bounded_number_of_texts_and_still_reads_the_others(catalogue) -> None:
    (column,) = [c for c in _columns(catalogue) if c.key == "sex"][:1]
    cleaner = column.widget.cleaner()
    words = [f"word {n}" for n in range(REMEMBERED_TEXTS + 20)]
    for word in [*words, *words]:
        assert _outcome(cleaner, word) == _outcome(column.widget.clean, word)
    assert cleaner("Nam") == column.widget.clean("Nam")


cell_text = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)


@fuzz_settings
@given(values=st.lists(st.one_of(cell_text, st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.dates()), max_size=20))
def test_cleaners_agree_with_clean_on_any_cells(catalogue, values) -> None:
    for column in _columns(catalogue):
        cleaner = column.widget.cleaner()
        for value in values:
            assert _outcome(cleaner, value) == _outcome(column.widget.clean, value), (column.key, value)
