"""What a dashboard page shows, assembled from the selectors (and only from them).

``build_dashboard`` calls, as the viewing user:

- ``area_indicator_values`` — each indicator's value, targets, gap and projection;
- ``indicator_series_many`` — every indicator's monthly trend (one query for all of them, whatever
  the size of the area; the open month's point of a computed indicator is the live reading itself,
  the very number ``indicator_series`` would give, so the live counts are summed once, not once
  per indicator);
- ``child_indicator_values`` — the child areas ranked by gap (over the readings' indicators);
- ``team_activity`` — logs per member and per week, members with no activity;
- ``work_list`` — for a village, who still lacks each capability.

The number of queries therefore depends neither on the number of indicators nor on the number of
villages, communes, residents or logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from html import escape  # what Django's ``escape`` calls, without its lazy-string check on each of ~5,000 calls

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.formats import localize
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from fieldteam.choices import IndicatorGroup, IndicatorKind, PeriodKind
from fieldteam.dashboards import charts
from fieldteam.formatting import number_formatter, period_label
from fieldteam.models import Area, Indicator, User
from fieldteam.periods import Period, month_index, month_start, today
from fieldteam.permissions import Scope, scope_for
from fieldteam.selectors.activity import TeamActivity, team_activity
from fieldteam.selectors.coverage import TeamCoverage
from fieldteam.selectors.indicators import (
    ChildValues,
    IndicatorReading,
    SeriesPoint,
    TargetInfo,
    area_indicator_values,
    child_indicator_values,
    indicator_series_many,
    official_figures_for,
)
from fieldteam.selectors.national import last_closed_month, national_indicator_values, province_ranking
from fieldteam.selectors.reasons import ReasonCounts
from fieldteam.selectors.status import STATUSES, ReachedMonths, Status, reached_months, reading_status, target_status
from fieldteam.selectors.work_list import WorkListSection, work_list
from fieldteam.services.reports import EARLIEST_YEAR

TREND_MONTHS = 12
# Above a village only the most active members are listed; the report lists everyone.
MEMBER_LIMIT = 25
INACTIVE_SHOWN = 60


@dataclass
class IndicatorCard:
    number: int
    reading: IndicatorReading
    band: str
    targets: list[tuple[TargetInfo, Status]]  # each target in force, and where the value stands against it
    series: list[SeriesPoint]
    bar: SafeString
    trend: SafeString

    @property
    def indicator(self) -> Indicator:
        return self.reading.indicator

    @property
    def has_trend(self) -> bool:
        return any(point.measured_value is not None for point in self.series)

    status: Status  # against the target the reading is measured by (``selectors.status``)

    @property
    def met(self) -> bool:
        return self.status.met


@dataclass
class ChildCell:
    reading: IndicatorReading
    band: str
    text: str  # the value as printed (a province's ranking has thousands of cells: formatted once here)
    # The rate over the official population, printed first when there is one; the three values and
    # any warning in the cell's title.
    official_text: str = ""
    title: str = ""
    # Without an official rate: why (no figure, or the villages missing one). The same for every
    # cell of a band in a row, so said once on the row (``ChildRow.note``), not in each cell's title.
    source: str = ""

    @property
    def html(self) -> str:
        title = f' title="{escape(self.title)}"' if self.title else ""
        warn = " ⚠" if self.reading.warnings else ""
        # The texts are ``number_formatter``'s (digits, a sign, the decimal separator, "–"): nothing to escape.
        if self.official_text:
            inner = f'{self.official_text} <small class="muted">{self.text}</small>{warn}'
        else:
            inner = f"{self.text}{warn}"
        return f'<td class="t-{self.band}"{title}>{inner}</td>'


@dataclass
class ChildRow:
    rank: int
    child: ChildValues
    band: str  # colour of the ranking value (the mean gap, or the chosen indicator's value)
    ranked_value: object
    ranked_text: str
    cells: list[ChildCell]
    visible: bool = True
    href: str = ""  # the area's own dashboard for the same period (a link when ``visible``)

    @cached_property
    def note(self) -> str:
        """Why the row's cells have no official rate, each reason once (the title of the area's name).

        A commune without figures once had the list of its villages missing one in the title of
        each of its cells: 300 KB of a province's page for the same few words."""
        return " · ".join(dict.fromkeys(cell.source for cell in self.cells if cell.source))

    @property
    def cells_html(self) -> SafeString:
        """The row's value cells, written once here rather than by the template (a province has thousands)."""
        # Bands come from ``formatting.TONES`` and texts from ``number_formatter``: digits, a separator, "–".
        return mark_safe("".join(c.html for c in self.cells))  # noqa: S308

    @property
    def html(self) -> SafeString:
        """The whole row (rank, the area's name or link, the ranked value, the cells), written here
        rather than by the template: per row the template cost more than all the rest of the table."""
        name = escape(self.child.area.name)
        if self.visible:
            name = SafeString(f'<a href="{escape(self.href)}">{name}</a>')
        title = f' title="{escape(self.note)}"' if self.note else ""
        return mark_safe(  # noqa: S308 - every text escaped above, the cells by ``ChildCell.html``
            f'<tr><td>{self.rank}</td><th class="name"{title}>{name}</th>'
            f'<td class="t-{escape(self.band)}">{escape(self.ranked_text)}</td>{self.cells_html}</tr>'
        )


@dataclass
class Dashboard:
    area: Area
    period: Period
    period_label: str
    ancestors: list[tuple[Area, bool]]
    cards: list[IndicatorCard]
    groups: list[tuple[str, list[IndicatorCard]]]  # indicators with a value or a trend, by group
    empty_cards: list[IndicatorCard]  # indicators with neither: listed briefly with their targets
    columns: list[IndicatorCard]  # indicators shown in the child ranking
    children: list[ChildRow]  # ranked; children without any value are in ``children_empty``
    children_empty: list[ChildRow]
    rank_card: IndicatorCard | None
    activity: TeamActivity
    week_chart: SafeString
    work_list: list[WorkListSection] = field(default_factory=list)
    is_live: bool = False

    @property
    def summary(self) -> dict[str, int]:
        """How many indicators have each status (``selectors.status``), and how many in all."""
        counts = dict.fromkeys(STATUSES, 0)
        for card in self.cards:
            counts[card.status.code] += 1
        return {"indicators": len(self.cards), **counts}

    @property
    def activity_children(self) -> list:
        """Child areas with a team or some activity; the others are only counted."""
        return [c for c in self.activity.children if c.members or c.logs or c.sessions]

    @property
    def quiet_children(self) -> int:
        return len(self.activity.children) - len(self.activity_children)

    @property
    def inactive_shown(self) -> list:
        return self.activity.inactive[:INACTIVE_SHOWN]

    @property
    def inactive_more(self) -> int:
        return max(0, len(self.activity.inactive) - INACTIVE_SHOWN)


def band_of(reading: IndicatorReading, reached: ReachedMonths | None = None) -> str:
    """The colour of a reading: its status's (``selectors.status``), never a threshold of its own."""
    return reading_status(reading, reached).tone


def _marks(reading: IndicatorReading, reached: ReachedMonths) -> list[charts.TargetMark]:
    return [
        charts.TargetMark(year, info.value, target_status(reading, info, reached).met)
        for year, info in sorted(reading.targets.items())
    ]


def trend_window(period: Period) -> tuple[int, int]:
    """First and last month index of the trend shown for ``period``: a year up to its end (or today)."""
    last = min(period.last_month_index, month_index(today()))
    return last - TREND_MONTHS + 1, last


def series_for(*, user: User, area: Area, readings: list[IndicatorReading], period: Period) -> dict[int, list[SeriesPoint]]:
    """The trend of each reading's indicator over the trend window (indicator id → points), in one query.

    While the period is open, a computed indicator's last (current) month is live: its point is
    the live reading already at hand (``indicator_series`` would sum the same counts again). An
    area without live counts has that month from ``indicator_series_many`` too, so that the point
    is exactly the selector's.
    """
    first, last = trend_window(period)
    live_last = {
        reading.indicator.pk: reading
        for reading in readings
        if reading.is_live
        and bool(reading.denominator)
        and reading.indicator.kind == IndicatorKind.COMPUTED
        and last == month_index(today())
    }
    series = indicator_series_many(
        user=user,
        area=area,
        indicators=[reading.indicator for reading in readings],
        first_month=month_start(first),
        last_month=month_start(last),
        figures=readings[0].official_history if readings else None,
        live={pk: (r.numerator or 0, r.denominator or 0) for pk, r in live_last.items()},
    )
    for pk, reading in live_last.items():
        series[pk][-1] = SeriesPoint(
            month_start(last), reading.numerator, reading.denominator, reading.value, True, reading.measured_value
        )
    return series


class CellWriter:
    """Writes a ranking's cells with what they share translated once: a province's
    ranking has some 1,500 cells, and most of their labels are the same few strings."""

    def __init__(self, format_number: Callable[[Decimal | None], str]) -> None:
        self.format_number = format_number
        self.title_format = _("Official: %(official)s · register: %(register)s · coverage: %(coverage)s")
        self._sources: dict[tuple[object, str], str] = {}
        self._warnings: dict[tuple[str, ...], list[str]] = {}

    def source(self, reading: IndicatorReading) -> str:
        """``reading.official_source_label``, once per figure and level (many cells share one)."""
        key = (reading.official, reading.official_level)
        label = self._sources.get(key)
        if label is None:
            label = self._sources[key] = reading.official_source_label
        return label

    def cell(self, reading: IndicatorReading) -> ChildCell:
        """A ranking cell: the official rate first (when there is one), the register's, the three in its title.

        Without an official rate the cell shows the register's alone, and why there is none goes to
        the row (``ChildCell.source``, ``ChildRow.note``)."""
        format_number = self.format_number
        text = format_number(reading.value)
        if not reading.official_band:
            return ChildCell(reading, band_of(reading), text)
        if not reading.has_official:
            return ChildCell(reading, band_of(reading), text, source=self.source(reading))
        official = format_number(reading.official_value)
        title = self.title_format % {
            "official": official,
            "register": text,
            "coverage": format_number(reading.coverage),
        }
        if reading.warnings:
            labels = self._warnings.get(reading.warnings)
            if labels is None:
                labels = self._warnings[reading.warnings] = reading.warning_labels
            title = " ".join([title, *labels])
        return ChildCell(reading, band_of(reading), text, official, title)


def _ranking(
    ranked: list[ChildValues],
    cards: list[IndicatorCard],
    rank_card: IndicatorCard | None,
    scope: Scope,
    period: Period,
) -> tuple[list[IndicatorCard], list[ChildRow]]:
    """The ranking table of an area's children (or the nation's provinces), already in rank order: the
    indicator columns that have a value somewhere, and a row per child with its cells and the link
    to its dashboard for ``period``."""
    columns = [
        card for position, card in enumerate(cards) if any(row.readings[position].value is not None for row in ranked)
    ]
    positions = [card.number - 1 for card in columns]
    format_number = number_formatter()
    writer = CellWriter(format_number)
    query = f"?period={period}"
    rows: list[ChildRow] = []
    for rank, row in enumerate(ranked, start=1):
        cells = [writer.cell(row.readings[p]) for p in positions]
        if rank_card is not None:
            chosen = row.readings[rank_card.number - 1]
            band, value = band_of(chosen), chosen.measured_value
        else:
            # The mean gap is not a reading: it has no status, hence no colour.
            value, band = row.gap_score, "plain"
        visible = scope.contains(row.area)
        href = reverse("dashboards:area", kwargs={"area_id": row.area.pk}) + query if visible else ""
        rows.append(ChildRow(rank, row, band, value, format_number(value), cells, visible, href))
    return columns, rows


def _number_texts() -> Callable[[object], str]:
    """A number as a template prints ``{{ value }}`` (localized, escaped), each distinct one worked out
    once: the tables below print hundreds of them, most the same few."""
    texts: dict[tuple[type, str], str] = {}

    def text(value: object) -> str:
        key = (type(value), str(value))
        found = texts.get(key)
        if found is None:
            found = texts[key] = escape(str(localize(value)))
        return found

    return text


def coverage_rows(coverage: TeamCoverage) -> SafeString:
    """The rows of the team-coverage table (one per child area), as ``_coverage.html`` printed them."""
    text = _number_texts()
    rows = []
    for c in coverage.children:
        far = ' class="t-far"' if c.villages and c.villages_with_team < c.villages else ""
        share = "" if c.village_share is None else f" ({text(c.village_share)}%)"
        per_team = text(c.members_per_team) if c.members_per_team else "–"
        rows.append(
            f'<tr><th class="name">{escape(c.area.name)}</th><td>{text(c.villages)}</td>'
            f"<td{far}>{text(c.villages_with_team)}{share}</td><td>{text(c.teams)}</td><td>{per_team}</td>"
            f"<td>{text(c.members_trained)}/{text(c.members)}</td></tr>"
        )
    return mark_safe("".join(rows))  # noqa: S308 - names and numbers escaped above


def reason_rows(reasons: ReasonCounts) -> SafeString:
    """The rows of the not-done reasons table (one per child area), as ``_reasons.html`` printed them."""
    rows = []
    for row in reasons.children:
        cells = "".join(f"<td>{escape(text)}</td>" for text in row.shown())
        rows.append(f'<tr><th class="name">{escape(row.area.name)}</th>{cells}</tr>\n')
    return mark_safe("".join(rows))  # noqa: S308 - names and counts escaped above


def build_dashboard(*, user: User, area: Area, period: Period, rank_code: str = "") -> Dashboard:
    """Everything the dashboard page of ``area`` shows for ``period``, as ``user`` may see it."""
    scope = scope_for(user)
    ancestors = [(a, scope.contains(a)) for a in Area.objects.get_ancestors(area)] if area.depth > 1 else []
    # The official figures of the area and all below it, read once for its readings and its children's.
    figures = official_figures_for(user=user, area=area, period=period)
    readings = area_indicator_values(user=user, area=area, period=period, figures=figures)
    reached = reached_months(user=user, area=area, readings=readings)
    all_series = series_for(user=user, area=area, readings=readings, period=period)
    cards: list[IndicatorCard] = []
    for number, reading in enumerate(readings, start=1):
        series = all_series[reading.indicator.pk]
        status = reading_status(reading, reached)
        band = status.tone
        marks = _marks(reading, reached)
        unit = reading.indicator.unit
        cards.append(
            IndicatorCard(
                number=number,
                reading=reading,
                band=band,
                targets=[(info, target_status(reading, info, reached)) for _year, info in sorted(reading.targets.items())],
                series=series,
                # Drawn as the targets measure it: over the official population where there is a figure.
                bar=charts.target_bar(
                    value=reading.measured_value, targets=marks, band=band, unit=unit, measure=reading.measured_label
                ),
                trend=charts.trend_chart(
                    points=[charts.TrendPoint(p.month, p.measured_value, p.is_live) for p in series],
                    targets=[m for m in marks if m.year >= period.start.year],
                    unit=unit,
                    measure=reading.measured_label,
                ),
                status=status,
            )
        )
    group_labels = dict(IndicatorGroup.choices)
    groups: list[tuple[str, list[IndicatorCard]]] = []
    for card in cards:
        if card.reading.value is None and not card.has_trend:
            continue
        label = str(group_labels.get(card.indicator.group, card.indicator.group))
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(card)

    rank_card = next((c for c in cards if c.indicator.code == rank_code), None) if rank_code else None
    child_values = child_indicator_values(
        user=user,
        area=area,
        period=period,
        indicator=rank_card.indicator if rank_card else None,
        figures=figures,
        indicators=[reading.indicator for reading in readings],
    )
    columns, children = _ranking(child_values, cards, rank_card, scope, period)
    ranked_children = [row for row in children if any(r.value is not None for r in row.child.readings)]
    empty_children = [row for row in children if all(r.value is None for r in row.child.readings)]

    activity = team_activity(user=user, area=area, period=period, member_limit=MEMBER_LIMIT if child_values else None)
    sections: list[WorkListSection] = []
    if not child_values and area.depth > 1:
        sections = work_list(user=user, village=area)
    return Dashboard(
        area=area,
        period=period,
        period_label=period_label(period),
        ancestors=ancestors,
        cards=cards,
        groups=groups,
        empty_cards=[card for card in cards if card.reading.value is None and not card.has_trend],
        columns=columns,
        children=ranked_children,
        children_empty=empty_children,
        rank_card=rank_card,
        activity=activity,
        week_chart=charts.week_bars(weeks=activity.weeks, counts=activity.logs_per_week),
        work_list=sections,
        is_live=period.is_open(),
    )


@dataclass
class NationalDashboard:
    """The national page (issue 18): the nation's values against Decision 411, the provinces ranked."""

    period: Period
    period_label: str
    cards: list[IndicatorCard]
    groups: list[tuple[str, list[IndicatorCard]]]
    columns: list[IndicatorCard]
    provinces: list[ChildRow]
    rank_card: IndicatorCard | None

    @property
    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for card in self.cards:
            counts[card.status.code] += 1
        return {"indicators": len(self.cards), **counts}

    @property
    def is_open(self) -> bool:
        return self.period.is_open()


def build_national_dashboard(*, user: User, period: Period | None, rank_code: str = "") -> NationalDashboard:
    """Everything the national page shows (``selectors.national``; ``OutOfScope`` unless the user sees
    the nation). No trend: the national sums are of closed periods, one per month."""
    readings = national_indicator_values(user=user, period=period)
    period = readings[0].period if readings else period or last_closed_month()
    cards: list[IndicatorCard] = []
    for number, reading in enumerate(readings, start=1):
        status = reading_status(reading)
        cards.append(
            IndicatorCard(
                number=number,
                reading=reading,
                band=status.tone,
                targets=[(info, target_status(reading, info)) for _year, info in sorted(reading.targets.items())],
                series=[],
                bar=charts.target_bar(
                    value=reading.measured_value,
                    targets=_marks(reading, {}),
                    band=status.tone,
                    unit=reading.indicator.unit,
                    measure=reading.measured_label,
                ),
                trend=SafeString(""),
                status=status,
            )
        )
    group_labels = dict(IndicatorGroup.choices)
    groups: list[tuple[str, list[IndicatorCard]]] = []
    for card in cards:
        label = str(group_labels.get(card.indicator.group, card.indicator.group))
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(card)
    rank_card = next((c for c in cards if c.indicator.code == rank_code), None) if rank_code else None
    ranked = province_ranking(user=user, period=period, indicator=rank_card.indicator if rank_card else None)
    columns, provinces = _ranking(ranked, cards, rank_card, scope_for(user), period)
    return NationalDashboard(
        period=period,
        period_label=period_label(period),
        cards=cards,
        groups=groups,
        columns=columns,
        provinces=provinces,
        rank_card=rank_card,
    )


def parse_national_period(text: str) -> tuple[Period | None, str]:
    """The period asked for on the national page, or its default (the last closed month) and why."""
    if not text:
        return None, ""
    period, problem = parse_period(text)
    return (None, problem) if problem else (period, "")


def default_period() -> Period:
    return Period.containing(PeriodKind.MONTH, today())


def parse_period(text: str) -> tuple[Period, str]:
    """The period asked for, or the current month and an error message for a bad or future one."""
    if not text:
        return default_period(), ""
    try:
        period = Period.parse(text)
    except (ValidationError, ValueError):  # malformed, or an impossible date such as year 0
        return default_period(), _("A period is written 2026-03 (month), 2026-Q1 (quarter) or 2026 (year).")
    if period.start > today() or period.start.year < EARLIEST_YEAR:
        return default_period(), _("There are no values for that period yet.")
    return period, ""
