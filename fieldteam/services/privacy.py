"""The data subject's rights and data minimisation: erase identifiers, anonymise, export, purge.

Every act here is recorded in the audit trail (``fieldteam.audit.record_event``). None of them
changes a count: counts are kept per village from adoption and population facts, which hold no
identifier, so a person's aggregate contribution stays when their identity goes.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from fieldteam import audit, identifiers
from fieldteam.choices import ConsentPurpose, ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import (
    Adoption,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    BackgroundJob,
    ConsentRecord,
    Household,
    JobStatus,
    Resident,
    TrainingAttendance,
    TrainingSession,
    User,
)
from fieldteam.selectors.scope import scope_for
from fieldteam.services.people import ensure_area_in_scope


@transaction.atomic
def erase_identifiers(*, actor: User | None, resident: Resident, reason: str) -> bool:
    """Erase ``resident``'s citizen ID and phone number (ciphertext, lookup hash and masked form).

    ``reason`` says why (``consent_withdrawn``, ``retention``, ``erasure_request``) and goes in the
    trail. Returns whether anything was held. Counts are unaffected.
    """
    locked = Resident.objects.select_for_update().get(pk=resident.pk)
    held = any(getattr(locked, name) for name in Resident.IDENTIFIER_FIELDS)
    if held:
        for name in Resident.IDENTIFIER_FIELDS:
            setattr(locked, name, None if name.endswith("_hash") else "")  # hashes are unique: NULL, not ""
        locked.save(update_fields=[*Resident.IDENTIFIER_FIELDS, "updated_at"])
    audit.record_event(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        note="identifiers_erased",
        data={"reason": reason, "held": held},
    )
    for name in Resident.IDENTIFIER_FIELDS:
        setattr(resident, name, getattr(locked, name))
    return held


# --- who may act on a data-subject request ------------------------------------------------------


def _ensure_may_handle_request(actor: User | None, resident: Resident) -> None:
    """Refuse unless ``actor`` is a superuser or an officer who may write in the resident's village.

    Out of scope reads as "outside your area" (the API answers 404 before this); in scope but a team
    member or a viewer is refused with ``read_only`` (a 403): a request about a person's data is
    an officer's act, answerable to the person, not a field-work task.
    """
    village = resident.village
    ensure_area_in_scope(actor, village, field="resident")
    if actor is None:
        return
    if scope_for(actor).is_officer_of(village):
        return
    raise field_error(
        "resident",
        _("Only an officer of this area may handle a request about a person's data."),
        code="read_only",
    )


# --- export -------------------------------------------------------------------------------------


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
    _ensure_may_handle_request(actor, resident)
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


def _field(model: type[Model], name: str) -> Any:
    return model._meta.get_field(name).verbose_name


def _sections() -> list[tuple[str, Any, list[tuple[str, Any]]]]:
    """The workbook's sheets in order, each with its columns as (key, label).

    Labels are the models' verbose names where there is one, so they come out in the active
    language like the admin's.
    """
    resident_columns = [
        ("id", _("id")),
        *((name, _field(Resident, name)) for name in ("full_name", "sex", "birth_date", "birth_year")),
        ("ethnicity", _field(Resident, "ethnicity")),
        ("citizen_id", _field(Resident, "citizen_id_masked")),
        ("phone", _field(Resident, "phone_masked")),
        *((name, _field(Resident, name)) for name in ("status", "left_on", "village", "province")),
        ("created_at", _field(Resident, "created_at")),
        ("updated_at", _field(Resident, "updated_at")),
    ]
    return [
        ("resident", Resident._meta.verbose_name, resident_columns),
        ("merged_records", _("merged records"), resident_columns),
        (
            "household",
            Household._meta.verbose_name,
            [
                ("id", _("id")),
                *((n, _field(Household, n)) for n in ("code", "head_name", "address", "village", "is_active")),
            ],
        ),
        (
            "consents",
            ConsentRecord._meta.verbose_name_plural,
            [
                ("id", _("id")),
                *(
                    (n, _field(ConsentRecord, n))
                    for n in ("purposes", "channel", "notice_version", "given_at", "recorded_by", "withdrawn_at")
                ),
            ],
        ),
        (
            "adoptions",
            Adoption._meta.verbose_name_plural,
            [("id", _("id")), *((n, _field(Adoption, n)) for n in ("capability", "since", "ended_on", "source"))],
        ),
        (
            "assistance_logs",
            AssistanceLog._meta.verbose_name_plural,
            [
                ("id", _("id")),
                *((n, _field(AssistanceLog, n)) for n in ("occurred_at", "channel", "team", "member", "note")),
                ("items", AssistanceItem._meta.verbose_name_plural),
            ],
        ),
        (
            "training_attendance",
            TrainingAttendance._meta.verbose_name_plural,
            [
                ("id", _("id")),
                ("topic", _field(TrainingSession, "topic")),
                ("started_at", _field(TrainingSession, "started_at")),
                ("place", _field(TrainingSession, "village")),
                ("completed", _field(TrainingAttendance, "completed")),
            ],
        ),
        (
            "audit_trail",
            AuditEntry._meta.verbose_name_plural,
            [
                ("timestamp", _("time")),
                ("action", _("action")),
                ("object", _("object")),
                ("fields", _("fields changed")),
                ("event", _("event")),
                ("actor", _("by account")),
            ],
        ),
    ]


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        value = "; ".join(_item_text(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return f"'{value}"  # a spreadsheet runs a cell that starts like a formula: keep names and notes inert
    return value


def _item_text(value: Any) -> str:
    if isinstance(value, dict):  # an assistance item
        return ": ".join(str(v) for v in (value.get("capability"), value.get("outcome"), value.get("reason")) if v)
    return str(value)


def person_data_xlsx(data: dict[str, Any]) -> bytes:
    """``export_person_data``'s result as a workbook: one sheet per section, headers translated.

    A single record (the resident, the household) is a two-column sheet, field then value; a list
    is a table with one row per item. Text that looks like a formula is kept as text.
    """
    workbook = Workbook()
    workbook.remove(workbook.active)
    used: set[str] = set()
    for key, title, columns in _sections():
        name = "".join(" " if ch in "[]:*?/\\" else ch for ch in str(title)).strip()[:31] or key[:31]
        if name in used:
            name = key[:31]
        used.add(name)
        sheet = workbook.create_sheet(name)
        section = data.get(key)
        if isinstance(section, dict):
            for row, (field, label) in enumerate(columns, start=1):
                sheet.cell(row=row, column=1, value=str(label)).font = Font(bold=True)
                sheet.cell(row=row, column=2, value=_cell(section.get(field)))
            sheet.column_dimensions["A"].width = 28
            sheet.column_dimensions["B"].width = 48
            continue
        for column, (_key, label) in enumerate(columns, start=1):
            sheet.cell(row=1, column=column, value=str(label)).font = Font(bold=True)
            sheet.column_dimensions[get_column_letter(column)].width = 22
        for row, item in enumerate(section or [], start=2):
            for column, (field, _label) in enumerate(columns, start=1):
                sheet.cell(row=row, column=column, value=_cell(item.get(field)))
        sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- erasure ------------------------------------------------------------------------------------


def _clear_notes(logs: QuerySet[AssistanceLog]) -> int:
    """Empty the notes of ``logs`` in one update and record it (a bulk update fires no signal)."""
    pks = list(logs.exclude(note="").values_list("pk", flat=True))
    if not pks:
        return 0
    AssistanceLog.objects.filter(pk__in=pks).update(note="")
    audit.record_bulk(AssistanceLog.objects.filter(pk__in=pks), action=AuditEntry.Action.UPDATE, fields=["note"])
    return len(pks)


@transaction.atomic
def _anonymise_one(*, actor: User | None, locked: Resident, reason: str) -> None:
    """``anonymise_resident``'s work on one locked record."""
    old_name = locked.full_name
    erase_identifiers(actor=actor, resident=locked, reason="erasure_request")
    # Stored in the site's language, whatever the officer's: it becomes the person's name for good.
    with translation.override(settings.LANGUAGE_CODE):
        locked.full_name = gettext("Anonymised person #%(pk)s") % {"pk": locked.pk}
    locked.ethnicity = ""
    if locked.birth_date is not None:
        month_index = locked.birth_month_index
        birth_date, locked.birth_date = locked.birth_date, None
        locked.derive_birth_month_index()
        if locked.birth_month_index != month_index:  # the counts would move: keep the date
            locked.birth_date = birth_date
            locked.derive_birth_month_index()
    locked.save(update_fields=["full_name", "ethnicity", "birth_date", "updated_at"])
    household = Household.objects.select_for_update().get(pk=locked.household_id)
    if household.head_name and household.head_name.strip() == old_name.strip():
        household.head_name = ""
        household.save(update_fields=["head_name", "updated_at"])
    notes = _clear_notes(AssistanceLog.objects.filter(resident=locked))
    audit.record_event(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        note="anonymised",
        data={"reason": reason, "notes_cleared": notes},
    )


def anonymise_resident(*, actor: User | None, resident: Resident, reason: str) -> Resident:
    """Remove who ``resident`` is while keeping what they count for (an erasure request).

    The name becomes a neutral placeholder, identifiers are erased, ethnicity and the notes of
    their assistance logs are cleared, and the household's head name too when it is theirs. Kept:
    village, household, sex, birth year (and the birth date only where dropping its day and month
    would move the birth month the counts use), status, adoptions, logs and attendance, so no
    village count changes. Records merged into this one (the same person registered twice) are
    anonymised with it. Recorded in the trail with ``reason``. Only a superuser or an officer
    who may write in the village may do it (``read_only`` error otherwise). Running it again
    changes nothing more.
    """
    reason = (reason or "").strip()
    if not reason:
        raise field_error("reason", _("Say why the person's data is erased."), code="required")
    audit.check_free_text(field="reason", text=reason)
    locked = Resident.objects.select_for_update().select_related("village").get(pk=resident.pk)
    _ensure_may_handle_request(actor, locked)
    _anonymise_one(actor=actor, locked=locked, reason=reason)
    # The same person registered twice and merged into this record: erased with it.
    for merged in Resident.objects.select_for_update().filter(merged_into=locked).order_by("pk"):
        _anonymise_one(actor=actor, locked=merged, reason=reason)
    for name in ("full_name", "ethnicity", "birth_date", "birth_year", "birth_month_index", "updated_at"):
        setattr(resident, name, getattr(locked, name))
    return locked


# --- retention ----------------------------------------------------------------------------------

RETENTION_BATCH = 500


def _purge_notes(cutoff: dt.datetime) -> int:
    expired = AssistanceLog.objects.filter(occurred_at__lt=cutoff).exclude(note="")
    done = 0
    while True:
        with transaction.atomic():
            pks = list(expired.order_by("pk").values_list("pk", flat=True)[:RETENTION_BATCH])
            if not pks:
                return done
            done += _clear_notes(AssistanceLog.objects.filter(pk__in=pks))


def _purge_identifiers(cutoff: dt.date) -> int:
    holding = Q(citizen_id_hash__isnull=False) | Q(phone_hash__isnull=False)
    holding |= ~Q(citizen_id_ciphertext="") | ~Q(phone_ciphertext="")
    expired = Resident.objects.filter(
        holding, status__in=[ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED], left_on__lt=cutoff
    )
    done = 0
    while True:
        with transaction.atomic():
            batch = list(expired.order_by("pk")[:RETENTION_BATCH])
            if not batch:
                return done
            for resident in batch:
                done += erase_identifiers(actor=None, resident=resident, reason="retention")


def _purge_job_files(cutoff: dt.datetime) -> int:
    expired = BackgroundJob.objects.filter(
        status__in=[JobStatus.DONE, JobStatus.FAILED], finished_at__lt=cutoff
    ).exclude(input_file="", result_file="")
    done = 0
    for job in expired.iterator(chunk_size=RETENTION_BATCH):
        names: list[tuple[Storage, str]] = []
        for field in ("input_file", "result_file"):
            file = getattr(job, field)
            if file:
                names.append((file.storage, file.name))
                setattr(job, field, "")
        job.save(update_fields=["input_file", "result_file"])
        # The row no longer names the files before they go, so no page offers a missing download.
        for storage, name in names:
            storage.delete(name)
            done += 1
    return done


def purge_expired(*, now: dt.datetime | None = None) -> dict[str, int]:
    """Retention: purge what is kept longer than its period (the nightly beat task runs this).

    - free-text notes of assistance logs that occurred more than ``FIELDTEAM_RETENTION_NOTES_DAYS``
      ago (default 730) are emptied, recorded in the trail like a save;
    - identifiers of residents who moved out or died more than ``FIELDTEAM_RETENTION_IDENTIFIERS_DAYS``
      ago (default 365) are erased (``erase_identifiers``, reason ``retention``);
    - files of finished background jobs older than ``FIELDTEAM_RETENTION_JOB_FILES_DAYS`` (default
      30) are deleted from storage.

    Works in batches of ``RETENTION_BATCH``, one short transaction each, so it never holds locks
    for long; a re-run finds nothing left and writes nothing. Counts are unaffected. Returns how
    many notes, residents' identifiers and files were purged.
    """
    now = now or timezone.now()
    return {
        "notes": _purge_notes(now - dt.timedelta(days=settings.FIELDTEAM_RETENTION_NOTES_DAYS)),
        "identifiers": _purge_identifiers(
            timezone.localdate(now) - dt.timedelta(days=settings.FIELDTEAM_RETENTION_IDENTIFIERS_DAYS)
        ),
        "job_files": _purge_job_files(now - dt.timedelta(days=settings.FIELDTEAM_RETENTION_JOB_FILES_DAYS)),
    }
