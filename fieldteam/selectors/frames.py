"""The frame of an area's indicator readings: the areas read, the indicators, the targets in force.

A dashboard reads an area's readings (``fieldteam.selectors.indicators``) from its counts, its month
history and its official figures, and frames them with rows that change seldom: the area or its
children, the active indicators with the province's own age bounds, and each area's targets in force.
Reading those on every view cost three queries and ~6 ms of ORM for a province's ranking of its 135
communes (``bench/rollup.py``), a third of its goal.

On PostgreSQL a trigger on each of those tables (areas, indicators, capabilities, bounds, targets)
draws a new version on every statement that writes them (migration 0033, like the counting rules'
version of 0011). ``frame_of`` reads that version (one row by its key, on the database the view
reads) and takes the frame this process read under it, else reads it: no writer, bulk write, tree
move or hand-made SQL can leave a stale frame, and nothing is shared between processes that could
be out of step. On SQLite (no triggers) the frame is read on every view.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import connections, router
from django.db.models import F, FilteredRelation, Q

from fieldteam.choices import TargetComparison
from fieldteam.models import Area, Indicator, Target
from fieldteam.periods import today
from fieldteam.selectors.population import Bounds

# The version, with what tells this database apart from a restored copy of it or a promoted replica
# that missed some commits (where the sequence may hand out a number again): its oid (a database
# created anew gets another) and the server's start (a restart or a promotion moves it).
FRAME_VERSION_SQL = (
    "SELECT version, (SELECT oid FROM pg_database WHERE datname = current_database()), pg_postmaster_start_time() "
    "FROM fieldteam_indicatorframe_version WHERE id = 1"
)
# Frames kept per process (least recently used dropped): a page takes one or two (its area's, its
# children's). A commune's frame holds its ~40 villages, a province's its ~135 communes (~200 KB):
# at most a few tens of MB per process.
FRAMES_KEPT = 256


@dataclass(frozen=True)
class TargetInfo:
    year: int
    value: Decimal
    comparison: str
    area_id: int
    inherited: bool

    def is_met_by(self, value: Decimal | None) -> bool:
        if value is None:
            return False
        return value > self.value if self.comparison == TargetComparison.MORE_THAN else value >= self.value


# area id -> indicator id -> year -> the target in force.
Targets = dict[int, dict[int, dict[int, TargetInfo]]]


@dataclass(frozen=True)
class Frame:
    """What an area's readings (or its children's) are framed by. Shared by the views of a process:
    read only."""

    areas: tuple[Area, ...]  # the area, or its children in path order
    indicators: tuple[Indicator, ...]  # active, applying to the area, with its province's own bounds
    targets: Targets  # of each of ``areas``, in force on the day it was read


def active_indicators(province_id: int | None = None, *, using: str | None = None) -> list[Indicator]:
    """The active indicators; with ``province_id``, each with that province's own age bounds
    (``own_bound_id``, ``own_min_age``, ``own_max_age``: ``None`` where it has none) read in the same
    query (see ``own_bounds``).

    The bounds are left-joined (at most one row per indicator and province): cheaper to build and
    run than the three correlated subqueries this once had, which a ranking paid on every view.
    """
    rows = Indicator.objects.using(using).filter(is_active=True).select_related("capability")
    if province_id is not None:
        rows = rows.annotate(
            own=FilteredRelation("province_bounds", condition=Q(province_bounds__province_id=province_id))
        ).annotate(own_bound_id=F("own__id"), own_min_age=F("own__min_age"), own_max_age=F("own__max_age"))
    return list(rows.order_by("sort_order", "code"))


def own_bounds(indicators: list[Indicator] | tuple[Indicator, ...]) -> Bounds | None:
    """The province's own age bounds as ``active_indicators(province_id)`` read them, or ``None`` if it did not."""
    if not indicators or not hasattr(indicators[0], "own_bound_id"):
        return None
    return {
        i.pk: (getattr(i, "own_min_age"), getattr(i, "own_max_age"))  # noqa: B009 - query annotations
        for i in indicators
        if getattr(i, "own_bound_id") is not None  # noqa: B009 - a query annotation
    }


def targets_in_force(
    areas: list[Area] | tuple[Area, ...], anchor: Area, *, on: date | None = None, using: str | None = None
) -> Targets:
    """area_id -> indicator_id -> year -> the target in force on ``on`` (today if not given).

    Among the area's own targets and its ancestors', per indicator and year, the one with the
    latest ``effective_from``; at the same date the nearer (deeper) one (the rule of ``Target``).
    A plan applied from a later date is not in force before it.
    """
    paths = set(Area.ancestor_paths(anchor.path)) | {a.path for a in areas}
    in_force = Q(plan__isnull=True) | Q(effective_from__lte=on or today())
    rows = list(Target.objects.using(using).filter(in_force, area__path__in=paths).values_list(
        "indicator_id", "year", "value", "comparison", "area_id", "area__path", "effective_from"
    ))
    by_path: dict[str, list[tuple]] = defaultdict(list)
    for row in rows:
        by_path[row[5]].append(row)
    # Targets sit on a handful of areas: walk each area's own ancestor chain (shallow to deep)
    # instead of testing every row against every area, and share the TargetInfo.
    infos: dict[tuple, TargetInfo] = {}
    result: Targets = {}
    # An area with no target of its own inherits exactly what its ancestors with targets give: the
    # 135 communes of a province share one answer (read only: callers never change it).
    inherited_by_chain: dict[tuple[str, ...], dict[int, dict[int, TargetInfo]]] = {}
    for area in areas:
        area_pk, path = area.pk, area.path
        chain: tuple[str, ...] | None = None
        if path not in by_path:
            chain = tuple(p for end in range(Area.steplen, len(path), Area.steplen) if (p := path[:end]) in by_path)
            if (shared := inherited_by_chain.get(chain)) is not None:
                result[area_pk] = shared
                continue
        per_indicator: dict[int, dict[int, TargetInfo]] = defaultdict(dict)
        dates: dict[tuple[int, int], date] = {}
        for end in range(Area.steplen, len(path) + 1, Area.steplen):
            for indicator_id, year, value, comparison, target_area_id, _path, since in by_path.get(path[:end], ()):
                # Deeper rows come later: at the same date they replace the shallower one.
                if dates.get((indicator_id, year), since) > since:
                    continue
                dates[(indicator_id, year)] = since
                inherited = target_area_id != area_pk
                key = (target_area_id, indicator_id, year, inherited)
                info = infos.get(key)
                if info is None:
                    info = infos[key] = TargetInfo(year, value, comparison, target_area_id, inherited=inherited)
                per_indicator[indicator_id][year] = info
        # A plain dict: a lookup of a missing indicator must not add one to a frame other views share.
        result[area_pk] = found = dict(per_indicator)
        if chain is not None:
            inherited_by_chain[chain] = found
    return result


Version = tuple[int, int, object]  # the rows' version, the database's oid, the server's start


def frame_of(area: Area, *, children: bool = False, indicators: bool = True) -> Frame:
    """The frame of ``area``'s readings (``children``: of its children's), read on the database the
    view reads, from this process's copy under the rows' current version when it has one.

    ``indicators=False``: the caller has its own (a frame read for it alone then leaves them out; one
    kept for every view has them). Not scoped: the caller has checked that the user sees ``area``.
    """
    using = router.db_for_read(Target)
    day = today()
    # The version before the rows: rows a writer commits in between are stored under the version its
    # commit replaced (newer rows under an older number, never the other way round).
    version = _frame_version(using)
    if version is None:
        return _read_frame(area, children=children, day=day, using=using, indicators=indicators)
    return _kept_frame(version, area, children, day, using)


@functools.lru_cache(maxsize=FRAMES_KEPT)
def _kept_frame(version: Version, area: Area, children: bool, day: date, using: str) -> Frame:
    """``_read_frame`` kept per (version, area, children, day); two threads may read one frame once.

    An ``Area`` is equal to any copy of the same row, so the area is read again: the caller's copy may
    be older than the version just read (a move committed since the view loaded it) and would frame
    every later view.
    """
    fresh = Area.objects.using(using).filter(pk=area.pk).first() or area
    return _read_frame(fresh, children=children, day=day, using=using, indicators=True)


def _frame_version(using: str) -> Version | None:
    """The frame rows' version on ``using`` (``FRAME_VERSION_SQL``); ``None`` where none is kept (SQLite)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(FRAME_VERSION_SQL)
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]), row[2])


def _read_frame(area: Area, *, children: bool, day: date, using: str, indicators: bool) -> Frame:
    """``frame_of`` read from the database: three queries."""
    if children:
        areas = tuple(
            Area.objects.using(using).filter(path__startswith=area.path, depth=area.depth + 1).order_by("path")
        )
    else:
        areas = (area,)
    # None measured only above it; with the province's own age bounds (which decide official bands).
    chosen = (
        tuple(i for i in active_indicators(area.province_id or area.pk, using=using) if i.applies_to(area))
        if indicators
        else ()
    )
    targets = targets_in_force(areas, area, on=day, using=using) if areas else {}
    return Frame(areas=areas, indicators=chosen, targets=targets)


def clear_caches() -> None:
    """Forget the frames this process read (tests, between databases)."""
    _kept_frame.cache_clear()
