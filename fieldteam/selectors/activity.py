"""Team activity in an area and period: logs per member and per week, members with no activity.

Scoped like every selector: the area must be in the user's scope (else ``OutOfScope``, a 404),
and what the user sees of the activity follows the scoping rule of the field-work API:

- a superuser, and a staff user whose area role covers the area, see every team working there;
- a team leader or deputy sees the activity of the teams they lead;
- any other member sees their own activity only.

Runs a constant number of queries (six at most) whatever the size of the subtree: every count is
one ``GROUP BY`` over the logs, the training sessions or the memberships of the subtree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.db.models import Count, Max, Q, QuerySet
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce, Substr, TruncDate
from django.utils import timezone

from fieldteam import names
from fieldteam.choices import PeriodKind
from fieldteam.models import Area, AssistanceLog, Membership, TrainingSession, User
from fieldteam.periods import Period, month_end, today
from fieldteam.permissions import ensure_visible, scope_for

__all__ = [
    "HELP_GIVEN",
    "ChildActivity",
    "MemberActivity",
    "TeamActivity",
    "help_given",
    "reference_month",
    "team_activity",
]

# "Help given" (lượt hỗ trợ) over assistance logs: a training session is one, however many attended
# (each attendee has a log of the session, which counts them among the people helped). The one
# definition: the member's home (``selectors.web``), the dashboards and the periodic report count with it.
def help_given(where: Q | None = None) -> CombinedExpression:
    """The help given among the logs (of a ``GROUP BY``) matching ``where`` (all of them: ``None``)."""
    single = Q(training_session__isnull=True) if where is None else where & Q(training_session__isnull=True)
    return Count("pk", filter=single) + Count("training_session", filter=where, distinct=True)


HELP_GIVEN = help_given()


def _rows(where: Q | None = None) -> Count:
    return Count("pk", filter=where)


@dataclass
class MemberActivity:
    """One person's work in the area: a member of a team working there, or someone who logged there."""

    user_id: int
    name: str
    username: str
    team_names: list[str] = field(default_factory=list)
    role: str = ""  # the highest MembershipRole among their teams here; "" if not a member here
    logs: int = 0  # help given in the period (``HELP_GIVEN``: a training session is one)
    logs_in_month: int = 0  # help given in the reference month
    sessions: int = 0  # training sessions given in the period
    sessions_in_month: int = 0
    last_activity: datetime | None = None  # latest log or session within the period

    @property
    def is_member(self) -> bool:
        return bool(self.role)

    @property
    def active_in_month(self) -> bool:
        return bool(self.logs_in_month or self.sessions_in_month)


@dataclass
class ChildActivity:
    """Activity summed over one child area of the area."""

    area: Area
    logs: int = 0
    sessions: int = 0
    members: int = 0
    active_members: int = 0  # members with a log or session in the child during the reference month

    @property
    def inactive_members(self) -> int:
        return self.members - self.active_members


@dataclass
class TeamActivity:
    area: Area
    period: Period
    month: Period  # the reference month of "no activity this month"
    access: str  # "all", "led_teams" or "own"
    weeks: list[date]  # Mondays of the weeks the period overlaps
    logs_per_week: list[int]  # help given (``HELP_GIVEN``), as ``total_logs``
    total_logs: int
    total_sessions: int
    members: list[MemberActivity]  # most logs first; cut to ``member_limit`` if one was given
    member_count: int  # everyone in ``members`` before the cut
    inactive: list[MemberActivity]  # team members with nothing in the reference month, by name
    children: list[ChildActivity]  # in path order; empty for a village

    @property
    def inactive_count(self) -> int:
        return len(self.inactive)


_ROLE_RANK = {"leader": 3, "deputy": 2, "member": 1}


def reference_month(period: Period, on: date | None = None) -> Period:
    """The month "this month" means for ``period``: today's month while the period is open, else its last."""
    on = on or today()
    return Period.containing(PeriodKind.MONTH, min(on, period.end))


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _access(user: User, area: Area) -> tuple[str, frozenset[int]]:
    """How much of the area's activity ``user`` may see: everything, their led teams, or their own."""
    scope = scope_for(user)
    if scope.everything or any(area.path.startswith(path) for path in scope.staff_paths):
        return "all", frozenset()
    led = scope.led_team_ids
    if led:
        return "led_teams", led
    return "own", frozenset()


def _in_area(queryset: QuerySet, area: Area, field_name: str) -> QuerySet:
    # A province filters on the rows' own province column: no join with the area tree.
    if area.depth == 1 and hasattr(queryset.model, "province_id"):
        return queryset.filter(province_id=area.pk)
    return queryset.filter(**{f"{field_name}__path__startswith": area.path})


def _restrict(queryset: QuerySet, access: str, team_ids: frozenset[int], user: User, user_field: str) -> QuerySet:
    if access == "led_teams":
        return queryset.filter(team_id__in=team_ids)
    if access == "own":
        return queryset.filter(**{user_field: user.pk})
    return queryset


def _display_name(first: str, last: str, username: str) -> str:
    # The one rule of ``User.display_name``, on values read without loading the users.
    return names.display_name(family=last, given=first) or username


class _Collector:
    """Sums one area's activity into people and child areas, one ``GROUP BY`` at a time."""

    def __init__(self, area: Area, period: Period, access: str, team_ids: frozenset[int], user: User) -> None:
        self.area, self.period, self.access, self.team_ids, self.user = area, period, access, team_ids, user
        self.month = reference_month(period)
        self.start, self.end = _aware(period.start), _aware(period.end + timedelta(days=1))
        self.month_start = _aware(self.month.start)
        self.child_len = (area.depth + 1) * Area.steplen
        children = Area.objects.filter(path__startswith=area.path, depth=area.depth + 1).order_by("path")
        self.by_child = {child.path: ChildActivity(child) for child in children}
        self.people: dict[int, MemberActivity] = {}
        self.member_children: dict[str, set[int]] = defaultdict(set)
        self.active_children: dict[str, set[int]] = defaultdict(set)

    def restrict(self, queryset: QuerySet, user_field: str) -> QuerySet:
        return _restrict(queryset, self.access, self.team_ids, self.user, user_field)

    def person(self, user_id: int, first: str, last: str, username: str) -> MemberActivity:
        if user_id not in self.people:
            self.people[user_id] = MemberActivity(user_id, _display_name(first, last, username), username)
        return self.people[user_id]

    def with_child(self, queryset: QuerySet, path_field: str) -> tuple[QuerySet, list[str]]:
        if not self.by_child:
            return queryset, []
        return queryset.annotate(child=Substr(path_field, 1, self.child_len)), ["child"]

    def add_memberships(self) -> None:
        """Members of the teams serving the area or any area below it, during the reference month."""
        memberships = self.restrict(
            Membership.objects.filter(
                team__is_active=True,
                team__areas__path__startswith=self.area.path,
                started_on__lte=month_end(self.month.first_month_index),
            ).filter(Q(ended_on__isnull=True) | Q(ended_on__gte=self.month.start)),
            "user_id",
        )
        rows = memberships.annotate(child=Substr("team__areas__path", 1, self.child_len)).values_list(
            "user_id", "user__first_name", "user__last_name", "user__username", "team__name", "role", "child"
        )
        for user_id, first, last, username, team_name, role, child in rows:
            entry = self.person(user_id, first, last, username)
            if team_name not in entry.team_names:
                entry.team_names.append(team_name)
            if _ROLE_RANK.get(role, 0) > _ROLE_RANK.get(entry.role, 0):
                entry.role = role
            if child in self.by_child:
                self.member_children[child].add(user_id)

    def add_work(
        self,
        queryset: QuerySet,
        person_field: str,
        time_field: str,
        kind: str,
        count: Callable[[Q | None], object],
        place: str = "village__path",
    ) -> None:
        """Logs (as help given) or training sessions per person (and child): in the period, and in the reference month."""
        rows, extra = self.with_child(queryset, place)
        names = [f"{person_field}__first_name", f"{person_field}__last_name", f"{person_field}__username"]
        for row in rows.values(f"{person_field}_id", *names, *extra).annotate(
            n=count(None),
            n_month=count(Q(**{f"{time_field}__gte": self.month_start})),
            last=Max(time_field),
        ):
            person_id = row[f"{person_field}_id"]
            entry = self.person(person_id, *(row[name] for name in names))
            setattr(entry, kind, getattr(entry, kind) + row["n"])
            setattr(entry, f"{kind}_in_month", getattr(entry, f"{kind}_in_month") + row["n_month"])
            entry.last_activity = max(filter(None, [entry.last_activity, row["last"]]), default=None)
            child = self.by_child.get(row.get("child", ""))
            if child is not None:
                setattr(child, kind, getattr(child, kind) + row["n"])
                if row["n_month"]:
                    self.active_children[row["child"]].add(person_id)

    def weeks(self, logs: QuerySet) -> tuple[list[date], list[int]]:
        """Logs per day, summed into the weeks (from Monday) the period overlaps, up to this week.

        An open period's weeks still to come are not drawn: an empty column would read as a week
        without work.
        """
        first_monday = self.period.start - timedelta(days=self.period.start.weekday())
        last_day = max(min(self.period.end, today()), self.period.start)
        weeks = [first_monday + timedelta(weeks=i) for i in range((last_day - first_monday).days // 7 + 1)]
        per_week = [0] * len(weeks)
        # A session's logs share its start, so a session is one in its day's (and week's) count.
        per_day = logs.annotate(day=TruncDate("occurred_at")).values("day").annotate(n=HELP_GIVEN)
        for day, n in per_day.values_list("day", "n"):
            index = (day - first_monday).days // 7
            if 0 <= index < len(weeks):  # a log dated ahead of the server's clock is not drawn in the future
                per_week[index] += n
        return weeks, per_week

    def children(self) -> list[ChildActivity]:
        for path, child in self.by_child.items():
            members = self.member_children.get(path, set())
            child.members = len(members)
            child.active_members = len(members & self.active_children.get(path, set()))
        return list(self.by_child.values())


def team_activity(*, user: User, area: Area, period: Period, member_limit: int | None = None) -> TeamActivity:
    """Activity of the teams working in ``area`` during ``period``, as far as ``user`` may see it.

    ``member_limit`` keeps only the most active members in ``members`` (a province has tens of
    thousands); ``member_count``, ``inactive`` and the per-child sums still count everyone.
    """
    ensure_visible(user, area)
    access, team_ids = _access(user, area)
    collect = _Collector(area, period, access, team_ids, user)
    collect.add_memberships()
    # A session's logs count where it was held (as on the member's home), so that it is one session
    # for the area, its child and its trainer, whichever villages its attendees live in.
    here = AssistanceLog.objects.alias(held_in=Coalesce("training_session__village__path", "village__path"))
    # A province: the logs' own province column (a session's attendees are of its province).
    here = here.filter(province_id=area.pk) if area.depth == 1 else here.filter(held_in__startswith=area.path)
    logs = collect.restrict(here.filter(occurred_at__gte=collect.start, occurred_at__lt=collect.end), "member_id")
    collect.add_work(logs, "member", "occurred_at", "logs", help_given, "held_in")
    sessions = collect.restrict(
        _in_area(TrainingSession.objects.all(), area, "village").filter(
            started_at__gte=collect.start, started_at__lt=collect.end
        ),
        "trainer_id",
    )
    collect.add_work(sessions, "trainer", "started_at", "sessions", _rows)
    weeks, per_week = collect.weeks(logs)
    ranked = sorted(collect.people.values(), key=lambda m: (-(m.logs + m.sessions), m.name, m.user_id))
    inactive = sorted((m for m in ranked if m.is_member and not m.active_in_month), key=lambda m: (m.name, m.user_id))
    return TeamActivity(
        area=area,
        period=period,
        month=collect.month,
        access=access,
        weeks=weeks,
        logs_per_week=per_week,
        total_logs=sum(per_week),
        total_sessions=sum(m.sessions for m in ranked),
        members=ranked if member_limit is None else ranked[:member_limit],
        member_count=len(ranked),
        inactive=inactive,
        children=collect.children(),
    )
