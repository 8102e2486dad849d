"""Derived holdings: the catalogue's derivation rules, and the households' ``derived_mask`` kept by them.

Two kinds of rule (``CapabilityDerivation``):

- ``implies`` (X implies Y): whoever holds X holds Y. Nothing is stored for it: a rule counting Y
  tests the bits of Y *and* of everything that implies it (``Derivations.holders``), so the counts,
  the recompute and the one-statement log need no other change, and a subject's
  ``capability_mask`` stays exactly its open adoptions.
- ``any_member`` (a household holds Y while any current member holds X): stored in
  ``Household.derived_mask`` (Y's bit), which every write that changes a member's holdings,
  status or household keeps (``refresh_households``, ``gain_from_member``), and
  ``fieldteam.rollup.masks`` repairs with the capability masks. A household's holdings for
  counting are ``capability_mask | derived_mask`` (``rules.household_facts``).

Derived holdings are never adoptions: no one logged them, and the pages that list a subject's
capabilities show them apart (``implied_by``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connections, router
from django.db.models import Exists, F, OuterRef

from fieldteam.choices import DerivationKind, ResidentStatus
from fieldteam.models import Capability, CapabilityDerivation, Household, Resident


@dataclass(frozen=True)
class MemberRule:
    """A household holds ``target_bit`` while an active member's ``capability_mask`` meets ``source_mask``."""

    target_bit: int
    source_mask: int


@dataclass(frozen=True)
class Derivations:
    """The catalogue's derivation rules as bit masks."""

    # bit mask of a capability -> the bits whose holding means holding it (itself included)
    implied: tuple[tuple[int, int], ...] = ()
    members: tuple[MemberRule, ...] = ()

    def holders(self, bit_mask: int) -> int:
        """The bits whose holding counts as holding ``bit_mask``'s capability (``bit_mask`` itself included)."""
        for target, sources in self.implied:
            if target == bit_mask:
                return sources
        return bit_mask

    def closure(self, mask: int) -> int:
        """Everything a subject holding ``mask`` holds, ``implies`` rules applied."""
        held = mask
        for target, sources in self.implied:
            if mask & sources:
                held |= target
        return held

    @property
    def member_sources(self) -> int:
        """The resident bits some household's holding depends on."""
        mask = 0
        for rule in self.members:
            mask |= rule.source_mask
        return mask

    def from_members(self, member_masks: Iterable[int]) -> int:
        """The ``derived_mask`` of a household whose active members hold ``member_masks``."""
        combined = 0
        for mask in member_masks:
            combined |= mask
        derived = 0
        for rule in self.members:
            if combined & rule.source_mask:
                derived |= rule.target_bit
        return derived


def load_derivations() -> Derivations:
    """The derivation rules of the active capabilities (``implies`` taken transitively)."""
    rows = list(
        CapabilityDerivation.objects.filter(source__is_active=True, target__is_active=True).values_list(
            "kind", "source__bit", "target__bit"
        )
    )
    sources_of: dict[int, int] = {}
    for kind, source, target in rows:
        if kind == DerivationKind.IMPLIES:
            sources_of[1 << target] = sources_of.get(1 << target, 1 << target) | (1 << source)
    # X implies Y implies Z: whoever holds X holds Z. A few rules: iterate to the fixed point.
    changed = True
    while changed:
        changed = False
        for target, sources in list(sources_of.items()):
            wider = sources
            for other, other_sources in sources_of.items():
                if other != target and sources & other:
                    wider |= other_sources
            if wider != sources:
                sources_of[target] = wider
                changed = True
    members = tuple(
        MemberRule(1 << target, sources_of.get(1 << source, 1 << source))
        for kind, source, target in sorted(rows)
        if kind == DerivationKind.ANY_MEMBER
    )
    return Derivations(tuple(sorted(sources_of.items())), members)


def implied_by(mask: int, subject: str, derived_mask: int = 0) -> list[tuple[Capability, list[Capability]]]:
    """The capabilities a subject holds without an adoption of them, each with what it holds them through.

    ``mask``: its ``capability_mask`` (adoptions); ``derived_mask``: a household's holdings through
    its members (the source is then the member rule's capability). For the pages that list holdings.
    """
    derivations = load_derivations()
    by_bit = {c.mask: c for c in Capability.objects.filter(subject=subject)}
    all_by_bit = {c.mask: c for c in Capability.objects.all()}
    held = derivations.closure(mask | derived_mask)
    result = []
    for bit, capability in sorted(by_bit.items(), key=lambda item: (item[1].sort_order, item[1].code)):
        if mask & bit or not held & bit:
            continue
        through = [all_by_bit[b] for b in _bits(derivations.holders(bit) & (mask | derived_mask)) if b != bit]
        for rule in derivations.members:
            if rule.target_bit == bit and derived_mask & bit:
                through += [all_by_bit[b] for b in _bits(rule.source_mask) if b in all_by_bit]
        result.append((capability, through))
    return result


def _bits(mask: int) -> list[int]:
    return [1 << position for position in range(mask.bit_length()) if mask >> position & 1]


def member_derived(derivations: Derivations, household_ids: Iterable[int]) -> dict[int, int]:
    """Household id → the ``derived_mask`` its active members give it now (one query).

    Read under the households' row locks (``refresh_households``): a member's adoption changes
    under the member's lock, then the household's, so a committed change is seen here.
    """
    ids = sorted(set(household_ids))
    if not ids or not derivations.members:
        return dict.fromkeys(ids, 0)
    annotations = {
        f"rule{position}": Exists(
            Resident.objects.filter(household_id=OuterRef("pk"), status=ResidentStatus.ACTIVE)
            .annotate(_held=F("capability_mask").bitand(rule.source_mask))
            .exclude(_held=0)
        )
        for position, rule in enumerate(derivations.members)
    }
    result = dict.fromkeys(ids, 0)
    for row in Household.objects.filter(pk__in=ids).annotate(**annotations).values("pk", *annotations):
        for position, rule in enumerate(derivations.members):
            if row[f"rule{position}"]:
                result[row["pk"]] |= rule.target_bit
    return result


HouseholdChange = tuple[Household, int]  # the household as locked (old masks), and its new derived_mask


def refresh_households(derivations: Derivations, household_ids: Iterable[int | None]) -> list[HouseholdChange]:
    """Lock the households (pk order) and bring each ``derived_mask`` to what its members give now.

    Writes the changed masks; returns (household as it was, new derived mask) for each change, for
    the caller to move the counts (``rules.household_facts`` before, ``with_derived`` after).
    Call after the members' rows are written, inside the transaction the caller holds.
    """
    ids = sorted({pk for pk in household_ids if pk is not None})
    if not ids or not derivations.members:
        return []
    locked = list(Household.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    fresh = member_derived(derivations, ids)
    changes = [(household, fresh[household.pk]) for household in locked if household.derived_mask != fresh[household.pk]]
    # One UPDATE per new value (a few), not one per household: a bulk import refreshes thousands.
    by_value: dict[int, list[int]] = {}
    for household, derived in changes:
        by_value.setdefault(derived, []).append(household.pk)
    for derived, pks in sorted(by_value.items()):
        for start in range(0, len(pks), _UPDATE_CHUNK):
            Household.objects.filter(pk__in=pks[start : start + _UPDATE_CHUNK]).update(derived_mask=derived)
    return changes


# Keeps each ``IN (...)`` of the updates under SQLite's bound-parameter limit.
_UPDATE_CHUNK = 500


def gain_from_member(derivations: Derivations, household_id: int, member_mask: int) -> HouseholdChange | None:
    """A member of the household now holds ``member_mask``: the household gains what it derives, if new.

    Only ever adds bits (a gain needs no other member read): on PostgreSQL one statement (lock,
    read and write when the household did not hold them yet), elsewhere a locking read and a
    write. ``None`` when nothing changes. Runs inside the transaction the caller holds (the member's).
    """
    gained = derivations.from_members([member_mask])
    if not gained:
        return None
    using = router.db_for_write(Household)
    if connections[using].vendor == "postgresql":
        # One statement: the row locked and its mask read (``FOR UPDATE`` in the ``FROM``, so
        # ``RETURNING`` gives the mask as it was), written only if the bits are new.
        table = Household._meta.db_table
        changed = list(
            Household.objects.raw(
                f"UPDATE {table} h SET derived_mask = o.derived_mask | %s "  # noqa: S608
                f"FROM (SELECT id, derived_mask FROM {table} WHERE id = %s FOR UPDATE) o "
                "WHERE h.id = o.id AND o.derived_mask & %s <> %s "
                "RETURNING h.id, h.village_id, h.is_active, h.capability_mask, o.derived_mask",
                [gained, household_id, gained, gained],
                using=using,
            )
        )
        return (changed[0], changed[0].derived_mask | gained) if changed else None
    household = Household.objects.select_for_update().get(pk=household_id)
    if household.derived_mask & gained == gained:
        return None
    Household.objects.filter(pk=household_id).update(derived_mask=household.derived_mask | gained)
    return household, household.derived_mask | gained
