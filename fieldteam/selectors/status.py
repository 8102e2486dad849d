"""The one rule that says where a reading stands against a target, and the colour that goes with it.

Every page and report that shows a value against a target (the dashboards, on a desk or a phone,
the field app's progress list, the periodic report) asks ``reading_status`` or ``target_status``:
the status decides the words and the colour, so a value is never painted by one rule (its distance
to the target) and labelled by another (its place on the path), and a target whose year is over
never reads "on track".

Statuses, in the order a page lists them:

- ``reached``: the value met the target (with the month it first did when the snapshots say so);
- ``on_track``: not yet met, at or above the straight path from the baseline to the target;
- ``behind``: not yet met, below that path;
- ``below``: not yet met, and no history yet to draw a path from (the first month of values);
- ``missed``: the target's year is over and it was not met by then;
- ``no_value``: nothing to compare (no value for the period);
- ``no_target``: a value, but no target in force.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PeriodKind
from fieldteam.models import Area, IndicatorValue, User
from fieldteam.periods import Period, month_index, month_start
from fieldteam.permissions import ensure_visible
from fieldteam.selectors.indicators import IndicatorReading, TargetInfo

REACHED = "reached"
ON_TRACK = "on_track"
BEHIND = "behind"
BELOW = "below"
MISSED = "missed"
NO_VALUE = "no_value"
NO_TARGET = "no_target"

STATUSES = (REACHED, ON_TRACK, BEHIND, BELOW, MISSED, NO_VALUE, NO_TARGET)

# The colour of each status: a class of ``formatting.TONES`` (``t-<tone>`` in the stylesheets and
# the report's cell fills). The colour follows the status and nothing else.
TONE = {
    REACHED: "reached",
    ON_TRACK: "near",
    BEHIND: "mid",
    BELOW: "mid",
    MISSED: "far",
    NO_VALUE: "none",
    NO_TARGET: "none",
}

LABELS = {
    REACHED: _("reached"),
    ON_TRACK: _("on track"),
    BEHIND: _("behind the path"),
    BELOW: _("below the target"),
    MISSED: _("missed"),
    NO_VALUE: _("no value yet"),
    NO_TARGET: _("no target"),
}

#: (indicator id, target year) -> the first month whose value met that year's target.
ReachedMonths = dict[tuple[int, int], date]


@dataclass(frozen=True)
class Status:
    """Where a value stands against one target: the status, its colour, and when it was reached."""

    code: str
    reached_on: date | None = None

    @property
    def tone(self) -> str:
        return TONE[self.code]

    @property
    def label(self) -> str:
        if self.code == REACHED and self.reached_on is not None:
            return str(_("reached (%(month)s)") % {"month": date_format(self.reached_on, "m/Y")})
        return str(LABELS[self.code])

    @property
    def met(self) -> bool:
        return self.code == REACHED

    def __str__(self) -> str:
        return self.label


def _deadline_passed(period: Period, target: TargetInfo) -> bool:
    """Whether ``period`` ends at or after the end of the target's year (the year is over)."""
    end, deadline = period.last_month_index, target.year * 12 + 11
    return end > deadline or (end == deadline and not period.is_open())


def target_status(reading: IndicatorReading, target: TargetInfo | None, reached: ReachedMonths | None = None) -> Status:
    """Where ``reading`` stands against ``target`` (one of ``reading.targets``, or its current one).

    ``reached`` (from ``reached_months``) gives the month a target was first met; without it a
    target whose year is over is judged by the value at the period's end when the period ends with
    that year, and otherwise only by the months it knows of (none: "missed").
    """
    # Measured by the official rate where the reading has one, else the register's (issue 15).
    value = reading.measured_value
    if target is None:
        return Status(NO_VALUE if value is None else NO_TARGET)
    first_met = (reached or {}).get((reading.indicator.pk, target.year))
    period = reading.period
    if _deadline_passed(period, target):
        deadline_value_met = period.last_month_index == target.year * 12 + 11 and target.is_met_by(value)
        if first_met is not None or deadline_value_met:
            return Status(REACHED, first_met)
        return Status(MISSED if value is not None or reached is not None else NO_VALUE)
    if value is None:
        return Status(NO_VALUE)
    if target.is_met_by(value):
        return Status(REACHED, first_met)
    if reading.on_track is None:
        return Status(BELOW)
    return Status(ON_TRACK if reading.on_track else BEHIND)


def reading_status(reading: IndicatorReading, reached: ReachedMonths | None = None) -> Status:
    """Where ``reading`` stands against the target it is measured by (the next target year's)."""
    return target_status(reading, reading.target, reached)


def reached_months(*, user: User, area: Area, readings: list[IndicatorReading]) -> ReachedMonths:
    """For each reading's targets, the first month (up to the period's end) whose value met it.

    One query: the area's month snapshots up to the period's end. A target's year bounds its
    search (a target met only after its year is still "missed"); the open month counts with the
    live value of the reading itself. Each month is measured like the reading: its numerator over
    that year's official figure where there is one, else the register's value (the figures of
    every year came with the readings: no query per month or year).
    """
    ensure_visible(user, area)
    if not readings:
        return {}
    period = readings[0].period
    wanted = {r.indicator.pk: r for r in readings if r.targets}
    if not wanted:
        return {}
    rows = (
        IndicatorValue.objects.filter(
            area=area,
            indicator_id__in=list(wanted),
            period_kind=PeriodKind.MONTH,
            period_start__lte=month_start(period.last_month_index),
            value__isnull=False,
        )
        .order_by("period_start")
        .values_list("indicator_id", "period_start", "numerator", "value")
    )
    months: dict[int, list[tuple[date, Decimal | None]]] = {}
    for indicator_id, start, numerator, value in rows:
        months.setdefault(indicator_id, []).append((start, wanted[indicator_id].measure_month(start, numerator, value)))
    for reading in wanted.values():
        if reading.is_live and reading.measured_value is not None:
            live_month = month_start(period.last_month_index)
            months.setdefault(reading.indicator.pk, []).append((live_month, reading.measured_value))
    result: ReachedMonths = {}
    for indicator_id, reading in wanted.items():
        for year, target in reading.targets.items():
            for start, month_value in months.get(indicator_id, ()):
                if month_index(start) > year * 12 + 11:
                    break
                if target.is_met_by(month_value):
                    result[(indicator_id, year)] = start
                    break
    return result


__all__ = [
    "STATUSES",
    "ReachedMonths",
    "Status",
    "reached_months",
    "reading_status",
    "target_status",
]
