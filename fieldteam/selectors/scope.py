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
from functools import reduce
from operator import or_
from typing import TypeVar

from django.db.models import Model, Q, QuerySet

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Area, AreaRole, Membership, User

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
    # The subtrees of the user's officer roles (not viewers', not team members'): where unmasked
    # identifiers may be shown to them, each view recorded in the audit trail.
    officer_paths: tuple[str, ...] = ()

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


def _compute_scope(user: User) -> Scope:
    if not user.is_authenticated or not user.is_active:
        return Scope(everything=False, paths=())
    if user.is_superuser:
        return Scope(everything=True, paths=(), can_edit=True, is_staff_scope=True)
    paths: set[str] = set()
    province_paths: set[str] = set()
    edit_paths: set[str] = set()
    officer_paths: set[str] = set()
    staff_roles = list(AreaRole.objects.filter(user=user).select_related("area"))
    for role in staff_roles:
        paths.add(role.area.path)
        if role.area.depth == 1:
            province_paths.add(role.area.path)
        if role.role != AreaRoleKind.VIEWER:
            edit_paths.add(role.area.path)
            officer_paths.add(role.area.path)
    # The open memberships with their teams' area paths, in one query (a row per membership and
    # area; ``None`` for a team without areas).
    memberships = list(
        Membership.objects.filter(user=user, ended_on__isnull=True, team__is_active=True).values_list(
            "team_id", "role", "team__areas__path"
        )
    )
    team_ids = frozenset(t for t, _, _ in memberships)
    led = frozenset(t for t, r, _ in memberships if r in (MembershipRole.LEADER, MembershipRole.DEPUTY))
    by_team: dict[int, set[str]] = {t: set() for t in team_ids}
    for team_id, _, path in memberships:
        if path is not None:
            by_team[team_id].add(path)
    for team_paths in by_team.values():
        paths.update(team_paths)
        edit_paths.update(team_paths)
    minimal = _minimal(paths)
    minimal_edit = _minimal(edit_paths)
    province_ids = frozenset(
        Area.objects.filter(path__in=[p for p in minimal if p in province_paths]).values_list("pk", flat=True)
    )
    return Scope(
        everything=False,
        paths=minimal,
        province_ids=province_ids,
        can_edit=bool(minimal_edit),
        is_staff_scope=bool(staff_roles),
        led_team_ids=led,
        team_ids=team_ids,
        edit_paths=minimal_edit,
        team_area_paths=tuple((t, tuple(sorted(p))) for t, p in sorted(by_team.items())),
        officer_paths=_minimal(officer_paths),
    )
