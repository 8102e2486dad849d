"""Whether a month's values may still change: the one check every write of a month's values makes.

A month approved for an area (``MonthApproval``, ``approved``) locks the values of that area and of
every area below it for that month, and of the quarter and year frozen with it (a quarter's or a
year's values are frozen with its last month). The live counts (``VillageCount``) belong to the open
month and are never locked: a log dated in a locked month changes only the open month's counts.
"""

from __future__ import annotations

from datetime import date

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam import locks
from fieldteam.choices import ApprovalStatus
from fieldteam.errors import field_error
from fieldteam.models import Area, MonthApproval
from fieldteam.periods import Period, month_index, month_start

MONTH_LOCKED = _(
    "Month %(month)s has been approved for %(area)s: its values are locked. Enter a correction in a later "
    "month, or ask the province officer to unlock the month, giving a reason."
)


def locking_month(period: Period) -> date:
    """The month whose approval locks ``period``'s values: its last month (quarters and years freeze with it)."""
    return month_start(period.last_month_index)


def approvals_locking(area: Area, month: date) -> QuerySet[MonthApproval]:
    """The approvals of ``month`` that lock ``area``'s values: its own and those of the areas above it."""
    return MonthApproval.objects.filter(
        month=month, status=ApprovalStatus.APPROVED, area__path__in=Area.ancestor_paths(area.path)
    ).select_related("area")


def month_locked_error(approval: MonthApproval, *, field: str) -> ValidationError:
    return field_error(
        field,
        MONTH_LOCKED % {"month": f"{approval.month:%m/%Y}", "area": approval.area.name},
        code="month_locked",
    )


def ensure_month_open(area: Area, period: Period, *, field: str = "period") -> None:
    """Refuse, naming ``field``, a write of ``area``'s values for ``period`` once its month is approved.

    Called inside the writer's transaction: it first joins the month's writers
    (``locks.month_values_shared``), so an approval deciding at the same moment waits for this
    write to commit, or this write sees the approval.
    """
    month = locking_month(period)
    locks.month_values_shared(area.province_id or area.pk, month_index(month))
    approval = approvals_locking(area, month).order_by("area__depth").first()
    if approval is not None:
        raise month_locked_error(approval, field=field)


def approved_paths(province_id: int, month: date) -> list[str]:
    """The paths of the areas of a province whose ``month`` is approved (their subtrees are locked)."""
    return list(
        MonthApproval.objects.filter(province_id=province_id, month=month, status=ApprovalStatus.APPROVED)
        .order_by("area__path")
        .values_list("area__path", flat=True)
    )
