"""Likely duplicates are listed for officers and merged keeping both histories and the counts right."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from fieldteam.choices import AdoptionSource, AssistanceChannel, AssistanceOutcome, ConsentChannel, ResidentStatus, Sex
from fieldteam.models import Adoption, AssistanceLog, ConsentRecord, Resident, TrainingAttendance, TrainingSession
from fieldteam.periods import today
from fieldteam.rollup import recompute
from fieldteam.selectors.duplicates import SAME_NAME_YEAR_HOUSEHOLD, likely_duplicate_residents
from fieldteam.services.adoption import set_adoption
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.duplicates import merge_residents
from tests.factories import HouseholdFactory, ResidentFactory, make_citizen_id, make_phone

pytestmark = pytest.mark.django_db


@pytest.fixture
def twins(area_tree, catalogue):
    """One person registered twice in one household, each record with a history of its own."""
    household = HouseholdFactory(village=area_tree.village)
    keep = ResidentFactory(household=household, full_name="Nguyễn Thị Hoa", birth_year=1980, sex=Sex.FEMALE)
    duplicate = ResidentFactory(
        household=household,
        full_name="nguyễn thị hoa",
        birth_year=1980,
        sex=Sex.FEMALE,
        citizen_id=make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=42),
        phone=make_phone(42),
    )
    return keep, duplicate


def adopt(resident, capability, since):
    set_adoption(actor=None, capability=capability, since=since, source=AdoptionSource.SURVEY, resident=resident)


def test_likely_duplicates_are_listed_within_the_officers_area(area_tree, twins, commune_officer):
    ResidentFactory(household=HouseholdFactory(village=area_tree.other_village), full_name="A", birth_year=1990)
    ResidentFactory(
        household=HouseholdFactory(village=area_tree.other_village), full_name="A", birth_year=1990
    )  # other households
    far = HouseholdFactory(village=area_tree.far_village)
    ResidentFactory(household=far, full_name="B", birth_year=1970)
    ResidentFactory(household=far, full_name="B", birth_year=1970)

    groups = likely_duplicate_residents(actor=commune_officer)

    assert len(groups) == 1
    assert groups[0].reason == SAME_NAME_YEAR_HOUSEHOLD
    assert {r.pk for r in groups[0].residents} == {r.pk for r in twins}
    assert groups[0].keep_candidate == twins[1]  # the record with the citizen ID


def test_a_merge_keeps_both_histories_and_the_counts_right(area_tree, catalogue, twins, team, member):
    keep, duplicate = twins
    adopt(keep, catalogue.smartphone, dt.date(2024, 5, 1))
    adopt(duplicate, catalogue.smartphone, dt.date(2023, 2, 1))  # both held it: the earlier date wins
    adopt(duplicate, catalogue.payment, dt.date(2024, 1, 1))
    log = log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.now(),
        channel=AssistanceChannel.PHONE,
        items=[ItemInput(catalogue.skills, AssistanceOutcome.DONE)],
        resident=duplicate,
    )
    session = TrainingSession.objects.create(
        province=area_tree.province,
        team=team,
        village=area_tree.village,
        topic="Kỹ năng số",
        started_at=timezone.now(),
        trainer=member,
        capability=catalogue.skills,
    )
    TrainingAttendance.objects.create(province=area_tree.province, session=session, resident=keep, completed=False)
    TrainingAttendance.objects.create(province=area_tree.province, session=session, resident=duplicate, completed=True)
    ConsentRecord.objects.create(
        province=area_tree.province,
        resident=duplicate,
        purposes=["statistics"],
        channel=ConsentChannel.PAPER,
        notice_version="1",
        given_at=timezone.now(),
        recorded_by=member,
    )
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []

    kept = merge_residents(actor=None, keep=keep, duplicate=duplicate)

    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.merged_into, duplicate.left_on, duplicate.capability_mask) == (
        ResidentStatus.MERGED,
        kept,
        today(),
        0,
    )
    assert kept.capability_mask == catalogue.smartphone.mask | catalogue.payment.mask | catalogue.skills.mask
    assert kept.citizen_id_hash and not duplicate.citizen_id_hash and kept.phone_masked.endswith("042")
    adoptions = Adoption.objects.filter(resident=kept)
    assert adoptions.count() == 4 and not Adoption.objects.filter(resident=duplicate).exists()
    smartphone = adoptions.filter(capability=catalogue.smartphone)
    assert smartphone.get(ended_on__isnull=True).since == dt.date(2023, 2, 1)
    assert smartphone.filter(ended_on__isnull=False).count() == 1  # the other record's, kept as history
    assert AssistanceLog.objects.get(pk=log.pk).resident == kept
    assert TrainingAttendance.objects.get(session=session).resident == kept
    assert TrainingAttendance.objects.get(session=session).completed
    assert set(ConsentRecord.objects.values_list("resident", flat=True)) == {kept.pk}
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []
    assert likely_duplicate_residents(actor=member) == []


def test_a_merge_is_refused_for_the_same_record_a_merged_one_or_outside_the_area(area_tree, twins, commune_officer):
    keep, duplicate = twins
    with pytest.raises(ValidationError):
        merge_residents(actor=None, keep=keep, duplicate=keep)
    far = ResidentFactory(
        household=HouseholdFactory(village=area_tree.far_village), full_name="Nguyễn Thị Hoa", birth_year=1980
    )
    with pytest.raises(ValidationError) as error:
        merge_residents(actor=commune_officer, keep=keep, duplicate=far)
    assert "duplicate" in error.value.message_dict
    merge_residents(actor=commune_officer, keep=keep, duplicate=duplicate)
    with pytest.raises(ValidationError) as error:
        merge_residents(actor=None, keep=duplicate, duplicate=keep)
    assert error.value.message_dict["keep"]
    assert Resident.objects.get(pk=keep.pk).status == ResidentStatus.ACTIVE
