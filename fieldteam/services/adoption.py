"""The one write path of adoption state: ``set_adoption`` and ``clear_adoption``.

Nothing else changes ``Adoption`` rows or a subject's ``capability_mask``. Each call, in one
transaction: locks the subject row (two members logging the same person queue on that person,
not on the village or province), writes the adoption, updates the mask, and moves the village
counts by the difference (``fieldteam.services.counting``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AdoptionSource, CapabilitySubject
from fieldteam.errors import field_error
from fieldteam.models import Adoption, AssistanceLog, Capability, Household, Resident, User
from fieldteam.periods import today
from fieldteam.services.counting import adjust_counts, household_facts, resident_facts
from fieldteam.services.people import ensure_area_in_scope


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
    return Household.objects.select_for_update().get(pk=household.pk)  # type: ignore[union-attr]


def _adjust(subject: Resident | Household, old_mask: int) -> None:
    """Move the counts from the subject with ``old_mask`` to the subject as it is now."""
    if isinstance(subject, Resident):
        after = resident_facts(subject)
        adjust_counts(subject.province_id, residents=[(replace(after, capability_mask=old_mask), after)])
    else:
        after_h = household_facts(subject)
        adjust_counts(subject.province_id, households=[(replace(after_h, capability_mask=old_mask), after_h)])


def _open_adoptions(capability: Capability, subject: Resident | Household):  # type: ignore[no-untyped-def]
    field = "resident" if isinstance(subject, Resident) else "household"
    return Adoption.objects.filter(capability=capability, ended_on__isnull=True, **{field: subject})


@transaction.atomic
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
    subject = _lock_subject(capability, resident, household)
    if actor is not None:  # the system itself (actor=None) needs no scope check, nor the village row
        ensure_area_in_scope(actor, subject.village, field="resident" if resident else "household")
    if not capability.is_active:
        raise field_error("capability", _("This capability is no longer in use."), code="inactive")
    if since > today():
        raise field_error("since", _("The date is in the future."), code="future")
    if source not in AdoptionSource.values:
        raise field_error("source", _("Unknown source."), code="invalid_choice")
    existing = _open_adoptions(capability, subject).first()
    if existing is not None:
        if since < existing.since:
            existing.since = since
            existing.save(update_fields=["since"])
        return existing
    adoption = Adoption.objects.create(
        province_id=subject.province_id,
        capability=capability,
        resident=subject if isinstance(subject, Resident) else None,
        household=subject if isinstance(subject, Household) else None,
        since=since,
        source=source,
        assistance_log=assistance_log,
        recorded_by=actor,
    )
    old_mask = subject.capability_mask
    subject.capability_mask = old_mask | capability.mask
    if subject.capability_mask != old_mask:
        subject.save(update_fields=["capability_mask"])
        _adjust(subject, old_mask)
    return adoption


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
        ensure_area_in_scope(actor, subject.village, field="resident" if resident else "household")
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
