"""The data subject's rights and data minimisation: erase identifiers, anonymise, the export's workbook, purge.

Every act here is recorded in the audit trail (``fieldteam.audit.record_event``). None of them
changes a count: counts are kept per village from adoption and population facts, which hold no
identifier, so a person's aggregate contribution stays when their identity goes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any, cast

from cryptography.fernet import InvalidToken
from django.conf import settings
from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Field, Model, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fieldteam import audit, identifiers
from fieldteam.choices import ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import (
    Adoption,
    Area,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    BackgroundJob,
    ConsentRecord,
    Household,
    JobKind,
    JobStatus,
    Resident,
    SyncReceipt,
    TrainingAttendance,
    TrainingSession,
    User,
)
from fieldteam.permissions import ensure_can_write, ensure_officer
from fieldteam.selectors.person_data import REQUEST_REFUSED, household_logs_naming
from fieldteam.services import jobs
from fieldteam.spreadsheets import writing


@transaction.atomic
def erase_identifiers(*, actor: User | None, resident: Resident, reason: str) -> bool:
    """Erase ``resident``'s citizen ID and phone number, from their row and from wherever else they were written.

    The row loses its ciphertext, lookup hash and masked form; the numbers are also taken out of
    the notes of the province's assistance logs and out of the import jobs of the province (the
    uploaded file, the rejected-rows file, their summaries and errors), rewritten without them
    (``scrub_identifiers``). Sync receipts keep only keyed digests (``assistance.content_hash``),
    so nothing left can give the numbers back. ``reason`` says why (``consent_withdrawn``,
    ``retention``, ``erasure_request``) and goes in the trail. Returns whether anything was held.
    Counts are unaffected.
    """
    ensure_can_write(actor, resident.village, field="resident")
    held, numbers = _erase_row(actor=actor, resident=resident, reason=reason)
    scrub_identifiers(province_id=resident.province_id, numbers=numbers)
    return held


def _erase_row(*, actor: User | None, resident: Resident, reason: str) -> tuple[bool, set[str]]:
    """Erase the identifiers of ``resident``'s row (in the caller's transaction); returns (held, the numbers)."""
    locked = Resident.objects.select_for_update().get(pk=resident.pk)
    numbers = {_readable(locked.citizen_id_ciphertext), _readable(locked.phone_ciphertext)} - {""}
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
    return held, numbers


def _readable(token: str) -> str:
    """The number in ``token``, or ``""`` if no key reads it: the row is erased all the same."""
    try:
        return identifiers.decrypt(token) if token else ""
    except InvalidToken:
        return ""


# Between the digits of a number people type spaces, dots, dashes or brackets.
_SEPARATOR = r"[\s.\-()]?"
_ANY_SEPARATOR = "[^0-9]?"  # the same, loosely, in a pattern both databases' regex dialects read


def _spelled(number: str, separator: str) -> str:
    """A pattern for ``number`` as people write it (a phone also as +84 / 84 instead of the 0)."""
    if len(number) == 10 and number.startswith("0"):  # a mobile number
        return rf"(?:0|\+?84){separator}" + separator.join(number[1:])
    return separator.join(number)


def identifier_redactor(numbers: set[str]) -> Callable[[str], str]:
    """A function that replaces each spelling of ``numbers`` (normalised CCCDs, phones) in a text by ``***``."""
    pattern = re.compile(
        "|".join(rf"(?<!\d){_spelled(n, _SEPARATOR)}(?!\d)" for n in sorted(numbers, key=len, reverse=True))
    )

    def redact(text: str) -> str:
        return pattern.sub(audit.HIDDEN, text) if text else text

    return redact


def scrub_identifiers(*, province_id: int, numbers: set[str]) -> dict[str, int]:
    """Take ``numbers`` out of every text and file of the province where people may have written them.

    - notes of the province's assistance logs (one regex scan of the province's logs; a note is
      rewritten with ``***`` in place of the number, recorded in the trail like a save);
    - import jobs of the province (and those with no area): summary, parameters and error texts,
      and the uploaded and rejected-rows files, rewritten without them (``jobs.redact_job_files``).
      Exports and reports hold no raw identifier (masked), so they are not opened.

    Runs in the caller's transaction; returns how many notes and files changed.
    """
    if not numbers:
        return {"notes": 0, "files": 0}
    redact = identifier_redactor(numbers)
    loose = "|".join(f"(?:{_spelled(n, _ANY_SEPARATOR)})" for n in sorted(numbers))
    changed: list[AssistanceLog] = []
    for log in AssistanceLog.objects.filter(province_id=province_id, note__regex=loose).only("pk", "note"):
        cleaned = redact(log.note)
        if cleaned != log.note:
            log.note = cleaned
            changed.append(log)
    if changed:
        AssistanceLog.objects.bulk_update(changed, ["note"])
        audit.record_bulk(
            AssistanceLog.objects.filter(pk__in=[log.pk for log in changed]),
            action=AuditEntry.Action.UPDATE,
            fields=["note"],
        )
    province = Area.objects.only("path").get(pk=province_id)
    imports = BackgroundJob.objects.filter(kind=JobKind.IMPORT).filter(
        Q(area__path__startswith=province.path) | Q(area__isnull=True)
    )
    for job in imports.select_for_update(of=("self",)).order_by("pk"):
        texts = {name: json.dumps(getattr(job, name), ensure_ascii=False) for name in ("summary", "params")}
        cleaned_texts = {name: redact(text) for name, text in texts.items()}
        error = redact(job.error)
        if cleaned_texts != texts or error != job.error:
            job.summary = json.loads(cleaned_texts["summary"])
            job.params = json.loads(cleaned_texts["params"])
            job.error = error
            job.save(update_fields=["summary", "params", "error"])
    return {"notes": len(changed), "files": jobs.redact_job_files(jobs=imports, redact=redact)}


# --- who may act on a data-subject request ------------------------------------------------------


# --- export: the workbook of ``selectors.person_data.export_person_data`` -------------------------


def _field(model: type[Model], name: str) -> Any:
    # The workbook's columns are the models' own fields, never a reverse relation.
    return cast("Field[Any, Any]", model._meta.get_field(name)).verbose_name


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
            "derived_holdings",
            _("capabilities held by derivation"),
            [("capability", _field(Adoption, "capability")), ("derived_from", _("derived from"))],
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
            "household_assistance_logs",
            _("household logs naming the person"),
            [
                ("id", _("id")),
                *((n, _field(AssistanceLog, n)) for n in ("occurred_at", "channel", "team", "member", "note")),
            ],
        ),
        (
            "sync_receipts",
            SyncReceipt._meta.verbose_name_plural,
            [
                ("client_id", _field(SyncReceipt, "client_id")),
                ("kind", _field(SyncReceipt, "kind")),
                ("object_id", _field(SyncReceipt, "object_id")),
                ("received_at", _field(SyncReceipt, "received_at")),
                ("member", _field(SyncReceipt, "member")),
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


def _cell(value: Any) -> Any:
    # Text that looks like a formula is kept inert by the spreadsheet writer.
    if isinstance(value, bool):
        return str(_("yes") if value else _("no"))
    if isinstance(value, list):
        value = "; ".join(_item_text(v) for v in value)
    return value


def _item_text(value: Any) -> str:
    if isinstance(value, dict):  # an assistance item
        return ": ".join(str(v) for v in (value.get("capability"), value.get("outcome"), value.get("reason")) if v)
    return str(value)


def person_data_xlsx(data: dict[str, Any]) -> bytes:
    """``selectors.person_data.export_person_data``'s result as a workbook: one sheet per section, headers translated.

    A single record (the resident, the household) is a two-column sheet, field then value; a list
    is a table with one row per item. Text that looks like a formula is kept as text.
    """
    return writing.spreadsheet_bytes("xlsx", lambda writer: _write_person_data(writer, data))


def _write_person_data(writer: writing.SpreadsheetWriter, data: dict[str, Any]) -> None:
    for key, title, columns in _sections():
        sheet = writer.sheet(str(title) or key)
        section = data.get(key)
        if isinstance(section, dict):
            sheet.column(1, width=28)
            sheet.column(2, width=48)
            for field, label in columns:
                sheet.append([writing.Styled(str(label), bold=True), _cell(section.get(field))])
            continue
        for column in range(1, len(columns) + 1):
            sheet.column(column, width=22)
        sheet.freeze(2)
        sheet.append([writing.Styled(str(label), bold=True) for _key, label in columns])
        for item in section or []:
            sheet.append([_cell(item.get(field)) for field, _label in columns])


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
    # The ethnic group stays (not the text): the person's counts, breakdowns included, do not move.
    locked.save(update_fields=["full_name", "ethnicity", "birth_date", "updated_at"], keep_ethnic_group=True)
    household = Household.objects.select_for_update().get(pk=locked.household_id)
    if household.head_name and household.head_name.strip() == old_name.strip():
        household.head_name = ""
        household.save(update_fields=["head_name", "updated_at"])
    notes = _clear_notes(AssistanceLog.objects.filter(resident=locked))
    notes += _clear_notes(
        AssistanceLog.objects.filter(pk__in=[log.pk for log in household_logs_naming(locked, old_name)])
    )
    audit.record_event(
        actor=actor,
        instance=locked,
        action=AuditEntry.Action.UPDATE,
        note="anonymised",
        data={"reason": reason, "notes_cleared": notes},
    )


@transaction.atomic
def anonymise_resident(*, actor: User | None, resident: Resident, reason: str) -> Resident:
    """Remove who ``resident`` is while keeping what they count for (an erasure request). One transaction.

    The name becomes a neutral placeholder, identifiers are erased (``erase_identifiers``: also
    from notes and import files), ethnicity and the notes of their assistance logs are cleared, so
    are the notes of their household's logs that name them, and the household's head name when it
    is theirs. Kept:
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
    ensure_officer(actor, locked.village, field="resident", message=REQUEST_REFUSED)
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
            # Rows one by one, then the notes and files of each province once for the whole batch.
            numbers: dict[int, set[str]] = {}
            for resident in batch:
                held, found = _erase_row(actor=None, resident=resident, reason="retention")
                done += held
                numbers.setdefault(resident.province_id, set()).update(found)
            for province_id, found in numbers.items():
                scrub_identifiers(province_id=province_id, numbers=found)


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
