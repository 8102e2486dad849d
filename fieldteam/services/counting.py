"""Writes that change what the counts count: a province's population bounds and the capability derivations.

Both are read by the counting rules (``fieldteam.rollup.rules.load_rules``), and a change to
either moves the rules version on (a trigger, migration 0019), so every write after the commit
counts by the new rules. The counts already stored were counted by the old ones: each service
queues, after its commit, what rebuilds them, as the admin does for a changed indicator
(``IndicatorAdmin.save_model``):

- a province's bound: a recompute of that province (``tasks.recompute_province``);
- a derivation: in every province, the households' holdings through members (``derived_mask``)
  brought in step by the mask repair, then a recompute (``tasks.check_capability_masks`` with
  ``recompute_anyway``), one task per province so that the two never race.

Each service checks who may first (``fieldteam.permissions``), validates, and writes in one
transaction; bad input is a ``ValidationError`` naming the field, and nothing is saved.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PROVINCE_KINDS, CapabilitySubject, DerivationKind, PopulationKind
from fieldteam.errors import field_error
from fieldteam.models import Area, Capability, CapabilityDerivation, Indicator, IndicatorPopulationBound, User
from fieldteam.permissions import ensure_officer, ensure_superuser
from fieldteam.services import jobs

MAX_AGE_YEARS = 120
BOUNDS_REFUSED = _("Only the province officer of this province sets its population bounds.")
DERIVATIONS_REFUSED = _("Only a system administrator changes the capability derivations.")


def _recount_province(province_id: int) -> None:
    jobs.enqueue_on_commit("fieldteam.tasks.recompute_province", province_id)


def _recount_everywhere() -> None:
    jobs.enqueue_on_commit("fieldteam.tasks.check_all_capability_masks", recompute_anyway=True)


# --- a province's population bounds -------------------------------------------------------------


def _checked_age(field: str, value: int | None) -> int | None:
    if value is None:
        return None
    if not 0 <= value <= MAX_AGE_YEARS:
        raise field_error(
            field, _("Enter an age from 0 to %(max)d years."), code="range", params={"max": MAX_AGE_YEARS}
        )
    return value


@transaction.atomic
def set_population_bound(
    *,
    actor: User | None,
    province: Area,
    indicator: Indicator,
    min_age: int | None,
    max_age: int | None,
    source: str = "",
    bound: IndicatorPopulationBound | None = None,
) -> IndicatorPopulationBound:
    """Set a province's own age bounds for an indicator's population: change ``bound``, or add one when ``None``.

    Only a province officer of ``province`` (of the bound's old province too, for a change) or a
    superuser (``actor=None``: the system). The indicator must be computed among residents (a
    household has no age); ages from 0 to 120, the minimum not above the maximum, at least one of
    them; a working-age indicator takes a minimum only (its upper bound is the retirement age);
    one bound per province and indicator. Refused with a ``ValidationError`` naming the field,
    nothing saved. After the commit the province's counts are recomputed by the new bounds.
    """
    ensure_officer(actor, province, field="province", message=BOUNDS_REFUSED)
    stored = None
    if bound is not None and bound.pk is not None:
        stored = IndicatorPopulationBound.objects.select_for_update().select_related("province").get(pk=bound.pk)
        ensure_officer(actor, stored.province, field="province", message=BOUNDS_REFUSED)
    if province.kind not in PROVINCE_KINDS:
        raise field_error(
            "province", _("%(area)s is not a province."), code="not_a_province", params={"area": province.name}
        )
    if not indicator.is_computed or indicator.population == PopulationKind.HOUSEHOLDS:
        raise field_error(
            "indicator", _("Only an indicator counted among residents has age bounds."), code="not_residents"
        )
    min_age, max_age = _checked_age("min_age", min_age), _checked_age("max_age", max_age)
    if indicator.population == PopulationKind.WORKING_AGE and max_age is not None:
        raise field_error(
            "max_age",
            _("Working age ends at the retirement age: leave the maximum age empty."),
            code="working_age_maximum",
        )
    if min_age is None and max_age is None:
        raise field_error("min_age", _("Enter a minimum or a maximum age."), code="required")
    if min_age is not None and max_age is not None and min_age > max_age:
        raise field_error("max_age", _("The maximum age cannot be below the minimum age."), code="order")
    taken = IndicatorPopulationBound.objects.filter(province=province, indicator=indicator)
    if stored is not None:
        taken = taken.exclude(pk=stored.pk)
    if taken.exists():
        raise field_error(
            "indicator", _("This province already has bounds for this indicator: change those."), code="duplicate"
        )
    row = stored or IndicatorPopulationBound()
    old_province_id = row.province_id if stored is not None else None
    row.province, row.indicator, row.min_age, row.max_age = province, indicator, min_age, max_age
    row.source = (source or "").strip()
    row.full_clean(validate_unique=False)
    row.save()
    _recount_province(province.pk)
    if old_province_id is not None and old_province_id != province.pk:
        _recount_province(old_province_id)
    return row


@transaction.atomic
def delete_population_bound(*, actor: User | None, bound: IndicatorPopulationBound) -> None:
    """Remove a province's bounds for an indicator: the indicator's own apply there again (recounted after commit).

    The same officers as ``set_population_bound``.
    """
    row = IndicatorPopulationBound.objects.select_for_update().select_related("province").get(pk=bound.pk)
    ensure_officer(actor, row.province, field="province", message=BOUNDS_REFUSED)
    row.delete()
    _recount_province(row.province_id)


# --- the capability derivations -------------------------------------------------------------------


def _implied_from(capability_id: int, *, without: int | None) -> set[int]:
    """Every capability that ``capability_id`` implies, through the ``implies`` rules (but ``without``)."""
    edges: dict[int, set[int]] = {}
    rows = CapabilityDerivation.objects.filter(kind=DerivationKind.IMPLIES)
    if without is not None:
        rows = rows.exclude(pk=without)
    for source_id, target_id in rows.values_list("source_id", "target_id"):
        edges.setdefault(source_id, set()).add(target_id)
    reached: set[int] = set()
    todo = [capability_id]
    while todo:
        for target_id in edges.get(todo.pop(), set()) - reached:
            reached.add(target_id)
            todo.append(target_id)
    return reached


@transaction.atomic
def set_capability_derivation(
    *,
    actor: User | None,
    kind: str,
    source: Capability,
    target: Capability,
    derivation: CapabilityDerivation | None = None,
) -> CapabilityDerivation:
    """Add a derivation rule to the catalogue (``derivation=None``), or change ``derivation``.

    National reference data: superusers only (``actor=None``: the system). ``any_member`` derives
    a household capability from a resident one; ``implies`` links two capabilities of the same
    kind of holder, never in a circle; one rule per pair. Refused with a ``ValidationError``
    naming the field, nothing saved. After the commit every province's derived holdings are
    repaired and its counts recomputed.
    """
    ensure_superuser(actor, field="kind", message=DERIVATIONS_REFUSED)
    stored = None
    if derivation is not None and derivation.pk is not None:
        stored = CapabilityDerivation.objects.select_for_update().get(pk=derivation.pk)
    if kind not in DerivationKind.values:
        raise field_error("kind", _("Choose how the capability is derived."), code="invalid_kind")
    if source.pk == target.pk:
        raise field_error("target", _("A capability cannot be derived from itself."), code="itself")
    if kind == DerivationKind.ANY_MEMBER:
        if source.subject != CapabilitySubject.RESIDENT:
            raise field_error(
                "source", _("“Any member” derives from a capability a resident holds."), code="not_resident"
            )
        if target.subject != CapabilitySubject.HOUSEHOLD:
            raise field_error(
                "target", _("“Any member” derives a capability a household holds."), code="not_household"
            )
    elif source.subject != target.subject:
        raise field_error(
            "target", _("“Implies” links two capabilities held by the same kind of subject."), code="other_subject"
        )
    if kind == DerivationKind.IMPLIES and source.pk in _implied_from(
        target.pk, without=stored.pk if stored is not None else None
    ):
        raise field_error(
            "target",
            _("%(target)s already implies %(source)s: the rules would go round in a circle."),
            code="circle",
            params={"target": target.name, "source": source.name},
        )
    taken = CapabilityDerivation.objects.filter(source=source, target=target)
    if stored is not None:
        taken = taken.exclude(pk=stored.pk)
    if taken.exists():
        raise field_error("target", _("There is already a rule for these two capabilities."), code="duplicate")
    row = stored or CapabilityDerivation()
    row.kind, row.source, row.target = kind, source, target
    row.full_clean(validate_unique=False)
    row.save()
    _recount_everywhere()
    return row


@transaction.atomic
def delete_capability_derivation(*, actor: User | None, derivation: CapabilityDerivation) -> None:
    """Remove a derivation rule: nothing is held through it any more (repaired and recounted after commit)."""
    ensure_superuser(actor, field="kind", message=DERIVATIONS_REFUSED)
    CapabilityDerivation.objects.select_for_update().get(pk=derivation.pk).delete()
    _recount_everywhere()
