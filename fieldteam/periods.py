"""Reporting periods: month, quarter, year. Every period ends at a month's end.

Because every period ends at the end of a month, a resident's age at a period's end depends only
on the birth month (``Resident.birth_month_index``) and the period's last month: counting
needs no day arithmetic.
"""

from __future__ import annotations

import calendar
import functools
import re
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PeriodKind

_MONTHS_IN = {PeriodKind.MONTH: 1, PeriodKind.QUARTER: 3, PeriodKind.YEAR: 12}


def month_index(day: date) -> int:
    """Months since year 0 of ``day``'s month (the scale of ``Resident.birth_month_index``)."""
    return day.year * 12 + day.month - 1


def month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


@functools.lru_cache(maxsize=4096)
def month_end(index: int) -> date:
    """The last day of the month ``index`` (cached: a ranking asks it of ~1,000 projections per view)."""
    year, month = index // 12, index % 12 + 1
    return date(year, month, calendar.monthrange(year, month)[1])


def today() -> date:
    return timezone.localdate()


@dataclass(frozen=True, order=True)
class Period:
    """A month, quarter or year, identified by its kind and first day."""

    kind: str
    start: date

    @classmethod
    def containing(cls, kind: str, day: date) -> Period:
        if kind == PeriodKind.MONTH:
            return cls(kind, day.replace(day=1))
        if kind == PeriodKind.QUARTER:
            return cls(kind, date(day.year, (day.month - 1) // 3 * 3 + 1, 1))
        if kind == PeriodKind.YEAR:
            return cls(kind, date(day.year, 1, 1))
        raise ValueError(kind)

    @classmethod
    def parse(cls, text: str) -> Period:
        """``2026-03`` (month), ``2026-Q1`` (quarter) or ``2026`` (year)."""
        text = (text or "").strip().upper()
        if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
            if 1 <= int(m[2]) <= 12:
                return cls(PeriodKind.MONTH, date(int(m[1]), int(m[2]), 1))
        elif m := re.fullmatch(r"(\d{4})-Q([1-4])", text):
            return cls(PeriodKind.QUARTER, date(int(m[1]), (int(m[2]) - 1) * 3 + 1, 1))
        elif m := re.fullmatch(r"(\d{4})", text):
            return cls(PeriodKind.YEAR, date(int(m[1]), 1, 1))
        raise ValidationError(
            {"period": [_("A period is written 2026-03 (month), 2026-Q1 (quarter) or 2026 (year).")]},
            code="period_format",
        )

    @property
    def months(self) -> int:
        return _MONTHS_IN[PeriodKind(self.kind)]

    @property
    def first_month_index(self) -> int:
        return month_index(self.start)

    @property
    def last_month_index(self) -> int:
        return self.first_month_index + self.months - 1

    @property
    def end(self) -> date:
        return month_end(self.last_month_index)

    def __str__(self) -> str:
        if self.kind == PeriodKind.MONTH:
            return f"{self.start:%Y-%m}"
        if self.kind == PeriodKind.QUARTER:
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return str(self.start.year)

    def is_open(self, on: date | None = None) -> bool:
        """True while ``on`` (today) is inside the period: its value is read live."""
        on = on or today()
        return self.start <= on <= self.end

    def previous(self) -> Period:
        return Period(self.kind, month_start(self.first_month_index - self.months))
