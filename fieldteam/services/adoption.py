"""The one write path of adoption state: ``set_adoption`` (``set_adoptions``) and ``clear_adoption``.

Nothing else changes ``Adoption`` rows or a subject's ``capability_mask``. Each call, in one
transaction: locks the subject row (two members logging the same person queue on that person,
not on the village or province), writes the adoption, updates the mask, and moves the village
counts by the difference (``fieldteam.rollup.rules``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import cast

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.choices import AdoptionSource, CapabilitySubject, ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import Adoption, AssistanceLog, AuditEntry, Capability, Household, Resident, User
from fieldteam.periods import today
from fieldteam.permissions import ensure_can_write
from fieldteam.rollup.derivations import Derivations, HouseholdChange, gain_from_member, refresh_households
from fieldteam.rollup.rules import adjust_counts, derived_change, household_facts, resident_facts, rules_for_writes


def _lock_subject(
    capability: Capability, resident: Resident | None, household: Household | None
) -> Resident | Household:
    if (resident is None) == (household is None):
        raise field_error("resident", _("Give either a resident or a household."), code="one_subject")
    if resident is not None:
        if capability.subject != CapabilitySubject.RESIDENT:
            raise field_error("capability", _("This capability is held by households, not residents."), code="subject")
        return Resident.objects.select_for_update().get(pk=resident.pk)
    if capability.subject != CapabilitySubject.HOUSEHOLD:
        raise field_error("capability", _("This capability is held by residents, not households."), code="subject")
    assert household is not None  # noqa: S101 - exactly one of the two was checked to be given
    return Household.objects.select_for_update().get(pk=household.pk)


def _adjust(subject: Resident | Household, old_mask: int, *, write_mask: bool = False) -> None:
    """Move the counts from the subject with ``old_mask`` to the subject as it is now.

    ``write_mask``: the subject's new ``capability_mask`` is not saved yet; write it with the counts.
    A resident's change reaches their household when it holds something through them
    (``derivations``: a member's smartphone), in the same move of the counts.
    """
    mask = (type(subject), subject.pk, subject.capability_mask) if write_mask else None
    rules = rules_for_writes(subject.province_id)
    if isinstance(subject, Resident):
        after = resident_facts(subject)
        adjust_counts(
            subject.province_id,
            residents=[(replace(after, capability_mask=old_mask), after)],
            households=[derived_change(change) for change in _household_changes(rules.derivations, subject, old_mask)],
            rules=rules,
            mask=mask,
        )
    else:
        after_h = household_facts(subject)
        # Its holdings through members (``derived_mask``) are the same before and after.
        before_h = replace(after_h, capability_mask=old_mask | subject.derived_mask)
        adjust_counts(subject.province_id, households=[(before_h, after_h)], rules=rules, mask=mask)


def _household_changes(derivations: Derivations, resident: Resident, old_mask: int) -> list[HouseholdChange]:
    """The resident's household's ``derived_mask`` brought in step with the resident's new holdings.

    Nothing when the change touches no "any member" rule or the resident is not counted; a gain
    only adds (no other member to read), a loss asks the other members.
    """
    changed = old_mask ^ resident.capability_mask
    if not changed & derivations.member_sources or resident.status != ResidentStatus.ACTIVE:
        return []
    if resident.capability_mask & changed == changed:
        gained = gain_from_member(derivations, resident.household_id, resident.capability_mask)
        return [gained] if gained is not None else []
    return refresh_households(derivations, [resident.household_id])


def _open_adoptions(capability: Capability, subject: Resident | Household) -> QuerySet[Adoption]:
    field = "resident" if isinstance(subject, Resident) else "household"
    return Adoption.objects.filter(capability=capability, ended_on__isnull=True, **{field: subject})


def _subject_kind_error(capability: Capability, subject: Resident | Household) -> None:
    if isinstance(subject, Resident):
        if capability.subject != CapabilitySubject.RESIDENT:
            raise field_error("capability", _("This capability is held by households, not residents."), code="subject")
    elif capability.subject != CapabilitySubject.HOUSEHOLD:
        raise field_error("capability", _("This capability is held by residents, not households."), code="subject")


def _lock_and_check(
    actor: User | None,
    subject: Resident | Household,
    capabilities: list[Capability],
    since: date,
    source: str,
    *,
    already_locked: bool = False,
) -> Resident | Household:
    """Lock the subject and check, in the order ``set_adoption`` per capability would (same first error).

    ``already_locked``: the caller read ``subject`` (with its village) under ``SELECT … FOR UPDATE``
    in this transaction, so it is current and is used as it is.
    """
    is_resident = isinstance(subject, Resident)
    model = Resident if is_resident else Household
    locked: Resident | Household | None = None
    for position, capability in enumerate(capabilities):
        _subject_kind_error(capability, subject)
        if locked is None:
            if already_locked:
                locked = subject
            else:
                rows = model.objects.select_for_update(of=("self",))  # the subject only, never its village
                if actor is not None:  # the system itself (actor=None) needs no scope check, nor the village row
                    rows = rows.select_related("village")
                locked = rows.get(pk=subject.pk)
            if actor is not None:
                ensure_can_write(actor, locked.village, field="resident" if is_resident else "household")
        if not capability.is_active:
            raise field_error("capability", _("This capability is no longer in use."), code="inactive")
        if position == 0:
            if since > today():
                raise field_error("since", _("The date is in the future."), code="future")
            if source not in AdoptionSource.values:
                raise field_error("source", _("Unknown source."), code="invalid_choice")
    assert locked is not None  # noqa: S101 - capabilities is not empty
    return locked


@transaction.atomic
def set_adoptions(
    *,
    actor: User | None,
    subject: Resident | Household,
    capabilities: Sequence[Capability],
    since: date,
    source: str,
    assistance_log: AssistanceLog | None = None,
    subject_locked: bool = False,
) -> list[Adoption]:
    """``set_adoption`` of each of ``capabilities`` for one subject, in a fixed number of queries.

    The same result, and the same first error, as calling ``set_adoption`` per capability in
    order (idempotent; an earlier ``since`` moves an open adoption's start back; a capability
    given twice yields the same adoption twice), but with one lock of the subject (its village
    read with it), one read of its open adoptions, one insert, one mask update and one move of
    the counts. Returns the adoptions in the order of ``capabilities``. Raises ``ValidationError``
    naming the field. One transaction (a savepoint inside another); ``create_log`` runs it in the
    log's transaction without a savepoint (``transactions.in_callers_transaction``).
    ``subject_locked``: the caller already holds the subject's row lock and read it after taking it
    (sync's log path), which spares the lock query.
    """
    if not isinstance(subject, (Resident, Household)):
        raise field_error("resident", _("Give either a resident or a household."), code="one_subject")
    capabilities = list(capabilities)
    if not capabilities:
        return []
    locked = _lock_and_check(actor, subject, capabilities, since, source, already_locked=subject_locked)
    is_resident = isinstance(locked, Resident)
    field = "resident" if is_resident else "household"
    wanted = {capability.pk: capability for capability in capabilities}
    # At most one open adoption per subject and capability (a unique constraint), and the locked
    # row's mask has the bit of exactly those held (kept so by this module, as the imports rely on
    # too): only capabilities already held need their open adoption read (to move ``since`` back).
    held = [pk for pk, capability in wanted.items() if locked.capability_mask & capability.mask]
    existing = (
        {
            adoption.capability_id: adoption
            for adoption in Adoption.objects.filter(capability__in=held, ended_on__isnull=True, **{field: locked})
        }
        if held
        else {}
    )
    moved_back = [adoption for adoption in existing.values() if since < adoption.since]
    for adoption in moved_back:
        adoption.since = since
    if moved_back:
        Adoption.objects.bulk_update(moved_back, ["since"])
        audit.record_bulk(moved_back, action=AuditEntry.Action.UPDATE, fields=["since"])
    resident = locked if isinstance(locked, Resident) else None
    household = None if isinstance(locked, Resident) else locked
    new_rows = [
        Adoption(
            province_id=locked.province_id,
            capability=capability,
            resident=resident,
            household=household,
            since=since,
            source=source,
            assistance_log=assistance_log,
            recorded_by=actor,
        )
        for pk, capability in wanted.items()
        if pk not in existing
    ]
    if new_rows:
        Adoption.objects.bulk_create(new_rows)
        audit.record_bulk(new_rows, action=AuditEntry.Action.CREATE)
        old_mask = locked.capability_mask
        for adoption in new_rows:
            existing[adoption.capability_id] = adoption
            locked.capability_mask |= adoption.capability.mask
        if locked.capability_mask != old_mask:
            # A derived column, not audited: an UPDATE without the trail's signal (and its extra
            # read), in the same statement as the counts.
            _adjust(locked, old_mask, write_mask=True)
    return [existing[capability.pk] for capability in capabilities]


def set_adoption(
    *,
    actor: User | None,
    capability: Capability,
    since: date,
    source: str,
    resident: Resident | None = None,
    household: Household | None = None,
    assistance_log: AssistanceLog | None = None,
) -> Adoption:
    """Record that the subject holds ``capability`` since ``since``; idempotent.

    If the subject already holds it, nothing is counted again; an earlier ``since`` moves the
    start back (the earliest evidence wins). Raises ``ValidationError`` naming the field.
    """
    if (resident is None) == (household is None):
        raise field_error("resident", _("Give either a resident or a household."), code="one_subject")
    # Exactly one of the two was checked to be given.
    subject = cast("Resident | Household", resident if resident is not None else household)
    return set_adoptions(
        actor=actor,
        subject=subject,
        capabilities=[capability],
        since=since,
        source=source,
        assistance_log=assistance_log,
    )[0]


@transaction.atomic
def clear_adoption(
    *,
    actor: User | None,
    capability: Capability,
    on: date,
    resident: Resident | None = None,
    household: Household | None = None,
) -> Adoption | None:
    """End the subject's open adoption of ``capability`` on ``on``; ``None`` if it held none."""
    subject = _lock_subject(capability, resident, household)
    if actor is not None:
        ensure_can_write(actor, subject.village, field="resident" if resident else "household")
    if on > today():
        raise field_error("on", _("The date is in the future."), code="future")
    adoption = _open_adoptions(capability, subject).first()
    if adoption is None:
        return None
    if on < adoption.since:
        raise field_error("on", _("The end date is before the adoption began."), code="before_since")
    adoption.ended_on = on
    adoption.save(update_fields=["ended_on"])
    old_mask = subject.capability_mask
    subject.capability_mask = old_mask & ~capability.mask
    if subject.capability_mask != old_mask:
        subject.save(update_fields=["capability_mask"])
        _adjust(subject, old_mask)
    return adoption
