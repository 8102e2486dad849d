"""Erasure leaves nothing that gives the numbers back (issue 13, items 4 and 16).

A person is registered through offline sync with a citizen ID and a phone number (the log a member
sends names the phone in its note, the household's log names the person and their CCCD), and an
officer runs imports (XLSX and CSV) whose uploads and rejected-rows files carry the same numbers.
Then the person withdraws consent or is anonymised, as a request runs it (no transaction around the
test), and every column of every table (``apps.get_models()``), every job file on disk and the
log records are searched for the numbers, in the ways they are written, and for unkeyed digests
(SHA-256, SHA-1, MD5) of the numbers and of the items as the phone sent them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.db import models
from django.utils import timezone
from openpyxl import Workbook, load_workbook

from fieldteam.choices import Sex
from fieldteam.imports.jobs import import_job_start
from fieldteam.models import AssistanceLog, BackgroundJob, JobStatus, Resident, SyncReceipt
from fieldteam.selectors import person_data
from fieldteam.services import privacy
from tests.factories import make_citizen_id, make_phone
from tests.imports.conftest import RESIDENT_HEADERS, resident_row

SYNC = "/api/v1/sync/"
NAME = "Kpă H'Erasure"
BIRTH_YEAR = 1975


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@dataclass
class Person:
    resident: Resident
    cccd: str
    phone: str
    items: list[dict[str, Any]]
    household_log: AssistanceLog


def _spaced(number: str) -> str:
    return " ".join(re.findall(".{1,3}", number))


def _sync_person(world, client_for) -> Person:
    """The person as a member's phone sends them: household, resident with identifiers, two logs."""
    cccd = make_citizen_id(birth_year=BIRTH_YEAR, sex=Sex.FEMALE, serial=424242)
    phone = make_phone(43214321)
    team, village = world.places["V1"].team.pk, world.places["V1"].village.pk
    household, resident, log, household_log = (str(uuid.uuid4()) for _ in range(4))
    when = (timezone.now() - dt.timedelta(hours=2)).isoformat()
    items = [
        {"kind": "household", "client_id": household, "data": {"village": village, "head_name": "Rơ Mah Erasure"}},
        {
            "kind": "resident",
            "client_id": resident,
            "data": {
                "household": household,
                "full_name": NAME,
                "sex": "female",
                "birth_year": BIRTH_YEAR,
                "citizen_id": _spaced(cccd),
                "phone": "+84 " + _spaced(phone[1:]),
                "consent": {"channel": "in_person"},
            },
        },
        {
            "kind": "assistance_log",
            "client_id": log,
            "data": {
                "team": team,
                "resident": resident,
                "occurred_at": when,
                "channel": "home_visit",
                "note": f"Gọi lại số {phone[:4]}.{phone[4:7]}.{phone[7:]} khi có máy",
                "items": [{"capability": "smartphone", "outcome": "done"}],
            },
        },
        {
            "kind": "assistance_log",
            "client_id": household_log,
            "data": {
                "team": team,
                "household": household,
                "occurred_at": when,
                "channel": "home_visit",
                "note": f"{NAME} nhờ lắp cáp quang, CCCD {cccd}",
                "items": [{"capability": "fibre_broadband", "outcome": "done"}],
            },
        },
    ]
    response = client_for(world.member).post(SYNC, {"items": items}, format="json")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["created"] * 4, results
    return Person(
        resident=Resident.objects.get(pk=results[1]["id"]),
        cccd=cccd,
        phone=phone,
        items=items,
        household_log=AssistanceLog.objects.get(pk=household_log),
    )


def _upload(tmp_path: Path, name: str, headers: list[str], rows: list[list[Any]], fmt: str) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    if fmt == "xlsx":
        book = Workbook()
        for row in [headers, *rows]:
            book.active.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        content = buffer.getvalue()
    else:
        lines = [",".join("" if v is None else str(v) for v in row) for row in [headers, *rows]]
        content = ("\ufeff" + "\n".join(lines) + "\n").encode()
    return SimpleUploadedFile(f"{name}.{fmt}", content)


def _import_with_rejected_rows(world, person: Person, tmp_path: Path) -> list[BackgroundJob]:
    """Two dry runs by the commune officer: their uploads and rejected-rows files carry the person's numbers."""
    officer = world.users["commune_officer"]
    code = world.places["V1"].village.code
    made = []
    for fmt in ("xlsx", "csv"):
        rows = [
            # The person again, with a birth year the CCCD contradicts: rejected, numbers and all.
            resident_row(
                code, name=NAME, birth_date=None, birth_year=BIRTH_YEAR + 1, cccd=person.cccd, phone=person.phone
            ),
            resident_row(code, household="HH-2", name="Nguyễn Thị Khác", serial=7),
        ]
        if fmt == "xlsx":
            rows[0][RESIDENT_HEADERS.index("Số điện thoại")] = int(person.phone)  # a number cell: its 0 is lost
        upload = _upload(tmp_path, f"residents-{fmt}", RESIDENT_HEADERS, rows, fmt)
        job = import_job_start(
            actor=officer, kind="residents", upload=upload, file_name=upload.name, dry_run=True, skip_invalid=True
        )
        job.refresh_from_db()
        assert job.status == JobStatus.DONE and job.result_file and job.input_file, (job.status, job.error)
        made.append(job)
    return made


# --- the search --------------------------------------------------------------------------------


def _digits(text: str) -> str:
    return re.sub(r"[\s.\-()+]", "", text)


def _numbers(person: Person) -> list[str]:
    # The phone's last nine digits also find its +84 and 84 forms.
    return [person.cccd, person.phone[1:]]


def _unkeyed_digests(person: Person) -> set[str]:
    """SHA-256, SHA-1 and MD5 of the numbers (as written) and of the items as sent, in the common JSON forms."""
    texts: set[str] = set()
    for number in (person.cccd, person.phone, "+84" + person.phone[1:], "84" + person.phone[1:]):
        texts |= {number, _spaced(number)}
    for item in person.items:
        for payload in ({"kind": item["kind"], "data": item["data"]}, item["data"], item):
            for options in ({"sort_keys": True, "default": str}, {}, {"separators": (",", ":"), "sort_keys": True}):
                texts.add(json.dumps(payload, **options))
                texts.add(json.dumps(payload, ensure_ascii=False, **options))
    digests: set[str] = set()
    for text in texts:
        for algorithm in (hashlib.sha256, hashlib.sha1, hashlib.md5):
            digests.add(algorithm(text.encode()).hexdigest())
    return digests


def _found_in(text: str, person: Person, digests: set[str]) -> list[str]:
    found = [n for n in _numbers(person) if n in _digits(text)]
    lowered = text.lower()
    found += [f"digest {d[:12]}…" for d in digests if d in lowered]
    return found


def _table_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every text, JSON and binary column of every row of every model."""
    kinds = (models.CharField, models.TextField, models.JSONField, models.BinaryField, models.FileField)
    for model in apps.get_models():
        if model._meta.proxy or not model._meta.managed:
            continue
        names = [f.attname for f in model._meta.concrete_fields if isinstance(f, kinds) or f.primary_key]
        if not names:
            continue
        for row in model._default_manager.values_list(*names):
            text = "\t".join(
                v.hex() if isinstance(v, bytes | memoryview) and not isinstance(v, str) else json.dumps(v, default=str)
                for v in row
                if v is not None
            )
            yield f"{model._meta.label} {row[0]}", text


def _file_texts() -> Iterator[tuple[str, str]]:
    """(path, text) for every file under MEDIA_ROOT: every cell of a workbook, the text of anything else."""
    root = Path(settings.MEDIA_ROOT)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".xlsx":
            book = load_workbook(path, read_only=True)
            text = "\n".join(
                "\t".join("" if v is None else str(v) for v in row)
                for sheet in book.worksheets
                for row in sheet.iter_rows(values_only=True)
            )
            # A number cell lost the phone's 0: its digits are still the phone's.
            yield str(path), text
        else:
            yield str(path), path.read_bytes().decode("utf-8", errors="replace")


def _leaks(person: Person, caplog) -> list[tuple[str, list[str]]]:
    digests = _unkeyed_digests(person)
    leaks = []
    for where, text in [*_table_texts(), *_file_texts(), ("log records", caplog.text)]:
        found = _found_in(text, person, digests)
        if found:
            leaks.append((where, found))
    return leaks


# --- the tests ---------------------------------------------------------------------------------


def _withdraw(world, client_for, person: Person) -> None:
    response = client_for(world.users["commune_officer"]).post(
        f"/api/v1/residents/{person.resident.pk}/consents/withdraw/"
    )
    assert response.status_code == 200, response.content


def _anonymise(world, client_for, person: Person) -> None:
    response = client_for(world.users["commune_officer"]).post(
        f"/api/v1/residents/{person.resident.pk}/anonymise/", {"reason": "the person asked"}, format="json"
    )
    assert response.status_code == 200, response.content


def _retention(world, client_for, person: Person) -> None:
    from fieldteam.services.people import record_departure

    record_departure(
        actor=world.users["commune_officer"],
        resident=person.resident,
        status="moved_out",
        on=timezone.localdate() - dt.timedelta(days=1),
    )
    later = timezone.now() + dt.timedelta(days=settings.FIELDTEAM_RETENTION_IDENTIFIERS_DAYS + 2)
    assert privacy.purge_expired(now=later)["identifiers"] == 1


ERASURES = {"withdrawal": _withdraw, "anonymisation": _anonymise, "retention": _retention}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("erasure", list(ERASURES))
def test_after_erasure_nothing_gives_the_numbers_back(world, client_for, tmp_path, caplog, erasure) -> None:
    caplog.set_level("DEBUG")
    person = _sync_person(world, client_for)
    jobs = _import_with_rejected_rows(world, person, tmp_path)
    before = _leaks(person, caplog)
    # The search finds what it looks for: the numbers are in the row, the note and the job files.
    assert any(where.startswith("fieldteam.Resident") for where, _ in before) is False  # encrypted, hashed
    assert any(where.startswith("fieldteam.AssistanceLog") for where, _ in before), before
    assert sum(1 for where, _ in before if where.startswith(str(settings.MEDIA_ROOT))) >= 3, before
    assert Resident.objects.get(pk=person.resident.pk).phone_hash

    if erasure == "retention":
        # Job files outlive the identifiers' retention only in this test: keep them (their own purge is tested elsewhere).
        BackgroundJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
            finished_at=timezone.now() + dt.timedelta(days=9999)
        )
    ERASURES[erasure](world, client_for, person)

    assert _leaks(person, caplog) == []
    resident = Resident.objects.get(pk=person.resident.pk)
    assert not resident.phone_hash and not resident.citizen_id_hash
    # The jobs keep their files, rewritten: the other row is still there, and a dry run can still be confirmed.
    for job in jobs:
        job.refresh_from_db()
        assert job.input_file and Path(job.input_file.path).exists()
        assert "Khác" in next(text for where, text in _file_texts() if where == job.input_file.path)


@pytest.mark.django_db(transaction=True)
def test_a_resend_after_erasure_is_recognised_and_stores_nothing_again(world, client_for) -> None:
    person = _sync_person(world, client_for)
    _withdraw(world, client_for, person)
    again = client_for(world.member).post(SYNC, {"items": person.items}, format="json")
    assert [r["status"] for r in again.json()["results"]] == ["already_received"] * 4
    resident = Resident.objects.get(pk=person.resident.pk)
    assert not resident.phone_hash and not resident.citizen_id_hash
    assert Resident.objects.filter(full_name=NAME).count() == 1


def test_receipts_hold_keyed_digests_that_still_recognise_resends(world, client_for) -> None:
    person = _sync_person(world, client_for)
    receipt = SyncReceipt.objects.get(pk=person.items[1]["client_id"])
    plain = hashlib.sha256(
        json.dumps({"kind": "resident", "data": person.items[1]["data"]}, sort_keys=True, default=str).encode()
    ).hexdigest()
    assert receipt.content_hash != plain
    # What migration 0013 does to a digest stored before: the resend matches it.
    from fieldteam.services.assistance import keyed_content_digest

    SyncReceipt.objects.filter(pk=receipt.pk).update(content_hash=keyed_content_digest(plain))
    again = client_for(world.member).post(SYNC, {"items": person.items[:2]}, format="json")
    assert [r["status"] for r in again.json()["results"]] == ["already_received"] * 2


def test_the_migration_rekeys_stored_digests(world, client_for) -> None:
    import importlib

    migration = importlib.import_module("fieldteam.migrations.0013_erasure_content_digests_keyed")
    person = _sync_person(world, client_for)
    for item in person.items:  # every digest as stored before: plain
        plain = hashlib.sha256(
            json.dumps({"kind": item["kind"], "data": item["data"]}, sort_keys=True, default=str).encode()
        ).hexdigest()
        SyncReceipt.objects.filter(pk=item["client_id"]).update(content_hash=plain)
    migration.rekey(apps, None)
    again = client_for(world.member).post(SYNC, {"items": person.items}, format="json")
    assert [r["status"] for r in again.json()["results"]] == ["already_received"] * 4


# --- item 16: the household's logs that name the person, and the receipts ----------------------


def test_the_export_lists_household_logs_naming_the_person_and_the_receipts(world, client_for) -> None:
    person = _sync_person(world, client_for)
    data = person_data.export_person_data(actor=world.users["commune_officer"], resident=person.resident)
    assert [row["id"] for row in data["household_assistance_logs"]] == [str(person.household_log.pk)]
    listed = {row["client_id"] for row in data["sync_receipts"]}
    assert {person.items[1]["client_id"], person.items[2]["client_id"]} <= listed
    assert person.items[0]["client_id"] not in listed  # the household's own item is not about them alone
    book = load_workbook(io.BytesIO(privacy.person_data_xlsx(data)), read_only=True)
    cells = "\n".join(str(v) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True) for v in row)
    assert person.items[1]["client_id"] in cells and str(person.household_log.pk) in cells


def test_anonymisation_clears_the_household_logs_naming_the_person(world, client_for) -> None:
    person = _sync_person(world, client_for)
    other = AssistanceLog.objects.filter(household=person.resident.household).exclude(pk=person.household_log.pk)
    privacy.anonymise_resident(actor=world.users["commune_officer"], resident=person.resident, reason="asked")
    assert AssistanceLog.objects.get(pk=person.household_log.pk).note == ""
    assert NAME not in "".join(AssistanceLog.objects.values_list("note", flat=True))
    assert all(log.note == AssistanceLog.objects.get(pk=log.pk).note for log in other)
