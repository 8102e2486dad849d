"""Merging duplicate residents: one person registered twice becomes one record with both histories."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.choices import ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import (
    Adoption,
    AssistanceLog,
    AuditEntry,
    Capability,
    ConsentRecord,
    Resident,
    TrainingAttendance,
    User,
)
from fieldteam.periods import today
from fieldteam.permissions import ensure_can_see, ensure_can_write, scope_for
from fieldteam.rollup.rules import adjust_counts, resident_facts


@transaction.atomic
def merge_residents(*, actor: User | None, keep: Resident, duplicate: Resident) -> Resident:
    """Merge ``duplicate`` into ``keep``; returns the kept resident.

    In one transaction, with both rows locked (pk order):

    - the duplicate's adoptions, assistance logs, training attendance and consent records move to
      the kept resident. Where both held the same capability, the kept open adoption starts at the
      earlier of the two dates and the duplicate's moves over closed on its own start date (kept as
      history, never counted twice); an attendance of a session both attended is kept once;
    - the kept resident takes the duplicate's citizen ID or phone where it has none; the merged
      record keeps neither (one copy of a person's identifiers, to export or erase);
    - the duplicate becomes ``merged`` (``merged_into`` the kept one, left on today), and records
      merged into it before now point at the kept one;
    - the kept resident's capability mask follows its open adoptions and the village counts move by
      the difference: the duplicate no longer counts, the kept one counts with what both held.

    Raises ``ValidationError`` naming the field: the same record twice, a record already merged,
    records of two provinces, or a record outside the actor's area.
    """
    if keep.pk == duplicate.pk:
        raise field_error("duplicate", _("Choose two different residents."), code="same_resident")
    locked = {
        r.pk: r for r in Resident.objects.select_for_update().filter(pk__in=[keep.pk, duplicate.pk]).order_by("pk")
    }
    if len(locked) != 2:
        raise field_error("duplicate", _("One of the residents no longer exists."), code="missing")
    keep, duplicate = locked[keep.pk], locked[duplicate.pk]
    ensure_can_write(actor, keep.village, field="keep")
    ensure_can_write(actor, duplicate.village, field="duplicate")
    for name, resident in (("keep", keep), ("duplicate", duplicate)):
        if resident.status == ResidentStatus.MERGED:
            raise field_error(name, _("This record was already merged into another."), code="already_merged")
    if keep.province_id != duplicate.province_id:
        raise field_error("duplicate", _("Residents of two provinces cannot be merged."), code="other_province")

    keep_before, duplicate_before = resident_facts(keep), resident_facts(duplicate)
    _move_adoptions(keep, duplicate)
    # Queryset updates fire no signals: each row moved is recorded in the trail explicitly.
    _move_rows(AssistanceLog.objects.filter(resident=duplicate), "resident", keep)
    _move_rows(ConsentRecord.objects.filter(resident=duplicate).select_related("resident"), "resident", keep)
    _move_attendance(keep, duplicate)
    _move_rows(Resident.objects.filter(merged_into=duplicate), "merged_into", keep)

    identifier_fields: list[str] = []
    if keep.citizen_id_hash and keep.citizen_id_hash == duplicate.citizen_id_hash:
        # One number registered twice (a disputed registration): one copy stays, on the kept record.
        _drop_citizen_id([duplicate])
        if keep.citizen_id_disputed:
            keep.citizen_id_disputed = _undisputed_holder(keep.citizen_id_hash, exclude=[keep.pk])
            identifier_fields.append("citizen_id_disputed")
    elif not keep.citizen_id_hash and duplicate.citizen_id_hash:
        disputed = duplicate.citizen_id_disputed
        moved = (duplicate.citizen_id_ciphertext, duplicate.citizen_id_hash, duplicate.citizen_id_masked)
        # The hash is unique: it leaves the duplicate before it reaches the kept record.
        Resident.objects.filter(pk=duplicate.pk).update(
            citizen_id_ciphertext="", citizen_id_hash=None, citizen_id_masked="", citizen_id_disputed=False
        )
        duplicate.citizen_id_ciphertext, duplicate.citizen_id_hash, duplicate.citizen_id_masked = "", None, ""
        audit.record_bulk(
            [duplicate],
            action=AuditEntry.Action.UPDATE,
            fields=["citizen_id_ciphertext", "citizen_id_hash", "citizen_id_masked"],
        )
        keep.citizen_id_ciphertext, keep.citizen_id_hash, keep.citizen_id_masked = moved
        keep.citizen_id_disputed = disputed
        identifier_fields += ["citizen_id_ciphertext", "citizen_id_hash", "citizen_id_masked", "citizen_id_disputed"]
    duplicate_fields: list[str] = []
    if duplicate.phone_hash:
        if not keep.phone_hash:
            keep.phone_ciphertext, keep.phone_hash, keep.phone_masked = (
                duplicate.phone_ciphertext,
                duplicate.phone_hash,
                duplicate.phone_masked,
            )
            identifier_fields += ["phone_ciphertext", "phone_hash", "phone_masked"]
        # A merged record keeps no identifier: one copy, on the kept record, to erase or export.
        duplicate.phone_ciphertext, duplicate.phone_hash, duplicate.phone_masked = "", None, ""
        duplicate_fields = ["phone_ciphertext", "phone_hash", "phone_masked"]

    keep.capability_mask = _open_mask(keep)
    keep.save(update_fields=["capability_mask", *identifier_fields, "updated_at"])
    duplicate.status = ResidentStatus.MERGED
    duplicate.merged_into = keep
    duplicate.left_on = duplicate.left_on or today()
    duplicate.capability_mask = 0
    duplicate.save(
        update_fields=["status", "merged_into", "left_on", "capability_mask", *duplicate_fields, "updated_at"]
    )
    adjust_counts(
        keep.province_id,
        residents=[(keep_before, resident_facts(keep)), (duplicate_before, resident_facts(duplicate))],
        # The kept record may hold more, the duplicate holds nothing now: their households follow.
        members_changed=[keep.household_id, duplicate.household_id] if keep.capability_mask or duplicate_before.capability_mask else (),
    )
    return keep


def _drop_citizen_id(residents: list[Resident]) -> None:
    """Clear the citizen ID of ``residents`` (locked by the caller) in one update, recorded in the trail."""
    fields = ["citizen_id_ciphertext", "citizen_id_hash", "citizen_id_masked", "citizen_id_disputed"]
    Resident.objects.filter(pk__in=[r.pk for r in residents]).update(
        citizen_id_ciphertext="", citizen_id_hash=None, citizen_id_masked="", citizen_id_disputed=False
    )
    for resident in residents:
        resident.citizen_id_ciphertext, resident.citizen_id_hash, resident.citizen_id_masked = "", None, ""
        resident.citizen_id_disputed = False
    audit.record_bulk(residents, action=AuditEntry.Action.UPDATE, fields=fields)


def _undisputed_holder(digest: str, *, exclude: list[int]) -> bool:
    return Resident.objects.filter(citizen_id_hash=digest, citizen_id_disputed=False).exclude(pk__in=exclude).exists()


@transaction.atomic
def settle_disputed_citizen_id(*, actor: User | None, resident: Resident, confirm: bool) -> Resident:
    """Settle a disputed citizen ID of ``resident`` (one also held by another resident).

    ``confirm``: the number is ``resident``'s (a person who moved province, a record made in error):
    every other holder loses it and it stops being disputed. Otherwise ``resident`` loses it. Within
    one province two records of one person are merged instead (``merge_residents``).

    Only an officer of the areas of every holder (or a superuser) may settle it: whoever settles
    sees both records. Raises ``ValidationError`` naming the field.
    """
    locked = Resident.objects.select_for_update().filter(pk=resident.pk).first()
    if locked is None or not locked.citizen_id_disputed:
        raise field_error("resident", _("This resident's citizen ID is not disputed."), code="not_disputed")
    # Seen first; the officer rule over every holder follows, said as "outside your area" too.
    ensure_can_see(actor, locked.village, field="resident")
    holders = list(
        Resident.objects.select_for_update()
        .filter(citizen_id_hash=locked.citizen_id_hash)
        .exclude(pk=locked.pk)
        .select_related("village")
        .order_by("pk")
    )
    if actor is not None:
        scope = scope_for(actor)
        if not all(scope.is_officer_of(r.village) for r in [locked, *holders]):
            # Said the same way as a resident out of scope: the other holders are not revealed.
            raise field_error("resident", _("This is outside your area."), code="out_of_scope")
    if not confirm:
        _drop_citizen_id([locked])
        return locked
    if holders:
        _drop_citizen_id(holders)
    locked.citizen_id_disputed = False
    locked.save(update_fields=["citizen_id_disputed", "updated_at"])
    return locked


def _move_adoptions(keep: Resident, duplicate: Resident) -> None:
    kept_open = {a.capability_id: a for a in Adoption.objects.filter(resident=keep, ended_on__isnull=True)}
    for adoption in Adoption.objects.filter(resident=duplicate).order_by("pk"):
        current = kept_open.get(adoption.capability_id)
        fields = ["resident"]
        if adoption.ended_on is None and current is not None:
            # Both held it: the kept adoption starts at the earliest evidence; the other stays as
            # history, closed on its own start date so that it is never counted (since < end).
            if adoption.since < current.since:
                current.since = adoption.since
                current.save(update_fields=["since"])
            adoption.ended_on = adoption.since
            fields.append("ended_on")
        elif adoption.ended_on is None:
            kept_open[adoption.capability_id] = adoption
        adoption.resident = keep
        adoption.save(update_fields=fields)


def _move_rows(rows: QuerySet[Any], field: str, keep: Resident) -> None:
    """Point ``field`` of ``rows`` at ``keep`` in one update, and record each row moved."""
    moved = list(rows)
    if not moved:
        return
    rows.model.objects.filter(pk__in=[row.pk for row in moved]).update(**{field: keep})
    for row in moved:
        setattr(row, field, keep)
    audit.record_bulk(moved, action=AuditEntry.Action.UPDATE, fields=[field])


def _move_attendance(keep: Resident, duplicate: Resident) -> None:
    attended = set(TrainingAttendance.objects.filter(resident=keep).values_list("session_id", flat=True))
    for attendance in TrainingAttendance.objects.filter(resident=duplicate):
        if attendance.session_id in attended:
            if attendance.completed:
                kept = TrainingAttendance.objects.select_related("resident").get(
                    resident=keep, session_id=attendance.session_id
                )
                kept.completed = True
                kept.save(update_fields=["completed"])
            attendance.delete()
        else:
            attendance.resident = keep
            attendance.save(update_fields=["resident"])


def _open_mask(resident: Resident) -> int:
    mask = 0
    bits = Capability.objects.filter(Q(adoptions__resident=resident) & Q(adoptions__ended_on__isnull=True)).values_list(
        "bit", flat=True
    )
    for bit in bits:
        mask |= 1 << bit
    return mask
