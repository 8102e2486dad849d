"""A month's sign-off: the commune submits, the province returns or approves, the province's own row last.

Who may: a commune's month is submitted by an officer of the commune (the province officer may
submit on its behalf); it is returned or approved by an officer of its province. The province's own
row is submitted and approved by the province officer, and approved only once every active commune
of the province is approved (the refusal names the communes still missing), so a province report
approved is one whose every commune was approved. An approved month is locked
(``fieldteam.rollup.sign_off.ensure_month_open``); the province officer unlocks it with a reason,
which returns it (and, for a commune, the province's own approval with it).

Each service is one transaction; each change is one save of the ``MonthApproval`` row, recorded in
the audit trail by django-auditlog (with who and when on the row itself).
"""

from __future__ import annotations

from datetime import date

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam import locks
from fieldteam.choices import COMMUNE_KINDS, ApprovalStatus
from fieldteam.errors import field_error
from fieldteam.models import Area, MonthApproval, RollupState, User
from fieldteam.periods import month_index
from fieldteam.permissions import ensure_can_see, ensure_officer, ensure_province_officer
from fieldteam.rollup.sign_off import MONTH_LOCKED
from fieldteam.services import subscriptions

SUBMIT_REFUSED = _("Only an officer of this commune submits its month.")
DECIDE_REFUSED = _("Only the province officer approves, returns or unlocks a month.")


def _month_label(month: date) -> str:
    return f"{month:%m/%Y}"


def _checked(area: Area, month: date) -> date:
    """The month's first day, refusing an area that does not sign off and a month not closed yet."""
    if area is None or not (area.is_commune or area.is_province):
        raise field_error("area", _("Only a commune or a province signs off a month."), code="not_signing_area")
    if month is None:
        raise field_error("month", _("Enter the month."), code="required")
    month = month.replace(day=1)
    closed = RollupState.objects.filter(pk=area.province_id or area.pk).values_list("last_closed_month", flat=True).first()
    if closed is None or month > closed:
        raise field_error(
            "month",
            _("Month %(month)s has not been closed yet: it is signed off once closed.") % {"month": _month_label(month)},
            code="not_closed",
        )
    return month


def _row(area: Area, month: date) -> MonthApproval:
    """The area's sign-off row of ``month``, locked, created (unsaved) as a draft when there is none.

    The month's writers are kept out first (``locks.month_values_exclusive``): a value written at
    the same moment as a decision is either committed before it or refused after it.
    """
    province_id = area.province_id or area.pk
    locks.month_values_exclusive(province_id, month_index(month))
    row = MonthApproval.objects.select_for_update().filter(area=area, month=month).first()
    return row or MonthApproval(area=area, province_id=province_id, month=month)


def _refuse_if_approved(row: MonthApproval, *, field: str = "status") -> None:
    if row.status == ApprovalStatus.APPROVED:
        raise field_error(
            field, MONTH_LOCKED % {"month": _month_label(row.month), "area": row.area.name}, code="already_approved"
        )


def unapproved_communes(province_id: int, month: date) -> list[Area]:
    """The active communes of a province whose ``month`` is not approved, in tree order."""
    approved = MonthApproval.objects.filter(
        province_id=province_id, month=month, status=ApprovalStatus.APPROVED
    ).values("area_id")
    return list(
        Area.objects.filter(province_id=province_id, kind__in=COMMUNE_KINDS, is_active=True)
        .exclude(pk__in=approved)
        .order_by("path")
    )


@transaction.atomic
def submit_month(*, actor: User | None, area: Area, month: date, note: str = "") -> MonthApproval:
    """Submit ``area``'s values of a closed ``month`` for approval, with a note.

    An officer of the area (a commune's officers, or the province officer); refused, naming the
    field, when the month is not closed, already submitted or already approved.
    """
    ensure_officer(actor, area, field="area", message=SUBMIT_REFUSED)
    month = _checked(area, month)
    row = _row(area, month)
    _refuse_if_approved(row)
    if row.status == ApprovalStatus.SUBMITTED:
        raise field_error(
            "status",
            _("Month %(month)s of %(area)s has already been submitted and awaits the province.")
            % {"month": _month_label(month), "area": area.name},
            code="already_submitted",
        )
    row.status = ApprovalStatus.SUBMITTED
    row.note = (note or "").strip()
    row.submitted_by, row.submitted_at = actor, timezone.now()
    row.full_clean(validate_unique=False)
    row.save()
    return row


def _decide(actor: User | None, area: Area, month: date) -> MonthApproval:
    ensure_province_officer(actor, area, check=ensure_can_see, field="area", message=DECIDE_REFUSED)
    month = _checked(area, month)
    row = _row(area, month)
    _refuse_if_approved(row)
    if row.status != ApprovalStatus.SUBMITTED:
        raise field_error(
            "status",
            _("Month %(month)s of %(area)s has not been submitted.") % {"month": _month_label(month), "area": area.name},
            code="not_submitted",
        )
    return row


@transaction.atomic
def return_month(*, actor: User | None, area: Area, month: date, comment: str) -> MonthApproval:
    """Return a submitted month to its area with a comment saying what to correct (the province officer)."""
    comment = (comment or "").strip()
    row = _decide(actor, area, month)
    if not comment:
        raise field_error("comment", _("Say what is to be corrected."), code="required")
    row.status, row.comment = ApprovalStatus.RETURNED, comment
    row.decided_by, row.decided_at = actor, timezone.now()
    row.save()
    return row


@transaction.atomic
def approve_month(*, actor: User | None, area: Area, month: date, comment: str = "") -> MonthApproval:
    """Approve a submitted month (the province officer): its values are locked from now on.

    The province's own row only once every active commune of the province is approved; the refusal
    names those that are not.
    """
    row = _decide(actor, area, month)
    if area.is_province:
        missing = unapproved_communes(area.pk, row.month)
        if missing:
            raise field_error(
                "area",
                _("The province is approved last: these communes are not approved yet: %(communes)s.")
                % {"communes": ", ".join(a.name for a in missing)},
                code="communes_not_approved",
            )
    row.status, row.comment = ApprovalStatus.APPROVED, (comment or "").strip()
    row.decided_by, row.decided_at = actor, timezone.now()
    row.save()
    # The subscribers' reports of this month go out once the approval is committed, not at beat's next run.
    subscriptions.deliver_on_commit()
    return row


@transaction.atomic
def unlock_month(*, actor: User | None, area: Area, month: date, reason: str) -> MonthApproval:
    """Unlock an approved month with a reason (the province officer): it is returned to its area.

    Unlocking a commune also returns the province's own approval of that month (its report summed
    the commune's values), with the same reason.
    """
    reason = (reason or "").strip()
    ensure_province_officer(actor, area, check=ensure_can_see, field="area", message=DECIDE_REFUSED)
    month = _checked(area, month)
    if not reason:
        raise field_error("reason", _("Give the reason for unlocking the month."), code="required")
    row = _row(area, month)
    if row.status != ApprovalStatus.APPROVED:
        raise field_error(
            "status",
            _("Month %(month)s of %(area)s is not approved: there is nothing to unlock.")
            % {"month": _month_label(month), "area": area.name},
            code="not_approved",
        )
    now = timezone.now()
    rows = [row]
    if not area.is_province:
        province_row = (
            MonthApproval.objects.select_for_update()
            .filter(area_id=area.province_id, month=month, status=ApprovalStatus.APPROVED)
            .first()
        )
        if province_row is not None:
            rows.append(province_row)
    for each in rows:
        each.status = ApprovalStatus.RETURNED
        each.unlocked_by, each.unlocked_at, each.unlock_reason = actor, now, reason
        each.save()
    return row
