"""Writes about indicators' figures: provincial targets and reported values.

Computed values belong to the roll-up (``fieldteam.rollup.recompute``); these are the figures people
enter. Each service checks first who may (``fieldteam.permissions``), then writes, in one
transaction; the audit trail records each row through django-auditlog.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.choices import IndicatorKind, PeriodKind, TargetComparison
from fieldteam.errors import field_error
from fieldteam.models import Area, AuditEntry, Indicator, IndicatorValue, Plan, PlanTarget, Target, User
from fieldteam.periods import Period, today
from fieldteam.permissions import ensure_can_write, ensure_officer, ensure_province_officer, province_of
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.rollup.sign_off import ensure_month_open

TARGETS_REFUSED = _("Only the province officer of this area sets its targets.")
VALUES_REFUSED = _("Only the province officer of this area reports its values.")


@transaction.atomic
def report_indicator_value(
    *, actor: User, indicator: Indicator, area: Area, period: Period, value: Decimal, note: str = ""
) -> IndicatorValue:
    """Enter (or correct) a reported indicator's value for an area and period, with who and when.

    Reported values are province-level figures (GRDP shares and the like): only an officer of the
    area's province (or a superuser) reports them, from the API, the admin or an import alike; a
    commune officer, a viewer or a team member is refused with ``read_only``. Raises
    ``ValidationError`` naming the field.
    """
    ensure_province_officer(actor, area, check=ensure_can_write, field="area", message=VALUES_REFUSED)
    if indicator.kind != IndicatorKind.REPORTED:
        raise field_error("indicator", _("This indicator is computed from household data."), code="computed")
    if value is None or value < 0:
        raise field_error("value", _("Enter a value of zero or more."), code="range")
    if indicator.unit == "%" and value > 100:
        raise field_error("value", _("A percentage cannot exceed 100."), code="range")
    if period.start > today():
        raise field_error("period", _("The period has not started yet."), code="future")
    ensure_month_open(area, period)
    if period.kind == PeriodKind.MONTH:
        MONTH_HISTORY.changed(area.province_id or area.pk)  # a month's value may be a series' first or its pace
    now: datetime = timezone.now()
    row, _created = IndicatorValue.objects.update_or_create(
        area=area,
        indicator=indicator,
        period_kind=period.kind,
        period_start=period.start,
        defaults={
            "province_id": area.province_id or area.pk,
            "value": value,
            "reported_by": actor,
            "reported_at": now,
            "note": note.strip(),
        },
    )
    return row


@transaction.atomic
def set_target(
    *,
    actor: User | None,
    indicator: Indicator,
    area: Area,
    year: int,
    value: Decimal,
    comparison: str = TargetComparison.AT_LEAST,
    source: str = "",
    target: Target | None = None,
    effective_from: date | None = None,
) -> Target:
    """Set an indicator's target for an area and year: change ``target``, or create one when it is ``None``.

    Only a province officer of the area's province (or a superuser; ``actor=None``: the system)
    sets targets: they are the province's plan (for a changed target, of its old area's too).
    ``effective_from`` empty keeps the date it had (today for a new one). Validated as the model says (``full_clean``);
    raises ``ValidationError`` naming the field, and nothing is saved.
    """
    ensure_can_write(actor, area, field="area")
    ensure_officer(actor, province_of(area), field="area", message=TARGETS_REFUSED)
    if target is not None and target.pk is not None:
        # The target as stored: the actor must be allowed where it is as well as where it goes.
        target = Target.objects.select_for_update().select_related("area").get(pk=target.pk)
        ensure_officer(actor, province_of(target.area), field="area", message=TARGETS_REFUSED)
    target = target or Target()
    target.indicator, target.area, target.year = indicator, area, year
    target.value, target.comparison, target.source = value, comparison, source
    # Empty: the date it had, or today for a new one.
    target.effective_from = effective_from or target.effective_from or today()
    target.full_clean(validate_unique=False)
    target.save()
    return target


@transaction.atomic
def delete_target(*, actor: User | None, target: Target) -> None:
    """Remove a target entered by mistake: the same officers as ``set_target`` (the area's province officers)."""
    row = Target.objects.select_for_update().select_related("area").get(pk=target.pk)
    ensure_can_write(actor, row.area, field="area")
    ensure_officer(actor, province_of(row.area), field="area", message=TARGETS_REFUSED)
    row.delete()


@dataclass
class PlanWrite:
    """What applying (or refreshing) a plan did to the ``Target`` rows."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0


@transaction.atomic
def apply_plan_targets(*, actor: User | None, plan: Plan, areas: Iterable[Area], effective_from: date) -> PlanWrite:
    """Set ``plan``'s targets on each of ``areas``, in force from ``effective_from``, in one transaction.

    Only a province officer of every area's province (or a superuser; ``actor=None``: the system),
    and only areas of the plan's own province. Each area gets one target per indicator and year of
    the plan (an existing target of the same indicator and year on that area is replaced); its
    other targets stay. The plan then covers the chosen areas and what lies below them: its targets
    on areas above them are removed (before the communes of a former province were told apart,
    the plan may have sat on the whole merged province), so the areas not chosen stop inheriting it.

    Refused, naming the field (``ValidationError``), with nothing saved: no such plan, no area, an
    area outside the actor's province or the plan's, a date before the plan's own, or a date before
    that of another plan already applied to one of the areas (a newer plan is replaced by a newer
    one only: see ``Target`` for which target is in force). Every row written is in the audit trail.
    """
    plan_row = _existing_plan(plan)
    chosen = list(Area.objects.filter(pk__in=[a.pk for a in areas]).order_by("path"))
    if not chosen:
        raise field_error("areas", _("Choose at least one area."), code="required")
    for area in chosen:
        ensure_can_write(actor, area, field="areas")
        ensure_officer(actor, province_of(area), field="areas", message=TARGETS_REFUSED)
    if plan_row is None:
        raise field_error("plan", _("No such plan."), code="unknown_plan")
    for area in chosen:
        if not area.path.startswith(plan_row.province.path):
            raise field_error(
                "areas",
                _("%(area)s is not in %(province)s, whose plan this is.")
                % {"area": area.name, "province": plan_row.province.name},
                code="other_province",
            )
    if effective_from is None:
        raise field_error("effective_from", _("Enter the date the plan is in force from."), code="required")
    if effective_from < plan_row.adopted_on:
        raise field_error(
            "effective_from",
            _("A plan is not in force before its own date, %(date)s.") % {"date": plan_row.adopted_on},
            code="before_plan",
        )
    newer = (
        Target.objects.filter(area__in=chosen, plan__isnull=False, effective_from__gt=effective_from)
        .exclude(plan=plan_row)
        .select_related("plan", "area")
        .order_by("-effective_from")
        .first()
    )
    if newer is not None:
        raise field_error(
            "effective_from",
            _("%(area)s holds the targets of %(plan)s from %(date)s: a plan in force from an earlier date cannot replace them.")
            % {"area": newer.area.name, "plan": newer.plan, "date": newer.effective_from},
            code="older_than_applied_plan",
        )
    plan_targets = list(plan_row.targets.select_related("indicator"))
    if not plan_targets:
        raise field_error("plan", _("This plan has no targets yet."), code="empty_plan")

    result = PlanWrite()
    with audit.collected():
        chosen_paths = {a.path for a in chosen}
        above = {p for a in chosen for p in Area.ancestor_paths(a.path)[:-1]} - chosen_paths
        for row in Target.objects.filter(plan=plan_row, area__path__in=above).select_related("area").order_by("pk"):
            row.delete()  # one at a time: each deletion is in the trail through django-auditlog
            result.removed += 1
        _write_plan_targets(plan_row, plan_targets, {a.pk: (a, effective_from) for a in chosen}, result)
    return result


@transaction.atomic
def refresh_plan_targets(*, actor: User | None, plan: Plan) -> PlanWrite:
    """Bring every area ``plan`` is applied to up to the plan's targets, each keeping its date.

    After the plan's own targets changed (a corrected value, a target added or dropped): values
    are rewritten, new targets added, and targets the plan no longer has removed from those areas.
    Same rights as ``apply_plan_targets``, for the areas the plan is applied to.
    """
    plan_row = _existing_plan(plan)
    if plan_row is None:
        raise field_error("plan", _("No such plan."), code="unknown_plan")
    applied: dict[int, tuple[Area, date]] = {}
    for row in Target.objects.filter(plan=plan_row).select_related("area").order_by("area__path", "effective_from"):
        applied.setdefault(row.area_id, (row.area, row.effective_from))
    for area, _since in applied.values():
        ensure_can_write(actor, area, field="plan")
        ensure_officer(actor, province_of(area), field="plan", message=TARGETS_REFUSED)
    plan_targets = list(plan_row.targets.select_related("indicator"))
    result = PlanWrite()
    with audit.collected():
        wanted = {(t.indicator_id, t.year) for t in plan_targets}
        for row in Target.objects.filter(plan=plan_row).select_related("area").order_by("pk"):
            if (row.indicator_id, row.year) not in wanted:
                row.delete()
                result.removed += 1
        _write_plan_targets(plan_row, plan_targets, applied, result)
    return result


def _existing_plan(plan: Plan | None) -> Plan | None:
    """The plan as stored (with its province), or ``None`` for a plan that is not (or no longer) there."""
    pk = getattr(plan, "pk", None)
    return None if pk is None else Plan.objects.select_related("province").filter(pk=pk).first()


def _write_plan_targets(
    plan: Plan, plan_targets: list[PlanTarget], areas: dict[int, tuple[Area, date]], result: PlanWrite
) -> None:
    """Upsert one ``Target`` per area and plan target: bulk writes, each row recorded in the trail."""
    existing = {
        (t.area_id, t.indicator_id, t.year): t
        for t in Target.objects.select_for_update()
        .filter(area__in=list(areas), indicator__in={t.indicator_id for t in plan_targets})
        .order_by("pk")
    }
    now = timezone.now()
    fields = ["value", "comparison", "source", "plan", "effective_from", "updated_at"]
    created: list[Target] = []
    updated: list[Target] = []
    for area_id, (area, since) in areas.items():
        for wanted in plan_targets:
            values = {
                "value": wanted.value,
                "comparison": wanted.comparison,
                "source": plan.name,
                "plan_id": plan.pk,
                "effective_from": since,
            }
            row = existing.get((area_id, wanted.indicator_id, wanted.year))
            if row is None:
                row = Target(indicator=wanted.indicator, area=area, year=wanted.year, updated_at=now, **values)
                created.append(row)
            elif any(getattr(row, name) != value for name, value in values.items()):
                for name, value in values.items():
                    setattr(row, name, value)
                row.area, row.updated_at = area, now
                updated.append(row)
            else:
                result.unchanged += 1
    # Signals do not fire for bulk writes: the trail records each row here, in this transaction.
    Target.objects.bulk_create(created)
    Target.objects.bulk_update(updated, fields)
    audit.record_bulk(created, action=AuditEntry.Action.CREATE)
    audit.record_bulk(updated, action=AuditEntry.Action.UPDATE, fields=fields)
    result.created += len(created)
    result.updated += len(updated)
