"""What every fieldteam import/export resource shares: columns, cell widgets, headers, templates.

A resource is a django-import-export ``ModelResource`` whose fields are ``Column``\\ s: each has a
Vietnamese header (the file format: the same in every interface language, so a file made by one
officer imports for another), the aliases it is also recognised by (the header without accents,
the field's own name), whether the import needs it, and a translated note on how to fill it in
(shown in the template's instructions sheet).

Widgets turn a cell into a Python value and back. They accept what spreadsheets really contain:
dates as date cells, Excel serial numbers or ``dd/mm/yyyy`` text; codes and identifiers typed as
numbers (so ``1085123456`` is the CCCD ``001085123456`` whose leading zeros Excel dropped); yes/no
as ``có``/``không``/``x``. A widget raises ``ValueError`` with a translated message that the import
puts on the row and column.

Exports write native values to XLSX (dates as date cells) and text to CSV (``dd/mm/yyyy``), in the
same columns as the import reads, so an exported file can be edited and imported again. Every file
is written by ``fieldteam.spreadsheets.writing`` (formulas neutralised) and read by
``fieldteam.spreadsheets.reading`` (size caps, encodings).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.db.models import QuerySet
from django.utils.encoding import force_str
from django.utils.translation import gettext
from import_export import resources, widgets
from import_export.fields import Field

from fieldteam.spreadsheets import writing
from fieldteam.spreadsheets.columns import (
    CONTENT_TYPES,
    CSV,
    DATA_SHEET,
    DATE_DISPLAY,
    EXCEL_DATE_FORMAT,
    EXCEL_TEXT_FORMAT,
    FORMATS,
    HELP_SHEET,
    XLSX,
)

__all__ = ["CONTENT_TYPES", "CSV", "DATA_SHEET", "DATE_DISPLAY", "FORMATS", "HELP_SHEET", "XLSX"]

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_CODE_IN_BRACKETS = re.compile(r"\[([A-Za-z0-9_.\-]+)\]\s*$")
_MASKED = "*"


def match_key(text: Any) -> str:
    """The key two spellings of a header, a choice word or a name in one file are matched by.

    Lower-case ASCII words: compatibility forms unified (NFKD: full-width letters and digits),
    accents dropped, ``đ`` → ``d``, anything else (punctuation, symbols, other scripts) a word
    separator: ``"Ngày sinh (dd/mm/yyyy)"`` → ``"ngay sinh dd mm yyyy"``. Looser than
    ``names.fold_name``, the form search and duplicate detection compare stored names in, which
    keeps punctuation and every script.
    """
    if isinstance(text, str):
        return _fold_text(text)
    return _fold_text(force_str(text if text is not None else ""))


@functools.lru_cache(maxsize=8192)
def _fold_text(text: str) -> str:
    value = text.replace("đ", "d").replace("Đ", "D")
    value = unicodedata.normalize("NFKD", value)
    value = "".join(ch for ch in value if not unicodedata.combining(ch)).lower()
    return _NON_ALNUM.sub(" ", value).strip()


def bracket_code(header: Any) -> str | None:
    """The ``code`` of a header ending in ``[code]`` (capability columns), else ``None``."""
    match = _CODE_IN_BRACKETS.search(force_str(header or ""))
    return match[1] if match else None


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _integral_text(value: Any) -> str | None:
    """``12`` and ``12.0`` (numbers as spreadsheets store them) as ``"12"``; ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return str(int(value))
    return None


# --- widgets ---------------------------------------------------------------------------------------


# Texts a column's cleaner remembers the value of (codes, choices and yes/no repeat down a column).
REMEMBERED_TEXTS = 512
_IMMUTABLE = frozenset({str, int, bool, dt.date, Decimal, type(None)})


class CellWidget(widgets.Widget):
    """Base of the fieldteam widgets: ``clean`` returns ``None`` for a blank cell."""

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> Any:
        if is_blank(value):
            return None
        return self.parse(value)

    def cleaner(self) -> Callable[[Any], Any]:
        """``clean`` as one function for the cells of a column read row after row (an import's parser).

        The same value, or the same ``ValueError``, as ``clean`` for every cell (``tests/imports/
        test_cell_parsers.py``); made once per column, not looked up per cell. Here: a text the
        column repeats is cleaned once (the first ``REMEMBERED_TEXTS`` distinct ones, immutable
        values only); widgets whose cells rarely repeat take a shorter way for text instead.
        """
        clean = self.clean
        remembered: dict[str, Any] = {}

        def clean_cell(value: Any) -> Any:
            if value.__class__ is not str:
                return clean(value)
            if value in remembered:
                return remembered[value]
            result = clean(value)
            if len(remembered) < REMEMBERED_TEXTS and result.__class__ in _IMMUTABLE:
                remembered[value] = result
            return result

        return clean_cell

    def parse(self, value: Any) -> Any:
        return value

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> Any:
        return "" if value is None else force_str(value)

    def to_cell(self, value: Any, fmt: str) -> Any:
        """The value to write into an export cell of format ``fmt``."""
        return self.render(value)


class TextWidget(CellWidget):
    """Free text: trimmed, inner whitespace collapsed, at most ``max_length`` characters."""

    def __init__(self, max_length: int | None = None) -> None:
        super().__init__(coerce_to_string=True)
        self.max_length = max_length

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        if is_blank(value):
            return ""
        return self.parse(value)

    def cleaner(self) -> Callable[[Any], Any]:
        if type(self).parse is not TextWidget.parse or type(self).clean is not TextWidget.clean:
            return super().cleaner()  # a subclass reads text its own way
        clean, limit = self.clean, self.max_length

        def clean_text(value: Any) -> Any:
            # A text cell (names, addresses: rarely repeated), as ``clean`` and ``parse`` treat it.
            if value.__class__ is str:
                text = " ".join(value.split())
                if limit is None or len(text) <= limit:
                    return text
            return clean(value)

        return clean_text

    def parse(self, value: Any) -> str:
        text = _integral_text(value) or force_str(value)
        text = " ".join(text.split())
        if self.max_length is not None and len(text) > self.max_length:
            raise ValueError(gettext("At most %(count)d characters.") % {"count": self.max_length})
        return text


class CodeWidget(TextWidget):
    """A code: numbers typed into the cell lose their ``.0``; ``pad`` zero-pads all-digit codes."""

    def __init__(self, max_length: int | None = None, pad: int | None = None) -> None:
        super().__init__(max_length)
        self.pad = pad

    def parse(self, value: Any) -> str:
        text = super().parse(value).replace(" ", "")
        if self.pad and text.isdigit() and len(text) < self.pad:
            text = text.zfill(self.pad)
        return text

    def cleaner(self) -> Callable[[Any], Any]:
        if type(self).parse is not CodeWidget.parse or type(self).clean is not TextWidget.clean:
            return super().cleaner()  # a subclass reads codes its own way
        clean, limit, pad = self.clean, self.max_length, self.pad

        def clean_code(value: Any) -> Any:
            # A text cell (a household's code: repeated only by its few rows), as ``clean`` and ``parse`` treat it.
            if value.__class__ is str:
                text = " ".join(value.split())
                if limit is None or len(text) <= limit:
                    text = text.replace(" ", "")
                    return text.zfill(pad) if pad and text.isdigit() and len(text) < pad else text
            return clean(value)

        return clean_code


class IdentifierWidget(CellWidget):
    """A CCCD or phone number as text, repaired where a spreadsheet stored it as a number.

    ``digits``: the length of the identifier (12 for a CCCD, 10 for a phone); a number cell shorter
    than that lost its leading zeros and gets them back. A masked value (``*********123``, as the
    exports write identifiers) stands for "the stored one" and reads as blank.
    """

    def __init__(self, digits: int) -> None:
        super().__init__(coerce_to_string=True)
        self.digits = digits

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        if is_blank(value):
            return ""
        number = _integral_text(value)
        if number is not None:
            return number.zfill(self.digits) if len(number) < self.digits else number
        text = force_str(value).strip()
        if _MASKED in text:
            return ""
        return text

    def cleaner(self) -> Callable[[Any], Any]:
        if type(self).clean is not IdentifierWidget.clean:
            return super().cleaner()  # a subclass reads text its own way
        clean = self.clean

        def clean_identifier(value: Any) -> Any:
            # A text cell (every row its own number), as ``clean`` treats it.
            if value.__class__ is str:
                text = value.strip()
                return "" if _MASKED in text else text
            return clean(value)

        return clean_identifier


class DateWidget(CellWidget):
    """A date: a date cell, an Excel serial number, or text ``dd/mm/yyyy`` (also ``-`` and ``.``) or ``yyyy-mm-dd``."""

    _DMY = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")
    _YMD = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?")

    def cleaner(self) -> Callable[[Any], Any]:
        remembering = super().cleaner()
        if type(self).parse is not DateWidget.parse:
            return remembering  # a subclass reads dates its own way

        def clean_date(value: Any) -> Any:
            # A date cell, as ``parse`` reads it; text (and numbers) the general way.
            if value.__class__ is dt.datetime:
                return value.date()
            if value.__class__ is dt.date:
                return value
            return remembering(value)

        return clean_date

    def parse(self, value: Any) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            from openpyxl.utils.datetime import from_excel

            try:
                converted = from_excel(value)
            except (ValueError, OverflowError, TypeError):
                converted = None
            if isinstance(converted, dt.datetime):
                return converted.date()
            if isinstance(converted, dt.date):
                return converted
        text = force_str(value).strip()
        for pattern, order in ((self._DMY, (3, 2, 1)), (self._YMD, (1, 2, 3))):
            match = pattern.fullmatch(text)
            if match:
                try:
                    return dt.date(int(match[order[0]]), int(match[order[1]]), int(match[order[2]]))
                except ValueError:
                    break
        raise ValueError(gettext("Write the date as dd/mm/yyyy, for example 25/03/1985."))

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return value.strftime(DATE_DISPLAY) if value else ""

    def to_cell(self, value: Any, fmt: str) -> Any:
        if fmt == XLSX:
            return value or None
        return self.render(value)


class IntegerWidget(CellWidget):
    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        super().__init__(coerce_to_string=True)
        self.low, self.high = low, high

    def parse(self, value: Any) -> int:
        text = _integral_text(value)
        if text is None:
            text = force_str(value).strip().replace(" ", "")
        if not re.fullmatch(r"-?\d+", text):
            raise ValueError(gettext("Write a whole number."))
        number = int(text)
        if (self.low is not None and number < self.low) or (self.high is not None and number > self.high):
            raise ValueError(gettext("Write a number from %(low)s to %(high)s.") % {"low": self.low, "high": self.high})
        return number

    def to_cell(self, value: Any, fmt: str) -> Any:
        # A number in both formats: the spreadsheet writer writes it (a negative one stays a number).
        return value


class DecimalWidget(CellWidget):
    """A decimal number; ``80,5`` (Vietnamese decimal comma) and a trailing ``%`` are accepted."""

    def parse(self, value: Any) -> Decimal:
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            return Decimal(str(value))
        text = force_str(value).strip().rstrip("%").strip().replace(" ", "")
        if "," in text and "." not in text:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(gettext("Write a number, for example 80 or 80,5.")) from None
        if not number.is_finite():
            raise ValueError(gettext("Write a number, for example 80 or 80,5."))
        return number

    def to_cell(self, value: Any, fmt: str) -> Any:
        if value is None:
            return None
        return float(value) if fmt == XLSX else value


YES_WORDS = frozenset({"co", "x", "1", "yes", "y", "true", "dung", "da co", "v"})
NO_WORDS = frozenset({"khong", "0", "no", "n", "false", "chua", "chua co", "k"})


class YesNoWidget(CellWidget):
    """Yes or no: ``có``/``x``/``1`` or ``không``/``0`` (accents optional); blank is ``None``."""

    def parse(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        word = match_key(_integral_text(value) or value)
        if word in YES_WORDS:
            return True
        if word in NO_WORDS:
            return False
        raise ValueError(gettext("Write “có” (yes) or “không” (no)."))

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        if value is None:
            return ""
        return "có" if value else "không"


class ChoiceWidget(CellWidget):
    """One of a fixed set: ``words`` maps what may be written (any accents/case) to the stored value.

    The first word given for a value is how exports write it.
    """

    def __init__(self, words: Sequence[tuple[str, str]], message: Any) -> None:
        super().__init__(coerce_to_string=True)
        # Symbols (≥, >) fold to nothing: they are matched as written.
        self.exact = {word.strip().lower(): value for word, value in words}
        self.by_word = {match_key(word): value for word, value in words if match_key(word)}
        self.by_value: dict[str, str] = {}
        for word, value in words:
            self.by_value.setdefault(value, word)
        self.message = message

    def parse(self, value: Any) -> str:
        found = self.exact.get(force_str(value).strip().lower()) or self.by_word.get(match_key(value))
        if found is None:
            raise ValueError(force_str(self.message))
        return found

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return self.by_value.get(value, value or "")

    @property
    def written_forms(self) -> list[str]:
        return list(self.by_value.values())


class ListWidget(CellWidget):
    """Several codes in one cell, separated by commas, semicolons or line breaks."""

    def __init__(self, item: CodeWidget) -> None:
        super().__init__(coerce_to_string=True)
        self.item = item

    def cleaner(self) -> Callable[[Any], Any]:
        return self.clean  # a list: a fresh one for every cell

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> list[str]:
        if is_blank(value):
            return []
        parts = re.split(r"[,;\n]+", _integral_text(value) or force_str(value))
        return [self.item.parse(p) for p in parts if p.strip()]

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return ", ".join(value or [])


# --- columns and resources ---------------------------------------------------------------------------


class Column(Field):
    """A resource field that is also a column of the file format (columns keep their declaration order)."""

    creation_counter = 0

    def __init__(
        self,
        header: str,
        *,
        attribute: str | None = None,
        widget: CellWidget | None = None,
        required: bool = False,
        aliases: Iterable[str] = (),
        help_text: Any = "",
        example: Any = "",
        export: bool = True,
        import_: bool = True,
    ) -> None:
        super().__init__(attribute=attribute, column_name=header, widget=widget or TextWidget(), readonly=not import_)
        self.header = header
        self.required = required
        self.aliases = tuple(aliases)
        self.help_text = help_text
        self.example = example
        self.exported = export
        self.imported = import_
        self.key = ""  # set by the resource: its field name
        self.position = Column.creation_counter
        Column.creation_counter += 1

    def matches(self) -> set[str]:
        """The folded headers this column is recognised by."""
        return {match_key(self.header), match_key(self.key), *(match_key(a) for a in self.aliases)} - {""}


class HeaderProblem(ValueError):
    """The header row does not fit the resource: missing required columns."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(missing)
        self.missing = missing


class FieldteamResource(resources.ModelResource):
    """Base resource: Vietnamese columns, header matching, templates and streaming exports.

    Subclasses declare ``Column`` fields (and may add more per instance in ``extra_columns``).
    ``import_kind``/``export_kind`` name the kind in ``fieldteam.imports.engine``/``fieldteam.exports``.
    """

    import_kind: ClassVar[str] = ""
    export_kind: ClassVar[str] = ""
    title: ClassVar[Any] = ""

    class Meta:
        abstract = True
        skip_unchanged = False
        report_skipped = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__()
        self.options = kwargs
        for name, field in list(self.fields.items()):
            if isinstance(field, Column):
                field.key = name
        for name, column in self.extra_columns():
            column.key = name
            self.fields[name] = column

    def extra_columns(self) -> list[tuple[str, Column]]:
        """Columns known only at run time (one per capability of the catalogue)."""
        return []

    # --- columns -------------------------------------------------------------------------------

    def columns(self) -> list[Column]:
        return sorted((f for f in self.fields.values() if isinstance(f, Column)), key=lambda c: c.position)

    def import_columns(self) -> list[Column]:
        return [c for c in self.columns() if c.imported]

    def export_columns(self) -> list[Column]:
        return [c for c in self.columns() if c.exported]

    def get_import_fields(self) -> list[Field]:
        return list(self.import_columns())

    def get_export_fields(self, selected_fields: Any = None) -> list[Field]:
        return list(self.export_columns())

    def get_export_headers(self, selected_fields: Any = None) -> list[str]:
        return [c.header for c in self.export_columns()]

    def match_headers(self, headers: Sequence[Any], *, not_required: Iterable[str] = ()) -> dict[int, Column]:
        """Map the file's header cells (by position) to columns; raise ``HeaderProblem`` for missing ones.

        A header is matched by its Vietnamese form with or without accents, the column's aliases,
        or the ``[code]`` a capability column ends with. Unknown headers are ignored (a file may
        carry columns of its own).
        """
        by_fold: dict[str, Column] = {}
        by_code: dict[str, list[Column]] = {}
        for candidate in self.import_columns():
            for word in candidate.matches():
                by_fold.setdefault(word, candidate)
            code = bracket_code(candidate.header)
            if code:
                by_code.setdefault(code, []).append(candidate)
        found: dict[int, Column] = {}
        taken: set[str] = set()
        for position, header in enumerate(headers):
            if is_blank(header):
                continue
            column = by_fold.get(match_key(header))
            code = bracket_code(header)
            if column is None and code in by_code:
                # A renamed capability keeps its code: tell the yes/no column from the date column.
                is_date = "ngay" in match_key(force_str(header).rsplit("[", 1)[0]).split()
                column = next((c for c in by_code[code] if isinstance(c.widget, DateWidget) == is_date), None)
            if column is not None and column.key not in taken:
                found[position] = column
                taken.add(column.key)
        skip = set(not_required)
        missing = [c.header for c in self.import_columns() if c.required and c.key not in taken and c.key not in skip]
        if missing:
            raise HeaderProblem(missing)
        return found

    # --- templates -----------------------------------------------------------------------------

    def template_bytes(self, fmt: str = XLSX) -> bytes:
        """An empty file to fill in: the header row; for XLSX also an instructions sheet."""
        return writing.spreadsheet_bytes(fmt, self._write_template)

    def _write_template(self, writer: writing.SpreadsheetWriter) -> None:
        columns = self.import_columns()
        sheet = writer.sheet(DATA_SHEET)
        if writer.fmt == CSV:
            sheet.append([c.header for c in columns])
            return
        for index, column in enumerate(columns, start=1):
            number_format = None
            if isinstance(column.widget, DateWidget):
                number_format = EXCEL_DATE_FORMAT
            elif isinstance(column.widget, IdentifierWidget | CodeWidget):
                number_format = EXCEL_TEXT_FORMAT  # text: keeps leading zeros
            sheet.column(index, width=max(12, min(48, len(column.header) + 2)), number_format=number_format)
        sheet.freeze(2)
        sheet.append([writing.Styled(c.header, bold=True, fill="FFF2CC" if c.required else None) for c in columns])
        notes = writer.sheet(HELP_SHEET)
        for index, width in enumerate((40, 10, 80, 24), start=1):
            notes.column(index, width=width)
        notes.append(
            [
                writing.Styled(t, bold=True)
                for t in (gettext("Column"), gettext("Required"), gettext("How to fill it in"), gettext("Example"))
            ]
        )
        for column in columns:
            notes.append(
                [column.header, gettext("yes") if column.required else "", force_str(column.help_text), column.example]
            )

    # --- exports -------------------------------------------------------------------------------

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        """The queryset as the export reads it (related rows joined in); override per resource."""
        return queryset

    def prepare_export_chunk(self, objects: list[Any]) -> None:
        """Load what a chunk of rows needs in a few queries (e.g. adoption dates); override."""

    def export_row(self, obj: Any, fmt: str) -> list[Any]:
        row = []
        for column in self.export_columns():
            value = self.export_value(column, obj)
            row.append(column.widget.to_cell(value, fmt))  # type: ignore[attr-defined]  # our widgets (resources/widgets.py) all define to_cell
        return row

    def export_value(self, column: Column, obj: Any) -> Any:
        method = getattr(self, f"dehydrate_{column.key}", None)
        if method is not None:
            return method(obj)
        return column.get_value(obj)

    def iter_export_rows(self, queryset: QuerySet, fmt: str, *, chunk_size: int = 2000) -> Iterator[list[Any]]:
        """Rows of the export, streamed: the queryset is read in chunks of ``chunk_size``, by pk."""
        queryset = self.export_queryset(queryset).order_by("pk")
        last_pk: Any = None
        while True:
            page = queryset if last_pk is None else queryset.filter(pk__gt=last_pk)
            objects = list(page[:chunk_size])
            if not objects:
                return
            self.prepare_export_chunk(objects)
            for obj in objects:
                yield self.export_row(obj, fmt)
            last_pk = objects[-1].pk
