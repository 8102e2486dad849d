"""Consent comes before identifiers; withdrawal erases them and keeps the counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from fieldteam.choices import Sex
from fieldteam.models import AuditEntry, ConsentRecord, Resident, VillageCount
from fieldteam.rollup import recompute
from fieldteam.services import consent, people
from fieldteam.services.consent import ConsentInput
from tests.factories import CapabilityFactory, HouseholdFactory, IndicatorFactory, ResidentFactory, make_citizen_id

pytestmark = pytest.mark.django_db


def register(area_tree, member, **kwargs):
    defaults = {"full_name": "Rơ Châm H'Nga", "sex": Sex.FEMALE, "birth_year": 1990}
    return people.register_resident(
        actor=member, household=HouseholdFactory(village=area_tree.village), **{**defaults, **kwargs}
    )


def error_fields(excinfo: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(excinfo.value.message_dict)


def test_identifiers_without_consent_are_refused_and_nothing_is_saved(area_tree, member) -> None:
    before = Resident.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        register(area_tree, member, phone="0912345678")
    assert error_fields(excinfo) == {"consent"}
    assert Resident.objects.count() == before
    assert not ConsentRecord.objects.exists()


def test_a_resident_without_identifiers_needs_no_consent(area_tree, member) -> None:
    resident = register(area_tree, member)
    assert resident.pk and not resident.consents.exists()


def test_consent_given_with_the_registration_is_recorded_with_who_how_and_which_notice(area_tree, member) -> None:
    cccd = make_citizen_id(birth_year=1990, sex=Sex.FEMALE)
    resident = register(area_tree, member, citizen_id=cccd, consent=ConsentInput(channel="in_person"))
    record = resident.consents.get()
    assert record.recorded_by == member
    assert record.channel == "in_person"
    assert record.notice_version == consent.CURRENT_NOTICE_VERSION
    assert "digital_assistance" in record.purposes
    assert resident.citizen_id_hash


@pytest.mark.parametrize(
    ("given", "field"),
    [
        (lambda: ConsentInput(channel="carrier pigeon"), "consent.channel"),
        (lambda: ConsentInput(channel="paper", notice_version="1999-01"), "consent.notice_version"),
        (lambda: ConsentInput(channel="paper", purposes=("selling data",)), "consent.purposes"),
        (lambda: ConsentInput(channel="paper", purposes=()), "consent.purposes"),
        (lambda: ConsentInput(channel="paper", given_at=timezone.now() + dt.timedelta(days=2)), "consent.given_at"),
    ],
)
def test_a_bad_consent_names_its_field_and_saves_nothing(area_tree, member, given, field) -> None:
    with pytest.raises(ValidationError) as excinfo:
        register(area_tree, member, phone="0912345678", consent=given())
    assert error_fields(excinfo) == {field}
    assert not Resident.objects.exists() and not ConsentRecord.objects.exists()


def test_a_consent_for_statistics_only_does_not_allow_identifiers(area_tree, member) -> None:
    resident = register(area_tree, member)
    consent.record_consent(
        actor=member, resident=resident, consent=ConsentInput(channel="paper", purposes=("statistics",))
    )
    with pytest.raises(ValidationError) as excinfo:
        people.update_resident(actor=member, resident=resident, phone="0912345678")
    assert error_fields(excinfo) == {"consent"}


def test_a_consent_on_file_allows_adding_identifiers_later(area_tree, member) -> None:
    resident = register(area_tree, member)
    consent.record_consent(actor=member, resident=resident, consent=ConsentInput(channel="paper"))
    updated = people.update_resident(actor=member, resident=resident, phone="0912345678")
    assert updated.phone_masked.endswith("678")


def test_withdrawal_erases_identifiers_keeps_counts_and_is_in_the_trail(area_tree, member) -> None:
    smartphone = CapabilityFactory(code="smartphone")
    IndicatorFactory(capability=smartphone)
    resident = ResidentFactory(household__village=area_tree.village, with_ids=True)
    from fieldteam.services.adoption import set_adoption

    set_adoption(actor=None, capability=smartphone, since=timezone.localdate(), source="survey", resident=resident)
    counts_before = sorted(VillageCount.objects.values_list("village_id", "indicator_id", "numerator", "denominator"))

    withdrawn = consent.withdraw_consent(actor=member, resident=resident)

    resident.refresh_from_db()
    assert withdrawn == 1
    assert resident.consents.get().withdrawn_recorded_by == member
    assert not resident.citizen_id_ciphertext and resident.citizen_id_hash is None and not resident.citizen_id_masked
    assert not resident.phone_ciphertext and resident.phone_hash is None and not resident.phone_masked
    assert resident.adoptions.filter(ended_on__isnull=True).count() == 1
    assert (
        sorted(VillageCount.objects.values_list("village_id", "indicator_id", "numerator", "denominator"))
        == counts_before
    )
    assert recompute.recompute_province(province_id=area_tree.province.pk).drift == []
    erased = AuditEntry.objects.filter(object_pk=str(resident.pk), additional_data__event="identifiers_erased").get()
    assert erased.additional_data["reason"] == "consent_withdrawn"
    assert erased.area_id == area_tree.village.pk


def test_withdrawal_outside_the_actors_area_is_refused(area_tree, member) -> None:
    resident = ResidentFactory(household__village=area_tree.far_village, with_ids=True)
    with pytest.raises(ValidationError) as excinfo:
        consent.withdraw_consent(actor=member, resident=resident)
    assert error_fields(excinfo) == {"resident"}
    resident.refresh_from_db()
    assert resident.citizen_id_hash and resident.consents.get().withdrawn_at is None
