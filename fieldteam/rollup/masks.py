"""The capability masks checked against the adoption rows they summarise.

Every write keeps a subject's ``capability_mask`` (one bit per capability held) equal to its open
adoptions, and the counts and the logging path trust the mask (a log reads open adoptions only
for the capabilities the mask says are held). This weekly check is the safety net: it recomputes
each mask from the open adoptions of the province, rewrites those that differ and reports them.
The caller then recomputes the province's counts, which are derived from the masks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import BigIntegerField, Case, F, Sum, Value, When

from fieldteam import locks
from fieldteam.choices import ResidentStatus
from fieldteam.models import Adoption, Capability, Household, Resident
from fieldteam.rollup.derivations import load_derivations

logger = logging.getLogger(__name__)

CHUNK = 5000


@dataclass(frozen=True)
class MaskRepair:
    kind: str  # "resident", "household" or "household_derived" (its holdings through members)
    subject_id: int
    stored: int
    expected: int


def _expected_masks(province_id: int, field: str) -> dict[int, int]:
    """Subject id → the OR of the bits of its open adoptions (a sum: one open adoption per bit)."""
    bits = [When(capability_id=pk, then=Value(mask)) for pk, mask in _capability_masks().items()]
    if not bits:
        return {}
    rows = (
        Adoption.objects.filter(province_id=province_id, ended_on__isnull=True, **{f"{field}__isnull": False})
        .values(field)
        .annotate(mask=Sum(Case(*bits, default=Value(0), output_field=BigIntegerField())))
        .values_list(field, "mask")
    )
    return dict(rows)


def _repair_derived_masks(province_id: int) -> list[MaskRepair]:
    """The households' holdings through members (``derived_mask``) recomputed from the members' masks.

    Run after the members' masks are repaired, under the same lock.
    """
    derivations = load_derivations()
    members: dict[int, list[int]] = {}
    if derivations.members:
        rows = (
            Resident.objects.filter(province_id=province_id, status=ResidentStatus.ACTIVE)
            .annotate(_sources=F("capability_mask").bitand(derivations.member_sources))
            .exclude(_sources=0)
            .values_list("household_id", "capability_mask")
        )
        for household_id, mask in rows.iterator(chunk_size=CHUNK):
            members.setdefault(household_id, []).append(mask)
    repaired = []
    stored = Household.objects.filter(province_id=province_id).values_list("pk", "derived_mask")
    for pk, derived in stored.iterator(chunk_size=CHUNK):
        should_be = derivations.from_members(members.get(pk, ()))
        if derived != should_be:
            repaired.append(MaskRepair("household_derived", pk, derived, should_be))
    for repair in repaired:
        Household.objects.filter(pk=repair.subject_id).update(derived_mask=repair.expected)
    return repaired


def _capability_masks() -> dict[int, int]:
    return {capability.pk: capability.mask for capability in Capability.objects.all()}


@transaction.atomic
def repair_capability_masks(*, province_id: int) -> list[MaskRepair]:
    """Rewrite the residents' and households' masks of a province that differ from their open adoptions.

    Holds the province's counts lock exclusively, so no write changes adoptions meanwhile.
    Returns what was repaired (nothing, normally); recompute the province's counts afterwards.
    """
    locks.province_counts_exclusive(province_id)
    repaired: list[MaskRepair] = []
    for model, field in ((Resident, "resident"), (Household, "household")):
        expected = _expected_masks(province_id, field)
        stored = model.objects.filter(province_id=province_id).values_list("pk", "capability_mask")
        for pk, mask in stored.iterator(chunk_size=CHUNK):
            should_be = expected.get(pk, 0)
            if mask != should_be:
                repaired.append(MaskRepair(field, pk, mask, should_be))
    for repair in repaired:
        model = Resident if repair.kind == "resident" else Household
        model.objects.filter(pk=repair.subject_id).update(capability_mask=repair.expected)
    repaired += _repair_derived_masks(province_id)
    if repaired:
        logger.warning(
            "capability masks out of step with adoptions in province %s: %d repaired, e.g. %s",
            province_id,
            len(repaired),
            repaired[:5],
        )
    return repaired
