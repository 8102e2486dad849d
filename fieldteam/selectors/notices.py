"""In-app notices (issue 17): what needs acting on, shown on the pages each person already opens.

Nothing is stored and nothing is pushed: each notice is derived when the page is drawn, from the
logs (the follow-up visits of ``selectors.follow_ups``) and from the month sign-off
(``selectors.approvals``), and read through the user's scope (``permissions.scope_for``):

- a team member or leader: the overdue follow-ups of their teams' villages, and for a leader
  each member's overdue count in the villages of the teams they lead;
- an officer (not a viewer): a month of one of their own areas returned by the province, with its
  comment; a commune officer the last closed month of their commune until it is submitted (a
  warning once past its due day); a province officer also the communes that submitted a month and wait for approval, and
  the communes late with the last closed month.

A bounded number of queries whatever the number of villages, follow-ups or communes: one for the
villages, two for the follow-ups, one for the members' names, one for the officer's areas, one
for the returned months, two for the communes' months to submit, one for the submitted ones, and
three per province for the late ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from functools import reduce
from operator import or_

from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from fieldteam.choices import COMMUNE_KINDS, VILLAGE_KINDS, ApprovalStatus
from fieldteam.models import Area, MonthApproval, RollupState, User
from fieldteam.periods import today
from fieldteam.permissions import Scope, scope_for
from fieldteam.selectors.approvals import due_date, month_sign_off
from fieldteam.selectors.follow_ups import FollowUp, follow_ups

__all__ = ["NOTICE_KINDS", "Notice", "notices_for"]

OVERDUE_FOLLOW_UPS = "overdue_follow_ups"
MEMBERS_OVERDUE = "members_overdue"
MONTH_RETURNED = "month_returned"
MONTHS_SUBMITTED = "months_submitted"
COMMUNES_LATE = "communes_late"
MONTH_TO_SUBMIT = "month_to_submit"
NOTICE_KINDS = (OVERDUE_FOLLOW_UPS, MEMBERS_OVERDUE, MONTH_RETURNED, MONTH_TO_SUBMIT, MONTHS_SUBMITTED, COMMUNES_LATE)

WARNING = "warning"
INFO = "info"

# Names listed in one notice before "…": the page links to the full list.
MAX_NAMES = 5
# Returned months shown at most (the oldest first would be stale: the latest are shown).
MAX_RETURNED = 5


@dataclass(frozen=True)
class Notice:
    kind: str  # one of NOTICE_KINDS
    text: str
    link: str
    severity: str  # WARNING or INFO


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES])
    return f"{shown}, …" if len(names) > MAX_NAMES else shown


def _month(month: date) -> str:
    return f"{month:%m/%Y}"


def _sign_off_link(area_id: int, month: date) -> str:
    return f"{reverse('dashboards:area', kwargs={'area_id': area_id})}?period={month:%Y-%m}#sign-off"


# --- members and leaders -------------------------------------------------------------------------


def _team_villages(scope: Scope) -> tuple[list[Area], set[int]]:
    """The villages the user's teams serve (a commune served without villages: the commune), and the
    ids of those served by a team the user leads. One query."""
    served = {path: team for team, paths in scope.team_area_paths for path in paths}
    if not served:
        return [], set()
    under = reduce(or_, (Q(path__startswith=path) for path in served))
    areas = list(scope.filter_areas(Area.objects.filter(under, Q(kind__in=VILLAGE_KINDS) | Q(path__in=served))))
    led_paths = [path for path, team in served.items() if team in scope.led_team_ids]
    led = {a.pk for a in areas if any(a.path.startswith(path) for path in led_paths)}
    return areas, led


def _field_notices(user: User, scope: Scope) -> list[Notice]:
    villages, led = _team_villages(scope)
    if not villages:
        return []
    day = today()
    overdue: list[FollowUp] = [f for f in follow_ups(user=user, villages=villages) if f.is_overdue(day)]
    if not overdue:
        return []
    # The list on the home page, at the village of the longest overdue.
    link = f"{reverse('web:home')}#work-{overdue[0].village_id}"
    notices = [
        Notice(
            OVERDUE_FOLLOW_UPS,
            ngettext("%(n)d follow-up visit is overdue", "%(n)d follow-up visits are overdue", len(overdue))
            % {"n": len(overdue)},
            link,
            WARNING,
        )
    ]
    by_member = Counter(f.visited_by for f in overdue if f.village_id in led)
    if by_member:
        people = {u.pk: u.display_name for u in User.objects.filter(pk__in=by_member)}
        counts = [
            _("%(name)s: %(n)d") % {"name": people.get(pk, "?"), "n": n}
            for pk, n in sorted(by_member.items(), key=lambda item: (-item[1], people.get(item[0], "")))
        ]
        notices.append(
            Notice(
                MEMBERS_OVERDUE, _("Overdue follow-ups by member: %(counts)s") % {"counts": _names(counts)}, link, INFO
            )
        )
    return notices


# --- officers ------------------------------------------------------------------------------------


def _officer_notices(user: User, scope: Scope) -> list[Notice]:
    areas = list(scope.filter_areas(Area.objects.filter(path__in=scope.officer_paths)).order_by("path"))
    if not areas:
        return []
    notices: list[Notice] = []
    returned = (
        scope.filter(MonthApproval.objects.filter(area__in=areas, status=ApprovalStatus.RETURNED), "area")
        .select_related("area")
        .order_by("-month", "area__path")[:MAX_RETURNED]
    )
    for row in returned:
        values = {"month": _month(row.month), "area": row.area.name, "comment": row.comment}
        text = (
            _("The month %(month)s report of %(area)s was returned: %(comment)s") % values
            if row.comment
            else _("The month %(month)s report of %(area)s was returned.") % values
        )
        notices.append(Notice(MONTH_RETURNED, text, _sign_off_link(row.area_id, row.month), WARNING))
    notices += _months_to_submit([a for a in areas if a.is_commune and a.is_active])
    provinces = [a for a in areas if a.is_province]
    if not provinces:
        return notices
    waiting: dict[tuple[int, date], list[str]] = defaultdict(list)
    submitted = scope.filter(
        MonthApproval.objects.filter(
            province__in=provinces, status=ApprovalStatus.SUBMITTED, area__kind__in=COMMUNE_KINDS
        ),
        "area",
    ).order_by("month", "area__path")
    for province_id, month, name in submitted.values_list("province_id", "month", "area__name"):
        waiting[(province_id, month)].append(name)
    for (province_id, month), names in waiting.items():
        notices.append(
            Notice(
                MONTHS_SUBMITTED,
                ngettext(
                    "%(n)d commune submitted the month %(month)s and waits for your approval: %(names)s",
                    "%(n)d communes submitted the month %(month)s and wait for your approval: %(names)s",
                    len(names),
                )
                % {"n": len(names), "month": _month(month), "names": _names(names)},
                _sign_off_link(province_id, month),
                INFO,
            )
        )
    for province in provinces:
        sign_off = month_sign_off(user=user, area=province)
        if sign_off is None or not sign_off.late:
            continue
        late = [c.area.name for c in sign_off.late]
        notices.append(
            Notice(
                COMMUNES_LATE,
                ngettext(
                    "%(n)d commune is late with the month %(month)s: %(names)s",
                    "%(n)d communes are late with the month %(month)s: %(names)s",
                    len(late),
                )
                % {"n": len(late), "month": sign_off.month_label, "names": _names(late)},
                _sign_off_link(province.pk, sign_off.month),
                WARNING,
            )
        )
    return notices


def _months_to_submit(communes: list[Area]) -> list[Notice]:
    """Each commune whose last closed month is neither submitted nor approved yet (returned: said above).

    Two queries whatever the number of communes: the provinces' last closed months, their rows.
    """
    if not communes:
        return []
    closed = dict(
        RollupState.objects.filter(pk__in={c.province_id for c in communes}, last_closed_month__isnull=False).values_list(
            "pk", "last_closed_month"
        )
    )
    if not closed:
        return []
    answered = set(
        MonthApproval.objects.filter(area__in=communes, month__in=set(closed.values()))
        .exclude(status=ApprovalStatus.DRAFT)
        .values_list("area_id", "month")
    )
    notices = []
    for commune in communes:
        month = closed.get(commune.province_id)
        if month is None or (commune.pk, month) in answered:
            continue
        due = due_date(month)
        values = {"month": _month(month), "area": commune.name, "due": f"{due:%d/%m/%Y}"}
        late = today() > due
        text = (
            _("The month %(month)s of %(area)s is late: it was due on %(due)s. Review and submit it.")
            if late
            else _("The month %(month)s of %(area)s is to be reviewed and submitted by %(due)s.")
        ) % values
        notices.append(Notice(MONTH_TO_SUBMIT, text, _sign_off_link(commune.pk, month), WARNING if late else INFO))
    return notices


def notices_for(*, user: User) -> list[Notice]:
    """What ``user`` should act on now, most pressing kinds first: the field work's, then the office's.

    Everything is read through the user's scope; a viewer, or a superuser without a role of their
    own, gets no office notices (they sign nothing off). A bounded number of queries (the module's
    docstring).
    """
    scope = scope_for(user)
    notices: list[Notice] = []
    if scope.team_ids:
        notices += _field_notices(user, scope)
    if scope.officer_paths:
        notices += _officer_notices(user, scope)
    return notices
