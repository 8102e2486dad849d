"""Everything held about a person, for their data-subject access request (a read, recorded in the trail).

``export_person_data`` gathers the resident's own rows, what was done to them (the audit trail)
and what the phones sent about them; ``fieldteam.services.privacy.person_data_xlsx`` writes the
result as a workbook. Only an officer of the person's area (or a superuser) may ask for it
(``ensure_officer``, the permissions module's rule); each export is itself recorded in the trail
as an access to the identifiers.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam import audit, identifiers
from fieldteam.choices import CapabilitySubject, ConsentPurpose
from fieldteam.models import (
    Adoption,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    ConsentRecord,
    Resident,
    SyncReceipt,
    TrainingAttendance,
    User,
)
from fieldteam.permissions import ensure_officer
from fieldteam.rollup.derivations import implied_by

# A request about a person's data is an officer's act, answerable to the person, not a field-work
# task: out of scope reads as "outside your area" (the API answers 404 before this); a team member
# or a viewer in scope is refused with ``read_only`` (a 403).
REQUEST_REFUSED = _("Only an officer of this area may handle a request about a person's data.")


def _folded(text: str) -> str:
    return unicodedata.normalize("NFC", text or "").casefold()


def household_logs_naming(resident: Resident, name: str | None = None) -> list[AssistanceLog]:
    """The logs of ``resident``'s household (logs about the household, not a person) whose note names them."""
    wanted = _folded(name if name is not None else resident.full_name).strip()
    if not wanted:
        return []
    logs = AssistanceLog.objects.filter(household_id=resident.household_id, resident__isnull=True).exclude(note="")
    return [
        log
        for log in logs.select_related("team", "member").order_by("occurred_at", "pk")
        if wanted in _folded(log.note)
    ]


def _receipts_of(resident: Resident) -> QuerySet[SyncReceipt]:
    """The sync receipts of the items that made the resident's rows (the resident, their logs, sessions attended)."""
    logs = [str(pk) for pk in resident.assistance_logs.values_list("pk", flat=True)]
    sessions = [str(pk) for pk in resident.attendances.values_list("session_id", flat=True)]
    return SyncReceipt.objects.filter(
        Q(kind="resident", object_id=str(resident.pk))
        | Q(kind="assistance_log", object_id__in=logs)
        | Q(kind="training_session", object_id__in=sessions)
    )


def _when(value: dt.date | dt.datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return (
            timezone.localtime(value).isoformat(timespec="seconds") if timezone.is_aware(value) else value.isoformat()
        )
    return value.isoformat()


def _username(user: User | None) -> str:
    return user.get_username() if user is not None else ""


def _decrypted(token: str) -> str:
    return identifiers.decrypt(token) if token else ""


def _own_fields(resident: Resident) -> dict[str, Any]:
    """A resident's own fields for an export (identifiers decrypted: the person's own data)."""
    return {
        "id": resident.pk,
        "full_name": resident.full_name,
        "sex": str(resident.get_sex_display()),
        "birth_date": _when(resident.birth_date),
        "birth_year": resident.birth_year,
        "ethnicity": resident.ethnicity,
        "citizen_id": _decrypted(resident.citizen_id_ciphertext),
        "phone": _decrypted(resident.phone_ciphertext),
        "status": str(resident.get_status_display()),
        "left_on": _when(resident.left_on),
        "village": resident.village.name,
        "province": resident.province.name,
        "created_at": _when(resident.created_at),
        "updated_at": _when(resident.updated_at),
    }


def _about_person(resident: Resident) -> Q:
    """The audit entries about the resident's own rows (themselves, consents, adoptions, logs, ...)."""
    rows: list[tuple[type[Model], list[Any]]] = [
        (Resident, [resident.pk]),
        (ConsentRecord, list(resident.consents.values_list("pk", flat=True))),
        (Adoption, list(resident.adoptions.values_list("pk", flat=True))),
        (AssistanceLog, list(resident.assistance_logs.values_list("pk", flat=True))),
        (AssistanceItem, list(AssistanceItem.objects.filter(log__resident=resident).values_list("pk", flat=True))),
        (TrainingAttendance, list(resident.attendances.values_list("pk", flat=True))),
    ]
    condition = Q(pk__in=[])
    for model, pks in rows:
        if pks:
            condition |= Q(content_type=ContentType.objects.get_for_model(model), object_pk__in=[str(pk) for pk in pks])
    return condition


@transaction.atomic
def export_person_data(*, actor: User | None, resident: Resident) -> dict[str, Any]:
    """Everything held about ``resident``, for their data-subject access request.

    Sections: ``resident`` (identifiers decrypted: the person gets their own data), ``household``,
    ``consents``, ``adoptions``, ``assistance_logs`` (with their items), ``training_attendance`` and
    ``audit_trail`` (what was done to their rows, when and by which account). Values are strings,
    numbers or lists, ready for JSON; choices are given by their label in the active language.
    Only a superuser or an officer who may write in the village may export (``read_only`` error
    otherwise). The export itself is recorded in the trail (an access to the identifiers).
    """
    resident = Resident.objects.select_related("village", "province", "household__village").get(pk=resident.pk)
    ensure_officer(actor, resident.village, field="resident", message=REQUEST_REFUSED)
    household = resident.household
    data: dict[str, Any] = {
        "exported_at": _when(timezone.now()),
        "resident": _own_fields(resident),
        # Records of the same person registered twice and merged into this one: what they still hold.
        "merged_records": [
            _own_fields(merged)
            for merged in Resident.objects.filter(merged_into=resident).select_related("village", "province")
        ],
        "household": {
            "id": household.pk,
            "code": household.code,
            "head_name": household.head_name,
            "address": household.address,
            "village": household.village.name,
            "is_active": household.is_active,
        },
        "consents": [
            {
                "id": consent.pk,
                "purposes": [
                    str(ConsentPurpose(p).label) if p in ConsentPurpose.values else p for p in consent.purposes
                ],
                "channel": str(consent.get_channel_display()),
                "notice_version": consent.notice_version,
                "given_at": _when(consent.given_at),
                "recorded_by": _username(consent.recorded_by),
                "withdrawn_at": _when(consent.withdrawn_at),
            }
            for consent in resident.consents.select_related("recorded_by").order_by("given_at", "pk")
        ],
        "adoptions": [
            {
                "id": adoption.pk,
                "capability": adoption.capability.name,
                "since": _when(adoption.since),
                "ended_on": _when(adoption.ended_on),
                "source": str(adoption.get_source_display()),
            }
            for adoption in resident.adoptions.select_related("capability").order_by("since", "pk")
        ],
        # Held by a derivation rule ("implies"), counted as held but never recorded as an adoption.
        "derived_holdings": [
            {"capability": capability.name, "derived_from": [source.name for source in through]}
            for capability, through in implied_by(resident.capability_mask, CapabilitySubject.RESIDENT)
        ],
        "assistance_logs": [
            {
                "id": str(log.pk),
                "occurred_at": _when(log.occurred_at),
                "channel": str(log.get_channel_display()),
                "team": log.team.name,
                "member": _username(log.member),
                "note": log.note,
                "items": [
                    {
                        "capability": item.capability.name,
                        "outcome": str(item.get_outcome_display()),
                        "reason": str(item.get_reason_display()) if item.reason else "",
                    }
                    for item in log.items.all()
                ],
            }
            for log in resident.assistance_logs.select_related("team", "member")
            .prefetch_related("items__capability")
            .order_by("occurred_at", "pk")
        ],
        # Logs about the whole household whose note names the person.
        "household_assistance_logs": [
            {
                "id": str(log.pk),
                "occurred_at": _when(log.occurred_at),
                "channel": str(log.get_channel_display()),
                "team": log.team.name,
                "member": _username(log.member),
                "note": log.note,
            }
            for log in household_logs_naming(resident)
        ],
        # What the phones sent about them and when (the keyed digest is no data of theirs).
        "sync_receipts": [
            {
                "client_id": str(receipt.client_id),
                "kind": receipt.kind,
                "object_id": receipt.object_id,
                "received_at": _when(receipt.received_at),
                "member": _username(receipt.member),
            }
            for receipt in _receipts_of(resident).select_related("member").order_by("received_at", "pk")
        ],
        "training_attendance": [
            {
                "id": attendance.pk,
                "topic": attendance.session.topic,
                "started_at": _when(attendance.session.started_at),
                "place": attendance.session.village.name,
                "completed": attendance.completed,
            }
            for attendance in resident.attendances.select_related("session__village").order_by("session__started_at")
        ],
        "audit_trail": [
            {
                "timestamp": _when(entry.timestamp),
                "action": str(entry.get_action_display()),
                "object": entry.object_repr,
                "fields": sorted(entry.changes_dict),
                "event": (entry.additional_data or {}).get("event", ""),
                "actor": _username(entry.actor),
            }
            for entry in AuditEntry.objects.filter(_about_person(resident))
            .select_related("actor")
            .order_by("timestamp", "pk")
        ],
    }
    audit.record_event(
        actor=actor,
        instance=resident,
        action=AuditEntry.Action.ACCESS,
        note="personal_data_exported",
        data={"fields": ["citizen_id", "phone"], "purpose": "data_subject_request"},
    )
    return data
