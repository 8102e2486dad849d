"""Data-subject requests (export, anonymise) and retention (purge), as officers and the nightly task use them."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.utils import timezone
from openpyxl import load_workbook

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, ResidentStatus, Sex
from fieldteam.models import (
    AssistanceLog,
    AuditEntry,
    BackgroundJob,
    Capability,
    Household,
    JobKind,
    JobStatus,
    Resident,
    User,
    VillageCount,
)
from fieldteam.rollup import recompute
from fieldteam.selectors import person_data
from fieldteam.services import people, privacy
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.training import record_training_session
from fieldteam.tasks import purge_expired_personal_data
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    ResidentFactory,
    make_citizen_id,
    make_phone,
)

SECTIONS = (
    "resident",
    "merged_records",
    "household",
    "consents",
    "adoptions",
    "derived_holdings",
    "assistance_logs",
    "household_assistance_logs",
    "sync_receipts",
    "training_attendance",
    "audit_trail",
)
CITIZEN_ID = make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=424242)
PHONE = make_phone(7654321)


@dataclass
class Person:
    resident: Resident
    household: Household
    log: AssistanceLog
    smartphone: Capability


@pytest.fixture
def person(area_tree: AreaTree, member: User, team) -> Person:
    """A woman of V1 with identifiers, an ethnicity, a log with a note, an adoption and a class."""
    smartphone = CapabilityFactory(code="smartphone", name="Smartphone")
    CapabilityFactory(code="basic_digital_skills", name="Basic digital skills")  # what classes teach
    IndicatorFactory(capability=smartphone, min_age=18)
    household = HouseholdFactory(village=area_tree.village, head_name="Rơ Châm H'Lan")
    resident = ResidentFactory(
        household=household,
        full_name="Rơ Châm H'Lan",
        sex=Sex.FEMALE,
        birth_date=dt.date(1980, 3, 14),
        ethnicity="Jrai",
        citizen_id=CITIZEN_ID,
        phone=PHONE,
    )
    ResidentFactory(household=household, birth_year=1975, sex=Sex.MALE)  # a housemate who stays as is
    log = log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.now() - dt.timedelta(days=3),
        channel=AssistanceChannel.HOME_VISIT,
        resident=resident,
        items=[ItemInput(smartphone, AssistanceOutcome.DONE)],
        note="Chị Lan ở nhà con gái, số nhà 12",
    )
    record_training_session(
        actor=member,
        team=team,
        village=area_tree.village,
        topic="Kỹ năng số cơ bản",
        started_at=timezone.now() - dt.timedelta(days=2),
        attendees=[resident],
    )
    resident.refresh_from_db()
    return Person(resident, household, log, smartphone)


def _events(resident: Resident, note: str) -> list[AuditEntry]:
    return [
        entry
        for entry in AuditEntry.objects.filter(object_pk=str(resident.pk), content_type__model="resident")
        if (entry.additional_data or {}).get("event") == note
    ]


def _counts() -> list[tuple[int, int, int, int]]:
    return list(
        VillageCount.objects.order_by("village_id", "indicator_id").values_list(
            "village_id", "indicator_id", "numerator", "denominator"
        )
    )


# --- export -----------------------------------------------------------------------------------


def test_the_export_holds_every_section_and_the_identifiers_in_clear(person: Person, commune_officer: User):
    data = person_data.export_person_data(actor=commune_officer, resident=person.resident)

    assert set(SECTIONS) <= set(data)
    assert data["resident"]["full_name"] == "Rơ Châm H'Lan"
    assert data["resident"]["citizen_id"] == CITIZEN_ID
    assert data["resident"]["phone"] == PHONE
    assert data["resident"]["ethnicity"] == "Jrai"
    assert data["resident"]["birth_date"] == "1980-03-14"
    assert data["household"]["id"] == person.household.pk
    assert len(data["consents"]) == 1
    assert sorted(a["capability"] for a in data["adoptions"]) == ["Basic digital skills", "Smartphone"]
    [log] = [log for log in data["assistance_logs"] if log["id"] == str(person.log.pk)]
    assert log["note"] == "Chị Lan ở nhà con gái, số nhà 12"
    assert [item["capability"] for item in log["items"]] == ["Smartphone"]
    assert [t["topic"] for t in data["training_attendance"]] == ["Kỹ năng số cơ bản"]
    # The trail of their own rows, and never the values it masks.
    assert data["audit_trail"]
    assert "Rơ Châm" not in str(data["audit_trail"])


def test_the_export_is_recorded_in_the_trail(person: Person, commune_officer: User):
    person_data.export_person_data(actor=commune_officer, resident=person.resident)

    [entry] = _events(person.resident, "personal_data_exported")
    assert entry.action == AuditEntry.Action.ACCESS
    assert entry.actor == commune_officer
    assert entry.area_id == person.resident.village_id


def test_the_workbook_has_a_sheet_per_section_with_the_data(person: Person, superuser: User):
    data = person_data.export_person_data(actor=superuser, resident=person.resident)

    workbook = load_workbook(io.BytesIO(privacy.person_data_xlsx(data)))

    assert len(workbook.sheetnames) == len(SECTIONS)
    values = {str(cell.value) for sheet in workbook for row in sheet.iter_rows() for cell in row}
    assert CITIZEN_ID in values
    assert "Chị Lan ở nhà con gái, số nhà 12" in values
    assert "họ và tên" in values  # headers in the active language (Vietnamese by default)


def test_text_that_looks_like_a_formula_stays_text_in_the_workbook(person: Person, superuser: User):
    data = person_data.export_person_data(actor=superuser, resident=person.resident)
    data["assistance_logs"][0]["note"] = '=HYPERLINK("http://example.com")'

    workbook = load_workbook(io.BytesIO(privacy.person_data_xlsx(data)))

    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row]
    assert not [cell for cell in cells if cell.data_type == "f"]


def _handle(service: str, actor: User, resident: Resident) -> None:
    if service == "export":
        person_data.export_person_data(actor=actor, resident=resident)
    else:
        privacy.anonymise_resident(actor=actor, resident=resident, reason="request")


@pytest.mark.parametrize("service", ["export", "anonymise"])
def test_a_team_member_or_a_viewer_may_not_handle_a_request(person: Person, member: User, area_tree, service):
    viewer = AreaRoleFactory(area=area_tree.province, role="viewer").user
    for actor in (member, viewer):
        with pytest.raises(ValidationError) as refused:
            _handle(service, actor, person.resident)
        assert refused.value.error_dict["resident"][0].code == "read_only"
    person.resident.refresh_from_db()
    assert person.resident.full_name == "Rơ Châm H'Lan"
    assert not _events(person.resident, "personal_data_exported")


def test_an_officer_of_another_commune_is_out_of_scope(person: Person, area_tree: AreaTree):
    officer = AreaRoleFactory(area=area_tree.other_commune, role="commune_officer").user

    with pytest.raises(ValidationError) as refused:
        person_data.export_person_data(actor=officer, resident=person.resident)

    assert refused.value.error_dict["resident"][0].code == "out_of_scope"


# --- anonymise --------------------------------------------------------------------------------


def test_anonymising_keeps_every_count_and_a_recompute_finds_no_drift(person: Person, commune_officer: User):
    province_id = person.resident.province_id
    assert recompute.recompute_province(province_id=province_id).drift == []
    before = _counts()
    assert any(numerator for _v, _i, numerator, _d in before)  # the adoption is counted

    privacy.anonymise_resident(actor=commune_officer, resident=person.resident, reason="erasure request by phone")

    assert _counts() == before
    assert recompute.recompute_province(province_id=province_id).drift == []
    assert _counts() == before


def test_anonymising_removes_who_the_person_is_and_keeps_what_they_count_for(person: Person, commune_officer: User):
    resident = privacy.anonymise_resident(actor=commune_officer, resident=person.resident, reason="erasure request")

    resident.refresh_from_db()
    assert resident.full_name.endswith(f"#{resident.pk}")
    assert "Lan" not in resident.full_name
    assert (resident.citizen_id_ciphertext, resident.citizen_id_hash, resident.citizen_id_masked) == ("", None, "")
    assert (resident.phone_ciphertext, resident.phone_hash, resident.phone_masked) == ("", None, "")
    assert resident.ethnicity == ""
    assert AssistanceLog.objects.get(pk=person.log.pk).note == ""
    person.household.refresh_from_db()
    assert person.household.head_name == ""
    # What counts stays: village, household, sex, birth (March: the date is kept), status, adoption.
    assert (resident.village_id, resident.household_id, resident.sex) == (
        person.resident.village_id,
        person.household.pk,
        Sex.FEMALE,
    )
    assert resident.birth_date == dt.date(1980, 3, 14)
    assert resident.status == ResidentStatus.ACTIVE
    assert resident.adoptions.filter(capability=person.smartphone, ended_on__isnull=True).exists()
    # The trail has the erasure, its reason, and the notes cleared.
    [event] = _events(resident, "anonymised")
    assert event.actor == commune_officer
    assert event.additional_data["reason"] == "erasure request"
    assert _events(resident, "identifiers_erased")
    assert AuditEntry.objects.filter(
        content_type__model="assistancelog", object_pk=str(person.log.pk), action=AuditEntry.Action.UPDATE
    ).exists()


def test_a_birth_date_is_dropped_only_where_the_counted_birth_month_stays(area_tree: AreaTree, superuser: User):
    july = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_date=dt.date(1990, 7, 21))
    index = july.birth_month_index

    privacy.anonymise_resident(actor=superuser, resident=july, reason="request")

    july.refresh_from_db()
    assert july.birth_date is None
    assert (july.birth_year, july.birth_month_index) == (1990, index)


def test_anonymising_needs_a_reason(person: Person, superuser: User):
    with pytest.raises(ValidationError) as refused:
        privacy.anonymise_resident(actor=superuser, resident=person.resident, reason="  ")

    assert "reason" in refused.value.error_dict


# --- retention --------------------------------------------------------------------------------


def test_purge_clears_old_notes_only_and_a_rerun_does_nothing(person: Person, member: User, team, settings):
    settings.FIELDTEAM_RETENTION_NOTES_DAYS = 730
    old = log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.now() - dt.timedelta(days=800),
        channel=AssistanceChannel.PHONE,
        resident=person.resident,
        items=[ItemInput(person.smartphone, AssistanceOutcome.DONE)],
        note="old note about the family",
    )

    first = privacy.purge_expired()
    entries = AuditEntry.objects.count()
    second = privacy.purge_expired()

    assert first["notes"] == 1
    assert AssistanceLog.objects.get(pk=old.pk).note == ""
    assert AssistanceLog.objects.get(pk=person.log.pk).note == "Chị Lan ở nhà con gái, số nhà 12"
    assert AuditEntry.objects.filter(content_type__model="assistancelog", object_pk=str(old.pk)).count() == 2
    assert second == {"notes": 0, "identifiers": 0, "job_files": 0}
    assert AuditEntry.objects.count() == entries


def test_purge_erases_identifiers_of_people_who_left_long_ago(area_tree: AreaTree, settings):
    settings.FIELDTEAM_RETENTION_IDENTIFIERS_DAYS = 365
    household = HouseholdFactory(village=area_tree.village)
    moved, died, recent, living = (ResidentFactory(household=household, with_ids=True) for _ in range(4))
    today = timezone.localdate()
    people.record_departure(actor=None, resident=moved, status=ResidentStatus.MOVED_OUT, on=dt.date(2020, 5, 1))
    people.record_departure(actor=None, resident=died, status=ResidentStatus.DECEASED, on=dt.date(2021, 1, 9))
    people.record_departure(
        actor=None, resident=recent, status=ResidentStatus.MOVED_OUT, on=today - dt.timedelta(days=30)
    )

    assert privacy.purge_expired()["identifiers"] == 2
    assert privacy.purge_expired()["identifiers"] == 0

    held = dict(Resident.objects.filter(household=household).values_list("pk", "citizen_id_hash"))
    assert held[moved.pk] is None and held[died.pk] is None
    assert held[recent.pk] is not None and held[living.pk] is not None
    assert _events(moved, "identifiers_erased")[0].additional_data["reason"] == "retention"


def test_the_period_is_counted_from_now_as_given(area_tree: AreaTree, settings):
    settings.FIELDTEAM_RETENTION_IDENTIFIERS_DAYS = 365
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), with_ids=True)
    people.record_departure(actor=None, resident=resident, status=ResidentStatus.MOVED_OUT, on=dt.date(2025, 3, 1))

    assert privacy.purge_expired(now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))["identifiers"] == 0
    assert privacy.purge_expired(now=dt.datetime(2026, 3, 5, tzinfo=dt.UTC))["identifiers"] == 1


def test_purge_deletes_the_files_of_old_finished_jobs(superuser: User, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.FIELDTEAM_RETENTION_JOB_FILES_DAYS = 30
    now = timezone.now()

    def job(finished_days_ago: int | None, status: str = JobStatus.DONE) -> BackgroundJob:
        made = BackgroundJob(kind=JobKind.EXPORT, name="residents", status=status, created_by=superuser)
        made.finished_at = None if finished_days_ago is None else now - dt.timedelta(days=finished_days_ago)
        made.result_file.save("residents.xlsx", ContentFile(b"names and phones"), save=False)
        made.save()
        return made

    old, recent, running = job(45), job(5), job(None, JobStatus.RUNNING)
    old_path = tmp_path / old.result_file.name

    assert privacy.purge_expired(now=now)["job_files"] == 1
    assert privacy.purge_expired(now=now)["job_files"] == 0

    old.refresh_from_db()
    assert not old.result_file and not old_path.exists()
    assert (tmp_path / recent.result_file.name).exists()
    assert (tmp_path / running.result_file.name).exists()


def test_the_nightly_beat_task_runs_the_purge(person: Person, settings):
    settings.FIELDTEAM_RETENTION_NOTES_DAYS = 0  # every note is past its period

    assert "fieldteam.tasks.purge_expired_personal_data" in {
        entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()
    }
    assert purge_expired_personal_data.delay().get()["notes"] == 1
    assert AssistanceLog.objects.get(pk=person.log.pk).note == ""
