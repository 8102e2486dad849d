"""The reports' contents: the periodic report of an area and period, and a village's work list.

Reads only. Every number comes from the selectors (``area_indicator_values``,
``child_indicator_values``, ``team_activity``, ``work_list``) called as the user who asked, so a
report shows exactly what the dashboards show that user, scoped the same way (``OutOfScope``
for an area they may not see). A report is built as a ``ReportDocument`` (tables of typed
cells); ``fieldteam.services.reports`` writes it as a file (XLSX or CSV) and runs report jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldteam.choices import CapabilitySubject, IndicatorGroup, MembershipRole, Sex
from fieldteam.formatting import period_label, yes_no
from fieldteam.models import Area, Capability, User
from fieldteam.periods import Period, today
from fieldteam.selectors.activity import team_activity
from fieldteam.selectors.breakdowns import SUPPRESSED, Breakdown, area_breakdowns
from fieldteam.selectors.coverage import TeamCoverage, team_coverage
from fieldteam.selectors.indicators import (
    MEASURED_OFFICIAL,
    area_indicator_values,
    child_indicator_values,
    official_figures_for,
)
from fieldteam.selectors.national import last_closed_month, national_indicator_values, province_ranking
from fieldteam.selectors.reasons import (
    LIST_FOR,
    MEASURES,
    ReasonCounts,
    count_text,
    may_see_reasons,
    measure_label,
    reason_counts,
    reason_list,
)
from fieldteam.selectors.status import ReachedMonths, reached_months, reading_status
from fieldteam.selectors.work_list import work_list

PERIODIC = "periodic"
WORK_LIST = "work_list"
REPORTS = (PERIODIC, WORK_LIST)
# The names of their background jobs (``BackgroundJob.name``; both are REPORT jobs).
JOB_NAMES = {PERIODIC: "periodic-report", WORK_LIST: "work-list"}
TARGET_YEARS = (2025, 2030)

# Sheet names (at most 31 characters once translated, none of []:*?/\).
SHEET_INDICATORS = gettext_lazy("Indicators")
SHEET_CHILDREN = gettext_lazy("Child areas")
SHEET_ACTIVITY = gettext_lazy("Team activity")
SHEET_WEEKS = gettext_lazy("Activity by week")
SHEET_CHILD_ACTIVITY = gettext_lazy("Activity by area")
SHEET_BREAKDOWNS = gettext_lazy("Women, minorities")
SHEET_COVERAGE = gettext_lazy("Team coverage")
SHEET_REASONS = gettext_lazy("Not-done reasons")
SHEET_REASON_LIST = gettext_lazy("Villages")
SHEET_WORK_SUMMARY = gettext_lazy("Summary")
SHEET_WORK_LIST = gettext_lazy("Work list")
SHEET_PROVINCES = gettext_lazy("Provinces")


Cell = str | int | Decimal | date | datetime | None


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"  # text, int, number, date, datetime
    width: int = 14


@dataclass
class Table:
    """One sheet of the XLSX file and one section of the CSV file."""

    sheet: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    # Header groups over consecutive columns, as (label, span): a merged row above the header in
    # XLSX, a "group: column" prefix in CSV.
    groups: list[tuple[str, int]] = field(default_factory=list)
    # Colour band (``formatting.TONES``, from ``selectors.status``) of some cells, by (row index, column index).
    bands: dict[tuple[int, int], str] = field(default_factory=dict)
    empty_note: str = ""
    frozen_columns: int = 0

    def header(self) -> list[str]:
        """The column labels, prefixed with their group where there is one (the CSV header)."""
        prefixes: list[str] = []
        for label, span in self.groups:
            prefixes += [label] * span
        prefixes += [""] * (len(self.columns) - len(prefixes))
        return [f"{prefix}: {c.label}" if prefix else c.label for prefix, c in zip(prefixes, self.columns, strict=True)]


@dataclass
class ReportDocument:
    title: str
    subtitle: str
    filename_stem: str
    tables: list[Table]


# --- the periodic report ------------------------------------------------------------------------


def file_stem(*parts: object) -> str:
    """An ASCII file name from Vietnamese words: ``báo cáo định kỳ`` → ``bao-cao-dinh-ky``."""
    text = " ".join(str(part) for part in parts).replace("đ", "d").replace("Đ", "D")
    return slugify(text) or "report"


def _made_by(user: User) -> str:
    return _("Made on %(when)s by %(user)s.") % {
        "when": date_format(timezone.localtime(), "SHORT_DATETIME_FORMAT"),
        "user": user.display_name,
    }


def _target_years(readings: Sequence[Any]) -> list[int]:
    years = set(TARGET_YEARS)
    for reading in readings:
        years.update(reading.targets)
    return sorted(years)


def _indicators_table(readings: Sequence[Any], reached: ReachedMonths | None = None) -> Table:
    years = _target_years(readings)
    columns = [
        Column(_("No."), "int", 5),
        Column(_("Code"), width=24),
        Column(_("Indicator"), width=60),
        Column(_("Group"), width=18),
        Column(_("Unit"), width=6),
        # Over the official population first: what the province reports (issue 15).
        Column(_("Value over the official population"), "number", 11),
        Column(_("Official population"), "int", 12),
        Column(_("Official figure"), width=30),
        Column(_("Numerator"), "int", 12),
        Column(_("Denominator"), "int", 12),
        Column(_("Value"), "number", 9),
        Column(_("Register coverage (%)"), "number", 11),
        Column(_("Data-quality warnings"), width=30),
        *[Column(_("Target %(year)s") % {"year": year}, "number", 11) for year in years],
        Column(_("Target year in force"), "int", 10),
        # The gap, path and status are measured over the official population where there is a figure.
        Column(_("Targets measured"), width=24),
        Column(_("Gap (points)"), "number", 11),
        Column(_("Expected by now"), "number", 11),
        Column(_("Status"), width=16),
        Column(_("Projected to reach the target"), width=22),
        Column(_("Source of the value"), width=22),
    ]
    table = Table(str(SHEET_INDICATORS), _("Indicators against their targets"), columns, frozen_columns=3)
    groups = dict(IndicatorGroup.choices)
    official_column, value_column = 5, 10
    for number, reading in enumerate(readings, start=1):
        indicator, target = reading.indicator, reading.target
        if reading.is_live:
            source = _("Live (open period)")
        elif reading.value is None:
            source = ""
        elif indicator.is_computed:
            source = _("Snapshot at the period's close")
        else:
            source = _("Reported by hand")
        table.rows.append(
            [
                number,
                indicator.code,
                indicator.name,
                str(groups.get(indicator.group, indicator.group)),
                indicator.unit,
                reading.official_value,
                reading.official.value,
                reading.official_source_label if reading.official_band else "",
                reading.numerator,
                reading.denominator,
                reading.value,
                reading.coverage,
                " ".join(reading.warning_labels),
                *[reading.targets[year].value if year in reading.targets else None for year in years],
                target.year if target else None,
                reading.measured_label,
                reading.gap,
                reading.expected_now,
                reading_status(reading, reached).label,
                reading.projection_label,
                source,
            ]
        )
        # The colour goes on the value the status is measured by.
        measured_column = official_column if reading.measured_by == MEASURED_OFFICIAL else value_column
        table.bands[(number - 1, measured_column)] = reading_status(reading, reached).tone
    return table


def _children_table(children: Sequence[Any], readings: Sequence[Any]) -> Table:
    first = [
        Column(_("Rank"), "int", 6),
        Column(_("Code"), width=12),
        Column(_("Area"), width=28),
        Column(_("Mean gap (points)"), "number", 11),
    ]
    # Every computed indicator, and the reported ones some child has a value for.
    shown = [
        position
        for position, reading in enumerate(readings)
        if reading.indicator.is_computed or any(child.readings[position].value is not None for child in children)
    ]
    columns = list(first)
    groups: list[tuple[str, int]] = [("", len(first))]
    for position in shown:
        groups.append((readings[position].indicator.name, 4))
        columns += [
            Column(_("Official"), "number", 9),
            Column(_("Value"), "number", 9),
            Column(_("Target"), "number", 9),
            Column(_("Gap"), "number", 9),
        ]
    table = Table(
        str(SHEET_CHILDREN),
        _("Child areas ranked by their mean gap to the targets (largest gap first)"),
        columns,
        groups=groups,
        empty_note=_("This area has no child areas."),
        frozen_columns=3,
    )
    for row_index, child in enumerate(children):
        row: list[Cell] = [row_index + 1, child.area.code, child.area.name, child.gap_score]
        for position in shown:
            reading = child.readings[position]
            target = reading.target
            measured = len(row) if reading.measured_by == MEASURED_OFFICIAL else len(row) + 1
            table.bands[(row_index, measured)] = reading_status(reading).tone
            row += [reading.official_value, reading.value, target.value if target else None, reading.gap]
        table.rows.append(row)
    return table


def _role_label(role: str) -> str:
    if not role:
        return _("Not a member of a team here")
    return str(dict(MembershipRole.choices).get(role, role))


def _activity_tables(activity: Any) -> list[Table]:
    month = period_label(activity.month)
    members = Table(
        str(SHEET_ACTIVITY),
        _("Assistance logs and training sessions per member; reference month: %(month)s") % {"month": month},
        [
            Column(_("Member"), width=26),
            Column(_("User name"), width=18),
            Column(_("Teams"), width=36),
            Column(_("Role"), width=14),
            Column(_("Logs in the period"), "int", 12),
            Column(_("Logs in %(month)s") % {"month": month}, "int", 12),
            Column(_("Training sessions in the period"), "int", 12),
            Column(_("Training sessions in %(month)s") % {"month": month}, "int", 12),
            Column(_("Last activity"), "datetime", 17),
            Column(_("Active in %(month)s") % {"month": month}, width=10),
        ],
        empty_note=_("No team works in this area, or none you may see."),
        frozen_columns=1,
    )
    for m in activity.members:
        members.rows.append(
            [
                m.name,
                m.username,
                ", ".join(m.team_names),
                _role_label(m.role),
                m.logs,
                m.logs_in_month,
                m.sessions,
                m.sessions_in_month,
                m.last_activity,
                yes_no(m.active_in_month),
            ]
        )
        if m.is_member and not m.active_in_month:
            members.bands[(len(members.rows) - 1, 9)] = "far"
    weeks = Table(
        str(SHEET_WEEKS),
        _("Assistance logs per week"),
        [Column(_("Week from"), "date", 12), Column(_("Week to"), "date", 12), Column(_("Logs"), "int", 10)],
    )
    for week, count in zip(activity.weeks, activity.logs_per_week, strict=True):
        weeks.rows.append([week, week + timedelta(days=6), count])
    tables = [members, weeks]
    if activity.children:
        by_child = Table(
            str(SHEET_CHILD_ACTIVITY),
            _("Activity per child area; reference month: %(month)s") % {"month": month},
            [
                Column(_("Code"), width=12),
                Column(_("Area"), width=28),
                Column(_("Logs in the period"), "int", 12),
                Column(_("Training sessions in the period"), "int", 12),
                Column(_("Team members"), "int", 10),
                Column(_("Active in %(month)s") % {"month": month}, "int", 10),
                Column(_("No activity in %(month)s") % {"month": month}, "int", 10),
            ],
            frozen_columns=2,
        )
        for child in activity.children:
            by_child.rows.append(
                [
                    child.area.code,
                    child.area.name,
                    child.logs,
                    child.sessions,
                    child.members,
                    child.active_members,
                    child.inactive_members,
                ]
            )
        tables.append(by_child)
    return tables


def periodic_report(
    *, user: User, area: Area, period: Period, progress: Callable[[], None] | None = None
) -> ReportDocument:
    """The periodic report of ``area`` for ``period`` as ``user`` may see it (``OutOfScope`` otherwise)."""
    step = progress or (lambda: None)
    figures = official_figures_for(user=user, area=area, period=period)
    readings = area_indicator_values(user=user, area=area, period=period, figures=figures)
    step()
    children = child_indicator_values(user=user, area=area, period=period, figures=figures)
    step()
    activity = team_activity(user=user, area=area, period=period)
    step()
    return ReportDocument(
        title=_("Periodic report: %(area)s (%(code)s), %(period)s")
        % {"area": area.name, "code": area.code, "period": period_label(period)},
        subtitle=_made_by(user),
        filename_stem=file_stem(_("periodic report"), area.code, period),
        tables=[_indicators_table(readings, reached_months(user=user, area=area, readings=readings)), _children_table(children, readings), *_activity_tables(activity), _breakdowns_table(area_breakdowns(user=user, area=area, period=period)), _coverage_table(team_coverage(user=user, area=area)), *_reasons_tables(user=user, area=area, period=period)],
    )


def national_report(*, user: User, period: Period | None = None) -> ReportDocument:
    """The national report for ``period`` (default: the last closed month): the national values
    against Decision 411 and the provinces ranked (``selectors.national``; ``OutOfScope`` unless the
    user sees the nation). An indicator not aggregated nationally says so in its source column."""
    readings = national_indicator_values(user=user, period=period)
    period = readings[0].period if readings else period or last_closed_month()
    provinces = province_ranking(user=user, period=period)
    indicators = _indicators_table(readings)
    source_column = len(indicators.columns) - 1
    for row, reading in zip(indicators.rows, readings, strict=True):
        if not reading.aggregated:
            row[source_column] = _("Not aggregated nationally (reported by %(count)s of %(total)s provinces)") % {
                "count": reading.provinces_with_value,
                "total": reading.provinces,
            }
        elif reading.value is not None:
            row[source_column] = _("Sum of %(count)s of %(total)s provinces") % {
                "count": reading.provinces_with_value,
                "total": reading.provinces,
            }
    ranking = _children_table(provinces, readings)
    ranking.sheet = str(SHEET_PROVINCES)
    ranking.title = _("Provinces ranked by their mean gap to their own targets (largest gap first)")
    return ReportDocument(
        title=_("National report: Vietnam, %(period)s") % {"period": period_label(period)},
        subtitle=" ".join(
            [
                _made_by(user),
                _(
                    "National values are the sums of the provinces' values frozen when the period closed; "
                    "targets of Decision 411/QĐ-TTg."
                ),
            ]
        ),
        filename_stem=file_stem(_("national report"), period),
        tables=[indicators, ranking],
    )


def _breakdowns_table(breakdowns: Sequence[Breakdown]) -> Table:
    """Each computed resident indicator by sex and ethnic group: hidden cells as ``SUPPRESSED``, as on the dashboards."""
    table = Table(
        sheet=str(SHEET_BREAKDOWNS),
        title=_("Women and ethnic minorities (%(mark)s: fewer than 5 people, or would reveal such a number)")
        % {"mark": SUPPRESSED},
        columns=[Column(_("Indicator"), width=50), Column(_("Group"), width=24), Column(_("Numerator"), "int"),
                 Column(_("Denominator"), "int"), Column(_("Value (%)"), "number")],
        empty_note=_("No computed indicator over residents."),
        frozen_columns=2,
    )
    for row in breakdowns:
        for _group, label, cell in row.rows:
            if not row.available:
                table.rows.append([row.indicator.name, label, None, None, None])
                continue
            table.rows.append([
                row.indicator.name,
                label,
                SUPPRESSED if cell.numerator is None else cell.numerator,
                SUPPRESSED if cell.denominator is None else cell.denominator,
                cell.value if cell.value is not None else (SUPPRESSED if cell.suppressed else None),
            ])
    return table


def _coverage_table(coverage: TeamCoverage) -> Table:
    """The area's team coverage, then each child's."""
    table = Table(
        sheet=str(SHEET_COVERAGE),
        title=_("Team coverage"),
        columns=[Column(_("Area"), width=30), Column(_("Villages"), "int"), Column(_("With an active team"), "int"),
                 Column(_("Share (%)"), "number"), Column(_("Teams"), "int"), Column(_("Members"), "int"),
                 Column(_("Members per team"), "number"), Column(_("Members trained"), "int"),
                 Column(_("Trained (%)"), "number")],
        frozen_columns=1,
    )
    for row in [coverage.total, *coverage.children]:
        table.rows.append([row.area.name, row.villages, row.villages_with_team, row.village_share, row.teams,
                           row.members, row.members_per_team, row.members_trained, row.trained_share])
    return table


# --- not-done reasons (issue 17) -----------------------------------------------------------------


def _count_cell(value: int | None) -> Cell:
    """A count as a number, a hidden one as ``SUPPRESSED``."""
    return count_text(value) if value is None else value


def _reasons_table(counts: ReasonCounts) -> Table:
    """Subjects still lacking a capability at the period's end, per reason: the area, then each child."""
    table = Table(
        sheet=str(SHEET_REASONS),
        title=_(
            "People and households still lacking a capability at the period's end, by the reason last given "
            "(%(mark)s: fewer than 5, or would reveal such a number)"
        )
        % {"mark": count_text(None)},
        columns=[Column(_("Area"), width=30), *[Column(measure_label(measure), "int", 12) for measure in MEASURES]],
        frozen_columns=1,
    )
    for row in [counts.total, *counts.children]:
        table.rows.append([row.area.name, *[_count_cell(row.counts[measure]) for measure in MEASURES]])
    return table


def _reasons_tables(*, user: User, area: Area, period: Period) -> list[Table]:
    """The reasons sheet, for those who see an office's figures (``selectors.reasons``); none for a team member."""
    if not may_see_reasons(user=user, area=area):
        return []
    return [_reasons_table(reason_counts(user=user, area=area, period=period))]


def reason_list_report(*, user: User, area: Area, period: Period, kind: str) -> ReportDocument:
    """One list an office acts on (``selectors.reasons.LISTS``): villages and counts, no person named."""
    listed = reason_list(user=user, area=area, period=period, kind=kind)
    table = Table(
        sheet=str(SHEET_REASON_LIST),
        title=f"{listed.title}. {LIST_FOR[kind]}",
        columns=[
            Column(_("No."), "int", 5),
            Column(_("Commune"), width=30),
            Column(_("Village"), width=30),
            Column(measure_label(listed.measure), "int", 14),
        ],
        empty_note=_("Nobody is concerned."),
        frozen_columns=3,
    )
    for number, row in enumerate(listed.rows, start=1):
        table.rows.append([number, row.place, row.village, _count_cell(row.count)])
    return ReportDocument(
        title=_("%(list)s: %(area)s, %(period)s") % {"list": listed.title, "area": area.name, "period": period_label(period)},
        subtitle=_made_by(user),
        filename_stem=file_stem(listed.title, area.code, period),
        tables=[table],
    )


# --- the work list --------------------------------------------------------------------------------


def work_list_report(*, user: User, village: Area, capability: Capability | None = None) -> ReportDocument:
    """A village's work list (``selectors.work_list``): a summary sheet, and one row per person and capability."""
    sections = work_list(user=user, village=village, capability=capability)
    subjects = dict(CapabilitySubject.choices)
    sexes = dict(Sex.choices)
    summary = Table(
        str(SHEET_WORK_SUMMARY),
        _("Capabilities in the order to work on them: the target closest to being met first"),
        [
            Column(_("No."), "int", 5),
            Column(_("Capability"), width=40),
            Column(_("Held by"), width=12),
            Column(_("Indicator"), width=50),
            Column(_("Value"), "number", 9),
            Column(_("Target"), "number", 9),
            Column(_("Target year"), "int", 9),
            Column(_("More holders needed to meet the target"), "int", 14),
            Column(_("Still without it"), "int", 12),
        ],
    )
    people = Table(
        str(SHEET_WORK_LIST),
        _("Residents and households still without each capability, household by household"),
        [
            Column(_("No."), "int", 6),
            Column(_("Capability"), width=36),
            Column(_("Household code"), width=16),
            Column(_("Head of household"), width=24),
            Column(_("Name"), width=26),
            Column(_("Birth year"), "int", 9),
            Column(_("Sex"), width=8),
            Column(_("Phone"), width=14),
        ],
        empty_note=_("Nobody is missing a capability."),
        frozen_columns=2,
    )
    for number, section in enumerate(sections, start=1):
        reading = section.reading
        target = reading.target if reading else None
        summary.rows.append(
            [
                number,
                section.capability.name,
                str(subjects.get(section.capability.subject, "")),
                reading.indicator.name if reading else "",
                reading.value if reading else None,
                target.value if target else None,
                target.year if target else None,
                section.needed,
                len(section.entries),
            ]
        )
        for entry in section.entries:
            people.rows.append(
                [
                    len(people.rows) + 1,
                    section.capability.name,
                    entry.household_code,
                    entry.household_head,
                    entry.name if entry.subject == CapabilitySubject.RESIDENT else "",
                    entry.birth_year,
                    str(sexes.get(entry.sex, "")),
                    entry.phone_masked,
                ]
            )
    stem = file_stem(_("work list"), village.code, capability.code if capability else "")
    return ReportDocument(
        title=_("Work list: %(village)s (%(code)s), %(day)s")
        % {"village": village.name, "code": village.code, "day": date_format(today(), "SHORT_DATE_FORMAT")},
        subtitle=_made_by(user),
        filename_stem=stem,
        tables=[summary, people],
    )
