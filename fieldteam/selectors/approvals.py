"""Reads of the month sign-off: each area's status for a month, and which communes are late.

Scoped like everything else: the communes listed are those of the area in the user's scope
(``scope_for``); an area the user may not see is refused by the caller (``visible_area``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils.translation import gettext as _

from fieldteam.choices import COMMUNE_KINDS, ApprovalStatus, PeriodKind
from fieldteam.errors import field_error
from fieldteam.models import Area, IndicatorValue, MonthApproval, RollupState, User
from fieldteam.periods import Period, month_index, month_start, today
from fieldteam.permissions import ensure_area_staff, scope_for
from fieldteam.selectors.reports import Column, ReportDocument, Table, file_stem

# A commune's month is due by this day of the following month; not submitted (or returned and not
# submitted again) after it, the commune is late.
DUE_DAY = 5

STATUS_LABELS = dict(ApprovalStatus.choices)


@dataclass(frozen=True)
class AreaSignOff:
    area: Area
    status: str
    late: bool
    row: MonthApproval | None = None

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self.status])


@dataclass
class MonthSignOff:
    """The sign-off of ``month`` as seen from ``area``: its own status, its communes' and the late ones."""

    month: date
    own: AreaSignOff | None
    communes: list[AreaSignOff] = field(default_factory=list)

    @property
    def late(self) -> list[AreaSignOff]:
        return [c for c in self.communes if c.late]

    @property
    def not_approved(self) -> list[AreaSignOff]:
        return [c for c in self.communes if c.status != ApprovalStatus.APPROVED]

    @property
    def month_label(self) -> str:
        return f"{self.month:%m/%Y}"


def due_date(month: date) -> date:
    """The day a commune's ``month`` is due at the province."""
    return month_start(month_index(month) + 1).replace(day=DUE_DAY)


def last_closed_month(province_id: int) -> date | None:
    return RollupState.objects.filter(pk=province_id).values_list("last_closed_month", flat=True).first()


def sign_off_month(area: Area, period: Period | None) -> date | None:
    """The month a dashboard shows the sign-off of: the chosen month when closed, else the last closed."""
    closed = last_closed_month(area.province_id or area.pk)
    if closed is None:
        return None
    if period is not None and period.kind == PeriodKind.MONTH and period.start <= closed:
        return period.start
    return closed


def _entry(area: Area, month: date, row: MonthApproval | None, on: date) -> AreaSignOff:
    status = row.status if row is not None else ApprovalStatus.DRAFT
    late = status in (ApprovalStatus.DRAFT, ApprovalStatus.RETURNED) and on > due_date(month)
    return AreaSignOff(area=area, status=status, late=late and area.kind in COMMUNE_KINDS, row=row)


def month_sign_off(*, user: User, area: Area, period: Period | None = None, month: date | None = None) -> MonthSignOff | None:
    """The sign-off of a month for ``area`` (a province or a commune) and its communes in the user's scope.

    ``None`` for an area that does not sign off (a village) or a province with no closed month yet.
    """
    if not (area.is_province or area.is_commune):
        return None
    month = month or sign_off_month(area, period)
    if month is None:
        return None
    on = today()
    province_id = area.province_id or area.pk
    rows = {
        r.area_id: r
        for r in MonthApproval.objects.filter(province_id=province_id, month=month).select_related(
            "submitted_by", "decided_by"
        )
    }
    own = _entry(area, month, rows.get(area.pk), on)
    communes: list[AreaSignOff] = []
    if area.is_province:
        scope = scope_for(user)
        children = scope.filter_areas(
            Area.objects.filter(province_id=province_id, kind__in=COMMUNE_KINDS, is_active=True)
        ).order_by("path")
        communes = [_entry(c, month, rows.get(c.pk), on) for c in children]
    return MonthSignOff(month=month, own=own, communes=communes)



# --- the province's month report, from approved values -----------------------------------------


def _value_rows(month: date, areas: list[Area]) -> list[IndicatorValue]:
    return list(
        IndicatorValue.objects.filter(area__in=areas, period_kind=PeriodKind.MONTH, period_start=month)
        .select_related("area", "indicator")
        .order_by("area__path", "indicator__sort_order", "indicator__code")
    )


def month_report(*, user: User, area: Area, month: date) -> ReportDocument:
    """A province's (or commune's) report of a closed ``month`` from its approved values only.

    The values of the communes whose month is approved, their sum per computed indicator (the
    province's figure from approved values), and the communes not approved with their status.
    Refused (``out_of_scope``) for an area the user may not see, (``read_only``) for a user who sees
    it only through a team (an office's report: officers and viewers), and (``month_open``) for a
    month not closed yet.
    """
    ensure_area_staff(user, area, field="area")
    month = month.replace(day=1)
    if not (area.is_province or area.is_commune):
        raise field_error("area", _("Only a commune or a province signs off a month."), code="not_signing_area")
    closed = last_closed_month(area.province_id or area.pk)
    if closed is None or month > closed:
        raise field_error("month", _("This month is not closed yet."), code="month_open")
    sign_off = month_sign_off(user=user, area=area, month=month)
    if sign_off is None:
        raise field_error("area", _("Only a commune or a province signs off a month."), code="not_signing_area")
    signing = sign_off.communes if area.is_province else [sign_off.own] if sign_off.own else []
    approved = [c.area for c in signing if c.status == ApprovalStatus.APPROVED]
    values = _value_rows(month, approved)
    columns = [
        Column(_("Area code")),
        Column(_("Area"), width=28),
        Column(_("Indicator code"), width=24),
        Column(_("Indicator"), width=40),
        Column(_("Numerator"), "int"),
        Column(_("Denominator"), "int"),
        Column(_("Value"), "number"),
    ]
    approved_table = Table(
        sheet=str(_("Approved values")),
        title=str(_("Values of the communes whose month is approved")),
        columns=columns,
        rows=[
            [v.area.code, v.area.name, v.indicator.code, v.indicator.name, v.numerator, v.denominator, v.value]
            for v in values
        ],
        empty_note=str(_("No commune's month is approved yet.")),
    )
    sums: dict[int, list[Any]] = {}
    for v in values:
        if v.denominator is None:
            continue  # a reported value is not summed
        cell = sums.setdefault(v.indicator_id, [v.indicator, 0, 0])
        cell[1] += v.numerator or 0
        cell[2] += v.denominator
    total_table = Table(
        sheet=str(_("Total")),
        title=str(_("Sum over the approved communes")),
        columns=[c for i, c in enumerate(columns) if i >= 2],
        rows=[
            [
                ind.code,
                ind.name,
                num,
                den,
                (Decimal(num) * 100 / Decimal(den)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP) if den else None,
            ]
            for ind, num, den in sums.values()
        ],
    )
    missing = Table(
        sheet=str(_("Not approved")),
        title=str(_("Communes whose month is not approved: their values are not in this report")),
        columns=[Column(_("Area code")), Column(_("Area"), width=28), Column(_("Status")), Column(_("Late"))],
        rows=[[c.area.code, c.area.name, c.label, str(_("Late")) if c.late else ""] for c in signing if c.status != ApprovalStatus.APPROVED],
        empty_note=str(_("Every commune's month is approved.")),
    )
    return ReportDocument(
        title=_("Month %(month)s report: %(area)s (%(code)s), from approved values")
        % {"month": sign_off.month_label, "area": area.name, "code": area.code},
        subtitle=_("Approved: %(approved)d of %(total)d communes.") % {"approved": len(approved), "total": len(signing)},
        filename_stem=file_stem(_("month report"), area.code, sign_off.month_label.replace("/", "-")),
        tables=[approved_table, total_table, missing],
    )
