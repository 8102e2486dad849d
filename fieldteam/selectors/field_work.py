"""Areas, teams, members and the teams' activity (assistance logs, training sessions) a user may see.

The people and places follow ``scope_for(user)``. The activity adds one rule on top, the one the
design names ("a leader also sees the team's activity"):

- a superuser sees all activity;
- a staff user with an area role (officer or viewer) sees the activity placed in that subtree;
- a team leader or deputy sees all the activity of the teams they lead;
- a team member sees their own activity in the teams they belong to.
"""

from __future__ import annotations

import uuid

from django.db.models import Count, Q, QuerySet

from fieldteam.models import Area, AssistanceLog, Membership, Team, TrainingSession, User
from fieldteam.permissions import Scope, scope_for
from fieldteam.selectors.indicators import OutOfScope


def int_pk(value: object) -> int:
    """A primary key from a URL or query, or ``OutOfScope`` (a 404) when it cannot be one."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise OutOfScope from None
    if not 0 < number < 2**63:
        raise OutOfScope
    return number


def uuid_pk(value: object) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError):
        raise OutOfScope from None


def areas_visible(*, user: User) -> QuerySet[Area]:
    return scope_for(user).filter_areas(Area.objects.all()).order_by("path")


def area_get(*, user: User, area_id: object) -> Area:
    area = areas_visible(user=user).filter(pk=int_pk(area_id)).first()
    if area is None:
        raise OutOfScope
    return area


def scope_roots(*, user: User) -> QuerySet[Area]:
    """The top areas of the user's scope: where browsing the tree starts."""
    scope = scope_for(user)
    if scope.everything:
        return Area.objects.get_root_nodes()
    return Area.objects.filter(path__in=scope.paths).order_by("path")


def editable_area_ids(*, user: User, areas: list[Area]) -> set[int]:
    scope = scope_for(user)
    return {area.pk for area in areas if scope.can_edit_area(area)}


def teams_visible(*, user: User) -> QuerySet[Team]:
    """Teams serving at least one area in the user's scope (a member: their own teams)."""
    scope = scope_for(user)
    teams = Team.objects.all()
    if scope.everything:
        return teams.order_by("name", "pk")
    if scope.is_empty:
        return teams.none()
    in_scope = Area.objects.filter(scope.area_q()).values("pk")
    return teams.filter(pk__in=Team.areas.through.objects.filter(area_id__in=in_scope).values("team_id")).order_by(
        "name", "pk"
    )


def team_get(*, user: User, team_id: object) -> Team:
    team = teams_visible(user=user).filter(pk=int_pk(team_id)).first()
    if team is None:
        raise OutOfScope
    return team


def team_memberships(*, user: User, team: Team, current_only: bool = True) -> QuerySet[Membership]:
    """The memberships of a team the user may see (``team`` must come from ``team_get``)."""
    memberships = Membership.objects.filter(team=team).select_related("user").order_by("role", "user__last_name", "pk")
    if current_only:
        memberships = memberships.filter(ended_on__isnull=True)
    return memberships


def team_member_counts(team_ids: list[int]) -> dict[int, int]:
    rows = (
        Membership.objects.filter(team_id__in=team_ids, ended_on__isnull=True)
        .values("team_id")
        .annotate(n=Count("pk"))
        .values_list("team_id", "n")
    )
    return dict(rows)


def activity_q(*, user: User, scope: Scope, member_field: str) -> Q | None:
    """The filter on activity rows the user may see; ``None`` means all of them."""
    if scope.everything:
        return None
    condition = Q(pk__in=[])
    for path in scope.staff_paths:
        condition |= Q(village__path__startswith=path)
    if scope.led_team_ids:
        condition |= Q(team_id__in=scope.led_team_ids)
    own_teams = scope.team_ids - scope.led_team_ids
    if own_teams:
        condition |= Q(**{member_field: user}, team_id__in=own_teams)
    return condition


def assistance_logs_visible(*, user: User) -> QuerySet[AssistanceLog]:
    scope = scope_for(user)
    logs = AssistanceLog.objects.select_related("team", "member", "resident", "household", "village")
    condition = activity_q(user=user, scope=scope, member_field="member")
    if condition is not None:
        logs = logs.filter(condition)
    return logs.prefetch_related("items__capability").order_by("-occurred_at", "pk")


def assistance_log_get(*, user: User, log_id: object) -> AssistanceLog:
    log = assistance_logs_visible(user=user).filter(pk=uuid_pk(log_id)).first()
    if log is None:
        raise OutOfScope
    return log


def training_sessions_visible(*, user: User) -> QuerySet[TrainingSession]:
    scope = scope_for(user)
    sessions = TrainingSession.objects.select_related("team", "trainer", "village", "capability")
    condition = activity_q(user=user, scope=scope, member_field="trainer")
    if condition is not None:
        sessions = sessions.filter(condition)
    return sessions.prefetch_related("attendances__resident").order_by("-started_at", "pk")


def training_session_get(*, user: User, session_id: object) -> TrainingSession:
    session = training_sessions_visible(user=user).filter(pk=uuid_pk(session_id)).first()
    if session is None:
        raise OutOfScope
    return session
