"""Follow-up visits, derived from the assistance logs (issue 17).

Nothing is stored per follow-up: for each subject (resident or household) and capability, the
latest assistance item (by its log's time) being "not done" for a reason whose rule
(``FollowUpRule``: the province's own, else the national default) has a delay is an open
follow-up, due that many days after the visit and assigned to the team of the village. Any later
item of the same capability closes it (done; or not done again, which opens the next one from the
new reason). Resends and offline batches write a log once (its client id), so follow-ups can be
neither lost nor duplicated: there is nothing to keep in step.

One query for the items (window functions over each subject and capability, on SQLite and
PostgreSQL) plus one for the rules, whatever the number of villages.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from django.db.models import F, Q, QuerySet, Window
from django.db.models.functions import Lead
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import (
    COMMUNE_KINDS,
    VILLAGE_KINDS,
    AssistanceOutcome,
    CapabilitySubject,
    NotDoneReason,
    ResidentStatus,
)
from fieldteam.models import Area, AssistanceItem, FollowUpRule, User
from fieldteam.models.follow_ups import DEFAULT_DELAYS
from fieldteam.periods import today as local_today
from fieldteam.permissions import scope_for
from fieldteam.selectors.indicators import OutOfScope

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _NextItem(TypedDict):
    """What ``_items`` annotates: the subject's next item for the capability (None if there is none)."""

    next_at: dt.datetime | None
    next_by: int | None


__all__ = [
    "FollowUp",
    "FollowUpCounts",
    "VillageFollowUps",
    "commune_follow_ups",
    "follow_up_counts_by_member",
    "follow_up_counts_by_village",
    "follow_up_delays",
    "follow_ups",
]

#: Days before the due date a follow-up starts to show as "due" (the week ahead).
DUE_SOON_DAYS = 7


@dataclass(frozen=True)
class FollowUp:
    subject: str  # CapabilitySubject
    subject_id: int
    name: str
    household_id: int
    village_id: int
    capability_id: int
    capability_code: str
    capability_name: str
    reason: str
    # The visit that left it not done (the last visit for this capability), and who made it.
    visited_at: dt.datetime
    visited_by: int
    due_on: dt.date
    # The later log that closed it, if any, and who made it.
    closed_at: dt.datetime | None = None
    closed_by: int | None = None

    @property
    def reason_label(self) -> str:
        return str(NotDoneReason(self.reason).label)

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def is_overdue(self, day: dt.date) -> bool:
        return self.is_open and self.due_on < day

    def is_due(self, day: dt.date) -> bool:
        """Open and due within the week ahead (overdue ones included)."""
        return self.is_open and self.due_on <= day + dt.timedelta(days=DUE_SOON_DAYS)

    @property
    def done_on_time(self) -> bool:
        return self.closed_at is not None and timezone.localdate(self.closed_at) <= self.due_on


@dataclass
class FollowUpCounts:
    due: int = 0  # open, due within the week ahead, not yet overdue
    done_on_time: int = 0  # closed on or before the due date, since ``closed_since``
    overdue: int = 0  # open past the due date

    @property
    def any(self) -> bool:
        return bool(self.due or self.done_on_time or self.overdue)


def follow_up_delays(province_ids: Iterable[int]) -> dict[tuple[int, str], int | None]:
    """(province id, reason) → days to the follow-up (None: none), the province's rule over the national one."""
    provinces = set(province_ids)
    national: dict[str, int | None] = {}
    own: dict[tuple[int, str], int | None] = {}
    for province_id, reason, delay in FollowUpRule.objects.filter(
        Q(province__isnull=True) | Q(province_id__in=provinces)
    ).values_list("province_id", "reason", "delay_days"):
        if province_id is None:
            national[reason] = delay
        else:
            own[(province_id, reason)] = delay
    # A reason with no national row (a table emptied by hand) keeps the seeded default.
    for reason, delay in DEFAULT_DELAYS.items():
        national.setdefault(reason, delay)
    return {(p, r): own.get((p, r), national.get(r)) for p in provinces for r in NotDoneReason.values}


def _items(
    user: User, village_ids: list[int], province_ids: set[int], closed_since: dt.datetime | None
) -> QuerySet[WithAnnotations[AssistanceItem, _NextItem]]:
    """Each subject's latest item per capability (and, with ``closed_since``, items closed since then),
    with the next item's time and member."""
    partition = [F("log__resident_id"), F("log__household_id"), F("capability_id")]
    order = [F("log__occurred_at").asc(), F("log__recorded_at").asc(), F("log_id").asc(), F("id").asc()]
    items = scope_for(user).filter(AssistanceItem.objects.all(), "log__village")
    # The subject still lives there (a move starts afresh with the new village's team).
    here = Q(log__resident__village_id=F("log__village_id"), log__resident__status=ResidentStatus.ACTIVE) | Q(
        log__household__village_id=F("log__village_id"), log__household__is_active=True
    )
    latest = Q(next_at__isnull=True)
    if closed_since is not None:
        latest |= Q(next_at__gte=closed_since)
    return (
        # The province first: the logs' (province, village, occurred_at) index serves the villages.
        items.filter(here, log__province_id__in=province_ids, log__village_id__in=village_ids)
        .annotate(
            next_at=Window(Lead("log__occurred_at"), partition_by=partition, order_by=order),
            next_by=Window(Lead("log__member_id"), partition_by=partition, order_by=order),
        )
        .filter(latest)
    )


def _follow_ups(user: User, villages: list[Area], closed_since: dt.datetime | None) -> list[FollowUp]:
    if not villages:
        return []
    delays = follow_up_delays({v.province_id or v.pk for v in villages})
    province_of = {v.pk: v.province_id or v.pk for v in villages}
    rows = _items(user, list(province_of), set(province_of.values()), closed_since).values_list(
        "outcome",
        "reason",
        "capability_id",
        "capability__code",
        "capability__name",
        "log__resident_id",
        "log__resident__full_name",
        "log__resident__household_id",
        "log__household_id",
        "log__household__head_name",
        "log__household__code",
        "log__village_id",
        "log__occurred_at",
        "log__member_id",
        "next_at",
        "next_by",
    )
    found = []
    for (
        outcome,
        reason,
        cap,
        cap_code,
        cap_name,
        rid,
        rname,
        rhid,
        hid,
        head,
        code,
        village_id,
        at,
        by,
        next_at,
        next_by,
    ) in rows:
        if outcome != AssistanceOutcome.NOT_DONE:
            continue
        delay = delays.get((province_of[village_id], reason))
        if delay is None:
            continue
        subject = CapabilitySubject.RESIDENT if rid is not None else CapabilitySubject.HOUSEHOLD
        found.append(
            FollowUp(
                subject=subject,
                subject_id=rid if rid is not None else hid,
                name=rname if rid is not None else (head or code),
                household_id=rhid if rid is not None else hid,
                village_id=village_id,
                capability_id=cap,
                capability_code=cap_code,
                capability_name=cap_name,
                reason=reason,
                visited_at=at,
                visited_by=by,
                due_on=timezone.localdate(at) + dt.timedelta(days=delay),
                closed_at=next_at,
                closed_by=next_by,
            )
        )
    return sorted(found, key=lambda f: (f.due_on, f.visited_at, f.subject, f.subject_id, f.capability_id))


def _visible(user: User, villages: Iterable[Area]) -> list[Area]:
    scope = scope_for(user)
    listed = list(villages)
    for village in listed:
        if not scope.contains(village):
            raise OutOfScope(_("No such area."))
    return listed


def follow_ups(*, user: User, villages: Iterable[Area]) -> list[FollowUp]:
    """The open follow-ups of ``villages`` (each in the user's scope, else 404), soonest due first."""
    return _follow_ups(user, _visible(user, villages), None)


def _counts(
    user: User, villages: list[Area], key: str, day: dt.date | None, closed_since: dt.date | None
) -> dict[int, FollowUpCounts]:
    day = day or local_today()
    since = closed_since or day.replace(day=1)
    since_at = timezone.make_aware(dt.datetime.combine(since, dt.time.min))
    counts: dict[int, FollowUpCounts] = defaultdict(FollowUpCounts)
    for item in _follow_ups(user, villages, since_at):
        if item.is_open:
            # The open one waits on whoever left it not done.
            owner = item.visited_by if key == "member" else item.village_id
            if item.is_overdue(day):
                counts[owner].overdue += 1
            elif item.is_due(day):
                counts[owner].due += 1
        elif item.done_on_time and item.closed_at is not None and item.closed_at >= since_at:
            # Done on time counts for whoever closed it.
            owner = (item.closed_by or 0) if key == "member" else item.village_id
            counts[owner].done_on_time += 1
    return dict(counts)


def follow_up_counts_by_member(
    *, user: User, villages: Iterable[Area], day: dt.date | None = None, closed_since: dt.date | None = None
) -> dict[int, FollowUpCounts]:
    """Per member (user id): follow-ups due within the week, done on time since ``closed_since``
    (default: the first of ``day``'s month) and overdue on ``day`` (default: today)."""
    return _counts(user, _visible(user, villages), "member", day, closed_since)


def follow_up_counts_by_village(
    *, user: User, villages: Iterable[Area], day: dt.date | None = None, closed_since: dt.date | None = None
) -> dict[int, FollowUpCounts]:
    """The same counts per village (area id)."""
    return _counts(user, _visible(user, villages), "village", day, closed_since)


@dataclass(frozen=True)
class VillageFollowUps:
    village: Area
    counts: FollowUpCounts


def commune_follow_ups(*, user: User, area: Area, day: dt.date | None = None) -> list[VillageFollowUps] | None:
    """A commune's villages with their follow-ups due, done on time this month and overdue; None for
    another kind of area. Three queries whatever the number of villages."""
    if area.kind not in COMMUNE_KINDS:
        return None
    villages = list(
        Area.objects.filter(path__startswith=area.path, depth=area.depth + 1, kind__in=VILLAGE_KINDS).order_by("name")
    )
    _visible(user, [area])
    # The villages' rows are filtered through the scope again in ``_items``.
    counts = _counts(user, villages, "village", day, None) if villages else {}
    return [VillageFollowUps(v, counts.get(v.pk, FollowUpCounts())) for v in villages]
