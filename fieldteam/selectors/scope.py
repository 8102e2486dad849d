"""Who may see what: the one place that turns a user into the areas they may see.

Every selector, API view, admin and export filters through ``scope_for(user)``:
- a superuser sees everything;
- a province officer or viewer with a province role sees that province's subtree;
- a commune officer sees the commune's subtree;
- a team member (any role) sees the areas their open memberships' teams serve.

Seeing is not writing: ``Scope.edit_paths`` are the subtrees the user may change (commune and
province officers' subtrees, the areas of their teams), never a viewer's. ``can_edit_area`` is the
per-area check every write path applies; ``can_edit`` only says whether there is any such area.

Identifiers are shown masked to everyone; ``is_officer_of`` says where an officer (not a viewer,
not a team member) may see them unmasked and answer a person's data requests, each act recorded
in the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import reduce
from operator import or_
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from fieldteam import sql
from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Area, AreaRole, Membership, Team, User

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Scope:
    """The subtrees a user may see, as treebeard path prefixes."""

    everything: bool
    paths: tuple[str, ...]
    # Provinces wholly in scope: filtering population tables by ``province_id`` needs no join.
    province_ids: frozenset[int] = frozenset()
    # True when the user may write somewhere (``edit_paths`` not empty, or a superuser).
    can_edit: bool = False
    is_staff_scope: bool = False
    led_team_ids: frozenset[int] = frozenset()
    team_ids: frozenset[int] = frozenset()
    # The subtrees the user may write in: officers' (not viewers') area roles and their teams' areas.
    edit_paths: tuple[str, ...] = ()
    # The paths of the areas each of ``team_ids`` serves, as (team id, paths) pairs.
    team_area_paths: tuple[tuple[int, tuple[str, ...]], ...] = ()
    # When each of ``team_ids`` (all active) was founded, as (team id, date) pairs: what a write
    # for the team checks, read with the scope.
    team_founding: tuple[tuple[int, date], ...] = ()
    # The subtrees of the user's officer roles (not viewers', not team members'): where unmasked
    # identifiers may be shown to them, each view recorded in the audit trail.
    officer_paths: tuple[str, ...] = ()
    # The subtrees of all the user's area roles, viewers' included: where they see everyone's
    # activity, not only their teams' (``fieldteam.selectors.field_work.activity_q``).
    staff_paths: tuple[str, ...] = ()

    def founding_of_team(self, team_id: int) -> date | None:
        """When a team of the user's was founded; ``None`` for another team."""
        for known, founded_on in self.team_founding:
            if known == team_id:
                return founded_on
        return None

    def paths_of_team(self, team_id: int) -> tuple[str, ...] | None:
        """The paths of the areas a team of the user's serves; ``None`` for another team."""
        for known, paths in self.team_area_paths:
            if known == team_id:
                return paths
        return None

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.paths

    def area_q(self, field: str = "") -> Q:
        """A filter on an area relation (``field`` like ``"village"``; empty for Area itself)."""
        if self.everything:
            return Q()
        if not self.paths:
            return Q(pk__in=[])
        prefix = f"{field}__" if field else ""
        return reduce(or_, (Q(**{f"{prefix}path__startswith": p}) for p in self.paths))

    def filter_areas(self, queryset: QuerySet[Area]) -> QuerySet[Area]:
        return queryset.filter(self.area_q())

    def filter(self, queryset: QuerySet[M], area_field: str = "village") -> QuerySet[M]:
        """Keep the rows whose ``area_field`` lies in scope.

        A whole province in scope is filtered on the row's own ``province_id`` column (every
        population table carries it), everything else by the area path prefix.
        """
        if self.everything:
            return queryset
        if self.paths and len(self.province_ids) == len(self.paths) and hasattr(queryset.model, "province_id"):
            return queryset.filter(province_id__in=self.province_ids)
        return queryset.filter(self.area_q(area_field))

    def contains(self, area: Area) -> bool:
        return self.everything or any(area.path.startswith(p) for p in self.paths)

    def is_officer_of(self, area: Area) -> bool:
        """Whether the user holds an officer role over ``area`` (or is a superuser): who may see people's
        identifiers unmasked and answer their data requests there."""
        return self.everything or any(area.path.startswith(p) for p in self.officer_paths)

    def can_edit_area(self, area: Area) -> bool:
        """Whether the user may write rows placed in ``area`` (a viewer role never gives this)."""
        return self.everything or any(area.path.startswith(p) for p in self.edit_paths)


def _minimal(paths: set[str]) -> tuple[str, ...]:
    """Drop paths already covered by an ancestor path in the set."""
    kept: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))


def scope_for(user: User) -> Scope:
    """The scope of ``user``; cached on the user object for the length of a request."""
    cached = getattr(user, "_fieldteam_scope", None)
    if cached is not None:
        return cached
    scope = _compute_scope(user)
    user._fieldteam_scope = scope  # type: ignore[attr-defined]
    return scope


def _scope_rows_sql() -> str:
    """Area roles and open memberships (with their teams' area paths) of one user, in one statement.

    One round trip instead of one per relation: every API request computes its user's scope. A row
    per area role (``'r'``, role, path, depth, area id) and per open membership and area served
    (``'m'``, role, path or ``NULL`` for a team without areas, ``NULL``, team id, founding date).
    """
    area, role, member = Area._meta.db_table, AreaRole._meta.db_table, Membership._meta.db_table
    team, served = Team._meta.db_table, Team.areas.through._meta.db_table
    return (
        f"SELECT 'r', ar.role, a.path, a.depth, ar.area_id, NULL FROM {role} ar "  # noqa: S608 (table names from models)
        f"INNER JOIN {area} a ON a.id = ar.area_id WHERE ar.user_id = %s "
        f"UNION ALL "
        f"SELECT 'm', m.role, a.path, NULL, m.team_id, t.founded_on FROM {member} m "
        f"INNER JOIN {team} t ON t.id = m.team_id "
        f"LEFT OUTER JOIN {served} ta ON ta.team_id = t.id "
        f"LEFT OUTER JOIN {area} a ON a.id = ta.area_id "
        f"WHERE m.user_id = %s AND m.ended_on IS NULL AND t.is_active"
    )


_SCOPE_ROWS_SQL = _scope_rows_sql()


def _compute_scope(user: User) -> Scope:
    if not user.is_authenticated or not user.is_active:
        return Scope(everything=False, paths=())
    if user.is_superuser:
        return Scope(everything=True, paths=(), can_edit=True, is_staff_scope=True)
    paths: set[str] = set()
    province_ids_by_path: dict[str, int] = {}
    edit_paths: set[str] = set()
    officer_paths: set[str] = set()
    staff_paths: set[str] = set()
    staff = False
    by_team: dict[int, set[str]] = {}
    led: set[int] = set()
    rows = sql.fetch_all(_SCOPE_ROWS_SQL, [user.pk, user.pk])
    founding: dict[int, date] = {}
    as_date = Team._meta.get_field("founded_on").to_python  # SQLite returns the text
    for source, role, path, depth, ref, founded_on in rows:
        if source == "r":
            staff = True
            paths.add(path)
            staff_paths.add(path)
            if depth == 1:
                province_ids_by_path[path] = ref
            if role != AreaRoleKind.VIEWER:
                edit_paths.add(path)
                officer_paths.add(path)
            continue
        team_paths = by_team.setdefault(ref, set())
        founding[ref] = as_date(founded_on)
        if role in (MembershipRole.LEADER, MembershipRole.DEPUTY):
            led.add(ref)
        if path is not None:
            team_paths.add(path)
    for team_paths in by_team.values():
        paths.update(team_paths)
        edit_paths.update(team_paths)
    minimal = _minimal(paths)
    minimal_edit = _minimal(edit_paths)
    return Scope(
        everything=False,
        paths=minimal,
        province_ids=frozenset(province_ids_by_path[p] for p in minimal if p in province_ids_by_path),
        can_edit=bool(minimal_edit),
        is_staff_scope=staff,
        led_team_ids=frozenset(led),
        team_ids=frozenset(by_team),
        edit_paths=minimal_edit,
        team_area_paths=tuple((t, tuple(sorted(p))) for t, p in sorted(by_team.items())),
        team_founding=tuple(sorted(founding.items())),
        officer_paths=_minimal(officer_paths),
        staff_paths=_minimal(staff_paths),
    )
