"""How dashboards and reports write numbers, periods, choices and colour bands for people (in the active language).

Pure helpers (no query), shared by the dashboards and the report selectors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.formats import date_format, get_format, number_format
from django.utils.translation import gettext as _

from fieldteam.choices import PeriodKind
from fieldteam.periods import Period, month_start, today


def fmt(value: Decimal | float | int | None, places: int = 1) -> str:
    """A number for people: rounded half up, in the active language's format; "–" for none."""
    if value is None:
        return "–"
    quantum = Decimal(1).scaleb(-places)
    return number_format(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP), places)


def number_formatter(places: int = 1) -> Callable[[Decimal | None], str]:
    """A fast ``fmt`` for many numbers in the active language (its decimal separator looked up once)."""
    separator = get_format("DECIMAL_SEPARATOR")
    quantum = Decimal(1).scaleb(-places)

    def format_number(value: Decimal | None) -> str:
        if value is None:
            return "–"
        text = str(Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP))
        return text.replace(".", separator)

    return format_number


def fmt_short(value: Decimal | float | int | None, places: int = 1) -> str:
    """Like ``fmt`` without trailing zero decimals: ``95`` rather than ``95,0``, but ``96,5``."""
    if value is None:
        return "–"
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return fmt(rounded, 0) if rounded == rounded.to_integral_value() else fmt(rounded, places)


def period_label(period: Period) -> str:
    """``Tháng 03/2026``, ``Quý 1/2026``, ``Năm 2026`` (in the active language)."""
    if period.kind == PeriodKind.MONTH:
        return _("Month %(month)s") % {"month": date_format(period.start, "m/Y")}
    if period.kind == PeriodKind.QUARTER:
        return _("Quarter %(quarter)s/%(year)s") % {
            "quarter": (period.start.month - 1) // 3 + 1,
            "year": period.start.year,
        }
    return _("Year %(year)s") % {"year": period.start.year}


def current_period() -> Period:
    return Period.containing(PeriodKind.MONTH, today())


def period_choices(selected: Period, *, on: date | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The periods offered by the period picker, by kind: recent months, quarters and years."""
    on = on or today()
    this_month = Period.containing(PeriodKind.MONTH, on)
    months = [Period(PeriodKind.MONTH, month_start(this_month.first_month_index - i)) for i in range(12)]
    quarter = Period.containing(PeriodKind.QUARTER, on)
    quarters = [quarter]
    for _i in range(5):
        quarters.append(quarters[-1].previous())
    years = [Period(PeriodKind.YEAR, date(on.year - i, 1, 1)) for i in range(3)]
    groups = [(_("Months"), months), (_("Quarters"), quarters), (_("Years"), years)]
    if all(selected not in periods for _label, periods in groups):
        kind_index = {PeriodKind.MONTH: 0, PeriodKind.QUARTER: 1, PeriodKind.YEAR: 2}[PeriodKind(selected.kind)]
        groups[kind_index][1].append(selected)
    return [(label, [(str(p), period_label(p)) for p in periods]) for label, periods in groups]


def yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return _("Yes") if value else _("No")


# The colour bands (CSS classes ``t-<tone>``, the report's cell fills). Which band a value gets is
# decided by its status alone (``selectors.status.TONE``), never by its distance to the target.
TONES = ("reached", "near", "mid", "far", "none")
