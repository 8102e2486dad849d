"""Who may see what, and who may do what where: the one permissions module.

``scope_for(user)`` turns a user into the areas they may see; every selector, API view, admin
and export filters through it:
- a superuser sees everything;
- a province officer or viewer with a province role sees that province's subtree;
- a commune officer sees the commune's subtree;
- a team member (any role) sees the areas their open memberships' teams serve.

Seeing is not writing: ``Scope.edit_paths`` are the subtrees the user may change (commune and
province officers' subtrees, the areas of their teams), never a viewer's. ``can_edit`` only says
whether there is any such area.

Identifiers are shown masked to everyone; ``is_officer_of`` says where an officer (not a viewer,
not a team member) may see them unmasked and answer a person's data requests, each act recorded
in the audit trail.

Every service starts with one of the three checks (access before action), and callers add no
rule of their own on top:
- ``ensure_can_see``: the area is in the actor's scope (else ``out_of_scope``);
- ``ensure_can_write``: seen, and the actor's role may write there (else ``read_only``: a viewer);
- ``ensure_officer``: seen, and the actor is an officer of the area (else ``read_only``).
Each raises a ``ValidationError`` naming ``field``; the API answers ``read_only`` with a 403.
Two forms take one of them as ``check``: ``ensure_for_team`` (the check passes for one of the
areas a team serves) and ``ensure_province_officer`` (the check passes for the area, and the actor
is an officer of its province); ``ensure_superuser`` guards the national reference data.
``actor=None`` is the system itself (a command, a task) and passes all three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import reduce
from operator import or_
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Model, Q, QuerySet
from django.http import Http404
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.errors import field_error
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

    def is_staff_of(self, area: Area) -> bool:
        """Whether the user sees ``area`` through an area role (an officer's or a viewer's), or is a superuser."""
        return self.everything or any(area.path.startswith(p) for p in self.staff_paths)

    def can_edit_area(self, area: Area) -> bool:
        """Whether the user may write rows placed in ``area`` (a viewer role never gives this)."""
        return self.everything or any(area.path.startswith(p) for p in self.edit_paths)


# --- the three checks every service starts with (access before action) -----------------------


def ensure_can_see(actor: User | None, area: Area, *, field: str) -> None:
    """Refuse unless ``area`` is in the actor's scope (``actor=None``: the system), naming ``field``.

    For a service that reads (and records that it read) rather than writes; a write uses
    ``ensure_can_write``.
    """
    if actor is not None and not scope_for(actor).contains(area):
        raise field_error(field, _("This is outside your area."), code="out_of_scope")


def ensure_can_write(actor: User | None, area: Area, *, field: str) -> None:
    """Refuse a write in ``area`` unless the actor's role may write there (``actor=None``: the system).

    Seeing an area is not enough: a viewer role gives sight only (``Scope.can_edit_area``), and is
    refused with ``read_only`` (the API's 403); an area out of scope with ``out_of_scope``.
    """
    if actor is None:
        return
    ensure_can_see(actor, area, field=field)
    if not scope_for(actor).can_edit_area(area):
        raise field_error(field, _("Your role may only view."), code="read_only")


def ensure_officer(actor: User | None, area: Area, *, field: str, message: str | Promise | None = None) -> None:
    """Refuse unless the actor is an officer of ``area`` or a superuser (``actor=None``: the system).

    Out of scope is ``out_of_scope``; in scope as a viewer or a team member is ``read_only`` (the
    API's 403), with ``message`` when the act wants its own words.
    """
    if actor is None:
        return
    ensure_can_see(actor, area, field=field)
    if not scope_for(actor).is_officer_of(area):
        raise field_error(field, message or _("Only an officer of this area may do this."), code="read_only")


def ensure_area_staff(actor: User | None, area: Area, *, field: str, message: str | Promise | None = None) -> None:
    """Refuse unless the actor sees ``area`` through an area role (an officer or a viewer) or is a superuser.

    For what belongs to the offices and not to the teams (a report by email): a team member who
    sees the area through their team is refused with ``read_only``; out of scope is ``out_of_scope``.
    ``actor=None`` (the system) passes.
    """
    if actor is None:
        return
    ensure_can_see(actor, area, field=field)
    if not scope_for(actor).is_staff_of(area):
        raise field_error(field, message or _("Only an officer or a viewer of this area may do this."), code="read_only")


def ensure_superuser(actor: User | None, *, field: str, message: str | Promise | None = None) -> None:
    """Refuse unless the actor is a superuser (``actor=None``: the system): the national reference data.

    ``read_only`` naming ``field`` (the API's 403), with ``message`` when the act wants its own words.
    """
    if actor is not None and not actor.is_superuser:
        raise field_error(field, message or _("Only a system administrator may change this."), code="read_only")


def ensure_own(actor: User | None, owner_id: int | None, *, field: str, message: str | Promise) -> None:
    """Refuse a row of someone else's (a subscription, say) unless the actor is a superuser or the system.

    Answered as not found (``out_of_scope`` naming ``field``, with ``message``): another user's rows are
    not seen at all.
    """
    if actor is not None and owner_id != actor.pk and not actor.is_superuser:
        raise field_error(field, message, code="out_of_scope")


class OutOfScope(Http404):
    """The area is not visible to the user; answered exactly like a missing one."""


def ensure_visible(user: User, area: Area) -> None:
    """For a read: refuse an area outside ``user``'s scope with ``OutOfScope``, a "not found", never "forbidden"."""
    if not scope_for(user).contains(area):
        raise OutOfScope(_("No such area."))


#: One of the checks above, as the team and province checks below take it.
AreaCheck = Callable[..., None]


def province_of(area: Area) -> Area:
    """``area``'s province as the checks read it: only its path, the first step of any area's path (no query)."""
    return Area(pk=area.province_id or area.pk, path=area.path[: Area.steplen], name="")


def is_province_officer_of(actor: User | None, area: Area) -> bool:
    """Whether the actor is an officer of ``area``'s province (or a superuser; ``actor=None``: the system)."""
    return actor is None or scope_for(actor).is_officer_of(province_of(area))


def ensure_province_officer(
    actor: User | None, area: Area, *, check: AreaCheck, field: str, message: str | Promise
) -> None:
    """Refuse unless ``check`` passes for ``area`` and the actor is an officer of its province.

    ``check`` (``ensure_can_see`` or ``ensure_can_write``) is what the act asks of the area itself;
    an actor it lets through who is not the province's officer (a commune officer, a viewer, a member)
    lacks the role, not the place: ``read_only`` (the API's 403) with the act's own ``message``.
    """
    check(actor, area, field=field)
    if not is_province_officer_of(actor, area):
        raise field_error(field, message, code="read_only")


def ensure_for_team(actor: User | None, team: Team, *, check: AreaCheck, field: str) -> None:
    """Refuse unless ``check`` passes for one of the areas ``team`` serves (its province if it serves none).

    ``check`` is what the act asks: ``ensure_can_write`` to change the team, ``ensure_officer`` to
    certify its members' training. When every area refuses, the first refusal is raised.
    """
    if actor is None:
        return
    areas = list(team.areas.all()) or [Area.objects.get(pk=team.province_id)]
    refusal: ValidationError | None = None
    for area in areas:
        try:
            check(actor, area, field=field)
        except ValidationError as error:
            refusal = refusal or error
            continue
        return
    assert refusal is not None  # noqa: S101 - areas is never empty
    raise refusal


# --- the national level (issue 18): above the provinces, not an area ------------------------

#: The Django permission that shows the national level (declared on ``NationalTarget``).
VIEW_NATION = "fieldteam.view_nation"


def sees_nation(user: User) -> bool:
    """Whether ``user`` may see the national level: its values, its targets, the provinces ranked.

    A superuser, or an active user granted ``fieldteam.view_nation`` (directly or through a group):
    a ministry's analyst, say. An area role, even a province officer's, does not give it. Seeing the
    nation shows each province's sums, never anything below a province outside the user's scope.
    Not part of ``Scope``: the permission lookup costs queries that only the national pages need
    (Django caches it on the user for the request).
    """
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or user.has_perm(VIEW_NATION)


def ensure_can_see_nation(actor: User | None, *, field: str) -> None:
    """Refuse unless the actor may see the national level (``actor=None``: the system), naming ``field``.

    ``out_of_scope``, as an area outside the actor's scope: the national pages answer 404.
    """
    if actor is not None and not sees_nation(actor):
        raise field_error(field, _("This is outside your area."), code="out_of_scope")


def _minimal(paths: set[str]) -> tuple[str, ...]:
    """Drop paths already covered by an ancestor path in the set."""
    kept: list[str] = []
    for path in sorted(paths, key=len):
        if not any(path.startswith(k) for k in kept):
            kept.append(path)
    return tuple(sorted(kept))


#: Where ``scope_for`` caches the scope on the user object.
_SCOPE_ATTRIBUTE = "_fieldteam_scope"


def scope_for(user: User) -> Scope:
    """The scope of ``user``; cached on the user object for the length of a request."""
    cached = getattr(user, _SCOPE_ATTRIBUTE, None)
    if cached is not None:
        return cached
    scope = _compute_scope(user)
    setattr(user, _SCOPE_ATTRIBUTE, scope)
    return scope


# The member rule in SQL, the one text of it: a membership ``m`` of team ``t`` is open and the team
# active. The scope (``_scope_rows_sql``) reads a member's teams with it, and the one-statement log
# (``fieldteam.rollup.fastlog``) checks its writer with ``member_may_work_sql``.
OPEN_MEMBERSHIP_SQL = "m.ended_on IS NULL AND t.is_active"


def member_may_work_sql(*, member: str, team: str, village_path: str, work_date: str) -> str:
    """A condition: ``member`` may do ``team``'s work on ``work_date`` in the village of ``village_path``.

    The rule ``scope_for`` and ``assistance.check_team_work`` apply to a member, as one SQL
    condition on SQL expressions: an open membership (``OPEN_MEMBERSHIP_SQL``) of the team, the team
    founded by the day of the work, the village in (or under) an area the team serves (any depth
    of tree: a path prefix, as ``Scope.contains``).
    """
    member_table, team_table = Membership._meta.db_table, Team._meta.db_table
    served, area = Team.areas.through._meta.db_table, Area._meta.db_table
    return (
        f"EXISTS (SELECT FROM {member_table} m JOIN {team_table} t ON t.id = m.team_id "
        f"JOIN {served} served ON served.team_id = t.id JOIN {area} a ON a.id = served.area_id "
        f"WHERE m.user_id = {member} AND m.team_id = {team} AND {OPEN_MEMBERSHIP_SQL} "
        f"AND t.founded_on <= {work_date} AND starts_with({village_path}, a.path))"
    )


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
        f"WHERE m.user_id = %s AND {OPEN_MEMBERSHIP_SQL}"
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
    with connection.cursor() as cursor:
        cursor.execute(_SCOPE_ROWS_SQL, [user.pk, user.pk])
        rows = cursor.fetchall()
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
