"""Not-done reasons that reach the right office (issue 17): counts per area and lists per village.

**What is counted.** Subjects, never items or visits: distinct residents and households. For each
subject and capability only the *latest* outcome up to the period's end counts (by the time the
work happened, then the time it was recorded): a person visited three times and lacking papers
each time is one person lacking papers, and a later "done" for the same capability clears it. A
subject *still lacks* a capability at the period's end when that latest outcome is "not done" and
the subject does not hold the capability then (an open adoption, however recorded), lives there
then (a resident not yet moved out, deceased or merged; an active household), and the reason is
that latest one. So a closed period shows what was still open at its end; the open period what is
open now.

- People (``residents_<reason>``): residents with at least one capability still lacking for that
  reason. One person lacking papers for two capabilities is one person lacking papers.
- Households (``households_<reason>``): households as the subject of household capabilities.
- Households without a signal (``households_without_signal``): a household of which the household
  itself or any resident still lacks some capability because of no signal. A signal belongs to
  the place, so any of its people's visits tells it.

Each subject counts in the village it is registered in (the household's village), so an area's
figure is exactly the sum of its villages'.

**Where from.** One statement over the province's "not done" assistance items gives every
village's counts; one more reads the province's areas. Both are read for the whole province whatever the area
asked, so that every output (dashboards, reports, lists, the API) hides the same cells.

**Small cells** (``SMALL_CELL`` and ``SUPPRESSED`` of ``selectors.breakdowns``, the same rule as the
breakdowns): a count from 1 to 4 is hidden; then, so that none is given back by subtraction, an
area and its children (the area's figure is their sum) never hold exactly one hidden cell: the
smallest other child is hidden with it (the area itself when it has no other child), level by
level over the whole province, until stable.

**Who sees it.** An office's figures: superusers, and the holders of an area role (officers and
viewers) over the area. A team member or leader without an area role is answered "no such area"
(they have their village's work list, names included).

No name, id or identifier of a person leaves here: area names and counts only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from django.db import connections, router
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import VILLAGE_KINDS, AssistanceOutcome, NotDoneReason, ResidentStatus
from fieldteam.models import Adoption, Area, AssistanceItem, AssistanceLog, Household, Resident, User
from fieldteam.periods import Period
from fieldteam.permissions import scope_for
from fieldteam.selectors.breakdowns import SMALL_CELL, SUPPRESSED
from fieldteam.selectors.indicators import OutOfScope

REASONS: tuple[str, ...] = tuple(reason.value for reason in NotDoneReason)
HOUSEHOLDS_WITHOUT_SIGNAL = "households_without_signal"


def resident_measure(reason: str) -> str:
    """The measure of people still lacking a capability for ``reason``."""
    return f"residents_{reason}"


def household_measure(reason: str) -> str:
    """The measure of households (as the subject) still lacking a capability for ``reason``."""
    return f"households_{reason}"


# Every measure, in the order the reports and the API give them.
MEASURES: tuple[str, ...] = (
    HOUSEHOLDS_WITHOUT_SIGNAL,
    *(resident_measure(reason) for reason in REASONS),
    *(household_measure(reason) for reason in REASONS),
)
# The ones the dashboards show: what the issue names (signal, papers, devices, refusals).
DASHBOARD_MEASURES: tuple[str, ...] = (
    HOUSEHOLDS_WITHOUT_SIGNAL,
    resident_measure(NotDoneReason.MISSING_DOCUMENTS),
    resident_measure(NotDoneReason.NO_DEVICE),
    resident_measure(NotDoneReason.DECLINED),
)

# The lists an office acts on: the list's key (in URLs) -> its measure.
NO_SIGNAL_LIST, MISSING_DOCUMENTS_LIST, NO_DEVICE_LIST = "no_signal", "missing_documents", "no_device"
LISTS: dict[str, str] = {
    NO_SIGNAL_LIST: HOUSEHOLDS_WITHOUT_SIGNAL,
    MISSING_DOCUMENTS_LIST: resident_measure(NotDoneReason.MISSING_DOCUMENTS),
    NO_DEVICE_LIST: resident_measure(NotDoneReason.NO_DEVICE),
}
LIST_TITLES: dict[str, Promise] = {
    NO_SIGNAL_LIST: _("Villages by households without a signal"),
    MISSING_DOCUMENTS_LIST: _("People lacking papers, per village"),
    NO_DEVICE_LIST: _("People without a suitable device, per village"),
}
# Who each list is for (shown under its title).
LIST_FOR: dict[str, Promise] = {
    NO_SIGNAL_LIST: _("For the telecoms and the province's infrastructure plan (4G/5G coverage)."),
    MISSING_DOCUMENTS_LIST: _("For the commune police."),
    NO_DEVICE_LIST: _("For the device programmes."),
}

_LABELS: dict[str, Promise] = {
    HOUSEHOLDS_WITHOUT_SIGNAL: _("Households without a signal"),
    resident_measure(NotDoneReason.MISSING_DOCUMENTS): _("People lacking papers"),
    resident_measure(NotDoneReason.NO_DEVICE): _("People without a suitable device"),
    resident_measure(NotDoneReason.DECLINED): _("People who declined"),
}


def measure_label(measure: str) -> str:
    """The heading of a measure, translated."""
    if measure in _LABELS:
        return str(_LABELS[measure])
    subject, reason = measure.split("_", 1)
    label = NotDoneReason(reason).label
    if subject == "residents":
        return str(_("People: %(reason)s") % {"reason": label})
    return str(_("Households: %(reason)s") % {"reason": label})


Counts = dict[str, int | None]  # by measure; ``None`` where hidden


def count_text(value: int | None) -> str:
    return SUPPRESSED if value is None else str(value)


@dataclass(frozen=True)
class ReasonRow:
    """One area's counts."""

    area: Area
    counts: Counts

    def shown(self, measures: tuple[str, ...] = DASHBOARD_MEASURES) -> list[str]:
        """The counts of ``measures`` as printed (``SUPPRESSED`` where hidden)."""
        return [count_text(self.counts[measure]) for measure in measures]

    @property
    def is_empty(self) -> bool:
        return all(value == 0 for value in self.counts.values())


@dataclass(frozen=True)
class ReasonCounts:
    """An area's counts and its children's (in the order of the tree)."""

    area: Area
    period: Period
    total: ReasonRow
    children: list[ReasonRow]

    @property
    def headings(self) -> list[str]:
        """The labels of ``DASHBOARD_MEASURES``, as ``ReasonRow.shown`` gives their counts."""
        return [measure_label(measure) for measure in DASHBOARD_MEASURES]


@dataclass(frozen=True)
class ListRow:
    """One village of a list: its place (the area above it), its name, its count."""

    place: str
    village: str
    count: int | None

    @property
    def text(self) -> str:
        return count_text(self.count)


@dataclass(frozen=True)
class ReasonList:
    """The villages of an area with someone concerned, largest count first (hidden counts last)."""

    area: Area
    period: Period
    kind: str
    rows: list[ListRow]

    @property
    def measure(self) -> str:
        return LISTS[self.kind]

    @property
    def title(self) -> str:
        return str(LIST_TITLES[self.kind])


# --- access -------------------------------------------------------------------------------------


def may_see_reasons(*, user: User, area: Area) -> bool:
    """Whether ``user`` sees the reasons of ``area``: a superuser, or an area role (officer or viewer) over it."""
    scope = scope_for(user)
    return scope.everything or any(area.path.startswith(path) for path in scope.staff_paths)


def _ensure_office(user: User, area: Area) -> None:
    if not may_see_reasons(user=user, area=area):
        raise OutOfScope(_("No such area."))


# --- reading ------------------------------------------------------------------------------------


def _period_end(period: Period) -> tuple[date, datetime]:
    """The period's last day, and the first moment after it (local time)."""
    end = period.end
    return end, timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))


def _still_open_sql() -> str:
    """Per village path and reason: people, households as subject, and households of any subject still lacking.

    ``still_open`` keeps each "not done" item with no later item (done or not) for the same subject
    and capability up to the period's end (later: by the time of the work, then of its recording,
    then the item's id), whose subject lives there at the period's end and holds no adoption of
    the capability then; each is placed in its household's village. Only "not done" items are read
    beyond the province's filter, each checked through the subject's own logs (indexed), so the
    cost follows the items not done rather than every item (no sort of the province's items): the
    partial index ``assistance_item_not_done`` holds just those. The logs are filtered by the
    province too (an item's province is its log's, both the subject's, and a move across provinces
    is refused), so the join reads one province's logs, not the country's (``bench/reasons.py``).
    """
    items, logs = AssistanceItem._meta.db_table, AssistanceLog._meta.db_table
    residents, households = Resident._meta.db_table, Household._meta.db_table
    adoptions, areas = Adoption._meta.db_table, Area._meta.db_table
    # Table names from the models and fixed text of this module; every value is a parameter.
    later = (
        f"SELECT 1 FROM {logs} l2 JOIN {items} i2 ON i2.log_id = l2.id AND i2.capability_id = i.capability_id "  # noqa: S608
        f"WHERE l2.{{subject}}_id = l.{{subject}}_id AND l2.occurred_at < %(after)s AND (l2.occurred_at > l.occurred_at "
        f"OR (l2.occurred_at = l.occurred_at AND (l2.recorded_at > l.recorded_at "
        f"OR (l2.recorded_at = l.recorded_at AND i2.id > i.id))))"
    )
    holds = (
        f"SELECT 1 FROM {adoptions} ad WHERE ad.capability_id = i.capability_id "  # noqa: S608
        f"AND ad.{{subject}}_id = l.{{subject}}_id "
        f"AND ad.since <= %(end)s AND (ad.ended_on IS NULL OR ad.ended_on > %(end)s)"
    )
    return (
        f"WITH still_open AS (SELECT h.village_id, l.resident_id, l.household_id AS subject_household, "  # noqa: S608
        f"h.id AS household_id, i.reason FROM {items} i JOIN {logs} l ON l.id = i.log_id "
        f"LEFT JOIN {residents} r ON r.id = l.resident_id "
        f"JOIN {households} h ON h.id = COALESCE(l.household_id, r.household_id) "
        f"WHERE i.province_id = %(province)s AND i.outcome = %(not_done)s "
        f"AND l.province_id = %(province)s AND l.occurred_at < %(after)s "
        f"AND h.is_active = %(true)s AND (l.resident_id IS NULL OR r.status = %(living)s OR r.left_on > %(end)s) "
        f"AND NOT EXISTS ({later.format(subject='resident')}) AND NOT EXISTS ({later.format(subject='household')}) "
        f"AND NOT EXISTS ({holds.format(subject='resident')}) AND NOT EXISTS ({holds.format(subject='household')})) "
        f"SELECT a.path, s.reason, COUNT(DISTINCT s.resident_id), COUNT(DISTINCT s.subject_household), "
        f"COUNT(DISTINCT s.household_id) FROM still_open s JOIN {areas} a ON a.id = s.village_id "
        f"GROUP BY a.path, s.reason"
    )


_STILL_OPEN_SQL = _still_open_sql()


def _village_counts(province: Area, period: Period) -> dict[str, dict[str, int]]:
    """Village path -> measure -> count, for the villages of ``province`` with anything still open."""
    end, after = _period_end(period)
    # Raw SQL is not routed: ask the router, so a dashboard's read goes to a replica as its ORM reads do.
    connection = connections[router.db_for_read(AssistanceItem)]
    params = {
        "province": province.pk,
        "after": connection.ops.adapt_datetimefield_value(after),
        "end": connection.ops.adapt_datefield_value(end),
        "not_done": AssistanceOutcome.NOT_DONE.value,
        "true": True,
        "living": ResidentStatus.ACTIVE.value,
    }
    result: dict[str, dict[str, int]] = defaultdict(dict)
    with connection.cursor() as cursor:
        cursor.execute(_STILL_OPEN_SQL, params)
        for path, reason, people, households, any_subject in cursor.fetchall():
            if reason not in REASONS:
                continue
            counts = result[path]
            counts[resident_measure(reason)] = int(people)
            counts[household_measure(reason)] = int(households)
            if reason == NotDoneReason.NO_SIGNAL:
                counts[HOUSEHOLDS_WITHOUT_SIGNAL] = int(any_subject)
    return result


def _small(count: int) -> bool:
    return 0 < count < SMALL_CELL


def hidden_cells(counts: dict[str, int], families: list[tuple[str, list[str]]]) -> set[str]:
    """The keys of ``counts`` to hide: small ones, and enough others that none comes back by subtraction.

    ``families`` are (parent, children) whose counts sum to the parent's. A family never holds
    exactly one hidden cell: the smallest other child is hidden with it (ties: the first key), or
    the parent when no other child is left. Repeated until stable. A key missing from ``counts``
    counts 0 (a province passes only its areas with something counted).
    """
    hidden = {key for key, count in counts.items() if _small(count)}
    changed = bool(hidden)  # nothing small, nothing to protect: no walk over the families
    while changed:
        changed = False
        for parent, children in families:
            if sum(1 for key in (parent, *children) if key in hidden) != 1:
                continue
            others = [key for key in children if key not in hidden]
            hidden.add(min(others, key=lambda key: (counts.get(key, 0), key)) if others else parent)
            changed = True
    return hidden


class _Node(NamedTuple):
    """One area of the tree as read (a province has 5,000 villages: no model instance for each)."""

    id: int
    path: str
    depth: int
    name: str
    kind: str
    numchild: int


_NODE_FIELDS = list(_Node._fields)
# ``Model.from_db`` takes the values in the model's field order, not the query's.
_MODEL_ORDER = [f.attname for f in Area._meta.concrete_fields if f.attname in _NODE_FIELDS]


def _as_area(db: str, node: _Node) -> Area:
    """``node`` as an ``Area`` with only the fields read (the others load on access, as with ``only``)."""
    return Area.from_db(db, _MODEL_ORDER, [getattr(node, name) for name in _MODEL_ORDER])


@dataclass(frozen=True)
class _Tree:
    """A province's areas and their counts, small cells hidden: what every output reads."""

    areas: dict[str, _Node]  # by path
    counts: dict[str, Counts]  # by path
    db: str  # the database the areas were read from (``area_of`` makes areas as that read would)

    def area_of(self, node: _Node) -> Area:
        return _as_area(self.db, node)


def _province_tree(area: Area, period: Period) -> _Tree:
    province_path = area.path[: Area.steplen]
    rows = Area.objects.filter(path__startswith=province_path)
    areas = {node.path: node for node in map(_Node._make, rows.values_list(*_NODE_FIELDS))}
    province = area if area.path == province_path else _as_area(rows.db, areas[province_path])
    by_village = _village_counts(province, period)
    # Only the areas with something counted get a row (most of a province's 5,000 villages have
    # none): the others read as zeros, so the work follows the villages with counts, not the tree.
    sums: dict[str, dict[str, int]] = {}
    for village_path, village_counts in by_village.items():
        for depth in range(1, len(village_path) // Area.steplen + 1):
            path = village_path[: depth * Area.steplen]
            if path not in areas:
                continue
            row = sums.get(path)
            if row is None:
                row = sums[path] = dict.fromkeys(MEASURES, 0)
            for measure, count in village_counts.items():
                row[measure] += count
    children: dict[str, list[str]] = defaultdict(list)
    for path in sorted(areas):
        if len(path) > Area.steplen:
            children[path[: -Area.steplen]].append(path)
    families = sorted(children.items())
    published: dict[str, Counts] = {path: dict(row) for path, row in sums.items()}
    for measure in MEASURES:
        counted = {path: row[measure] for path, row in sums.items() if row[measure]}
        for path in hidden_cells(counted, families):
            # A zero may be hidden too (the smallest sibling of a hidden cell): it gets its row then.
            published.setdefault(path, dict.fromkeys(MEASURES, 0))[measure] = None
    return _Tree(areas, published, rows.db)


# The counts of an area with nothing counted (``_Tree.counts`` holds only the others).
_ZEROS: Counts = dict.fromkeys(MEASURES, 0)


def reason_counts(*, user: User, area: Area, period: Period) -> ReasonCounts:
    """``area``'s counts of subjects still lacking a capability, per reason, and each child's.

    ``OutOfScope`` unless the user holds an area role over ``area`` (or is a superuser). Two
    queries, whatever the size of the area.
    """
    _ensure_office(user, area)
    tree = _province_tree(area, period)
    empty: Counts = dict.fromkeys(MEASURES, 0)
    children = sorted(
        (
            tree.area_of(node)
            for path, node in tree.areas.items()
            if path.startswith(area.path) and node.depth == area.depth + 1
        ),
        key=lambda a: a.path,
    )
    return ReasonCounts(
        area=area,
        period=period,
        total=ReasonRow(area, tree.counts.get(area.path, empty)),
        children=[ReasonRow(child, tree.counts.get(child.path, empty)) for child in children],
    )


def reason_list(*, user: User, area: Area, period: Period, kind: str) -> ReasonList:
    """The villages of ``area`` with someone concerned by list ``kind`` (``LISTS``), largest count first.

    A village with nothing is left out, unless its count is hidden (then shown ``SUPPRESSED``, as a
    hidden count may be 0). ``OutOfScope`` as ``reason_counts``; ``KeyError`` for an unknown
    ``kind`` (callers check it against ``LISTS``). Two queries.
    """
    _ensure_office(user, area)
    measure = LISTS[kind]
    tree = _province_tree(area, period)
    rows: list[ListRow] = []
    for path, village in tree.areas.items():
        if not path.startswith(area.path) or (village.kind not in VILLAGE_KINDS and village.numchild):
            continue
        count = tree.counts.get(path, _ZEROS)[measure]
        if count == 0:
            continue
        parent = tree.areas.get(path[: -Area.steplen])
        rows.append(ListRow(parent.name if parent is not None and parent.depth > 1 else "", village.name, count))
    rows.sort(key=lambda row: (row.count is None, -(row.count or 0), row.place, row.village))
    return ReasonList(area=area, period=period, kind=kind, rows=rows)


__all__ = [
    "DASHBOARD_MEASURES",
    "HOUSEHOLDS_WITHOUT_SIGNAL",
    "LISTS",
    "LIST_FOR",
    "LIST_TITLES",
    "MEASURES",
    "ListRow",
    "ReasonCounts",
    "ReasonList",
    "ReasonRow",
    "count_text",
    "hidden_cells",
    "household_measure",
    "may_see_reasons",
    "measure_label",
    "reason_counts",
    "reason_list",
    "resident_measure",
]
