"""Registering and correcting residents: identifiers checked, stored encrypted, nothing partial saved."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from fieldteam import identifiers
from fieldteam.choices import Sex
from fieldteam.models import Household, Resident
from fieldteam.services import people
from fieldteam.services.consent import ConsentInput
from tests.factories import HouseholdFactory, ResidentFactory, make_citizen_id, make_phone


def test_identifiers_are_stored_encrypted_hashed_and_masked(area_tree):
    citizen_id = make_citizen_id(birth_year=1990, sex=Sex.MALE)
    resident = people.register_resident(
        actor=None,
        household=HouseholdFactory(village=area_tree.village),
        full_name="  Trần  Văn  Bình ",
        sex=Sex.MALE,
        birth_year=1990,
        citizen_id=citizen_id,
        phone="+84 912 345 678",
        consent=ConsentInput(channel="in_person"),
    )
    resident.refresh_from_db()
    assert resident.full_name == "Trần Văn Bình"
    assert citizen_id not in resident.citizen_id_ciphertext
    assert identifiers.decrypt(resident.citizen_id_ciphertext) == citizen_id
    assert resident.citizen_id_masked == "*********" + citizen_id[-3:]
    assert Resident.objects.get(phone_hash=identifiers.phone_hash("0912345678")) == resident


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("citizen_id", {"citizen_id": make_citizen_id(birth_year=1991, sex=Sex.MALE)}),  # year disagrees
        ("citizen_id", {"citizen_id": make_citizen_id(birth_year=1990, sex=Sex.FEMALE)}),  # sex disagrees
        ("citizen_id", {"citizen_id": "12345"}),
        ("phone", {"phone": "0123"}),
        ("full_name", {"full_name": "   "}),
        ("sex", {"sex": "other"}),
        ("birth_year", {"birth_year": None}),
        ("birth_year", {"birth_year": 1850}),
        ("birth_date", {"birth_date": dt.date(2999, 1, 1), "birth_year": None}),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(area_tree, field, kwargs):
    household = HouseholdFactory(village=area_tree.village)
    arguments = {"full_name": "Lê Thị Hoa", "sex": Sex.MALE, "birth_year": 1990, **kwargs}
    with pytest.raises(ValidationError) as error:
        people.register_resident(actor=None, household=household, **arguments)
    assert field in error.value.message_dict
    assert not Resident.objects.exists()


def test_a_citizen_id_is_registered_once(area_tree):
    citizen_id = make_citizen_id(birth_year=1980, sex=Sex.FEMALE)
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1980, citizen_id=citizen_id)
    with pytest.raises(ValidationError) as error:
        ResidentFactory(
            household=HouseholdFactory(village=area_tree.village2),
            birth_year=1980,
            citizen_id=citizen_id[:3] + " " + citizen_id[3:],  # another spelling of the same number
        )
    assert "citizen_id" in error.value.message_dict
    assert Resident.objects.count() == 1


def test_correcting_the_sex_is_refused_when_the_citizen_id_disagrees(area_tree):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1980, with_ids=True)
    with pytest.raises(ValidationError) as error:
        people.update_resident(actor=None, resident=resident, sex=Sex.MALE)
    assert "sex" in error.value.message_dict
    resident.refresh_from_db()
    assert resident.sex == Sex.FEMALE


def test_a_new_birth_year_keeps_a_date_of_that_year_and_drops_another(area_tree):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_date=dt.date(1980, 5, 2))
    people.update_resident(actor=None, resident=resident, birth_year=1980)
    resident.refresh_from_db()
    assert resident.birth_date == dt.date(1980, 5, 2)
    people.update_resident(actor=None, resident=resident, birth_year=1981)
    resident.refresh_from_db()
    assert (resident.birth_date, resident.birth_year) == (None, 1981)


def test_a_member_cannot_register_in_another_village(area_tree, member):
    with pytest.raises(ValidationError) as error:
        people.register_household(actor=member, village=area_tree.other_village)
    assert "village" in error.value.message_dict
    assert not Household.objects.filter(village=area_tree.other_village).exists()


def test_a_move_to_another_province_is_refused(area_tree):
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village))
    with pytest.raises(ValidationError) as error:
        people.move_resident(actor=None, resident=resident, household=HouseholdFactory(village=area_tree.far_village))
    assert "household" in error.value.message_dict
    resident.refresh_from_db()
    assert resident.village == area_tree.village


def test_a_phone_number_is_not_a_unique_key(area_tree):
    # Family members often share one phone: the phone hash is an index, not a constraint.
    phone = make_phone(5550001)
    for _ in range(2):
        ResidentFactory(household=HouseholdFactory(village=area_tree.village), phone=phone)
    assert Resident.objects.filter(phone_hash=identifiers.phone_hash(phone)).count() == 2


def test_a_log_stamped_just_after_midnight_by_a_fast_phone_clock_counts_from_today(area_tree, member, team):
    import datetime as _dt
    from zoneinfo import ZoneInfo

    from freezegun import freeze_time

    from fieldteam.choices import AssistanceChannel, AssistanceOutcome
    from fieldteam.services.assistance import ItemInput, log_assistance
    from tests.factories import IndicatorFactory

    indicator = IndicatorFactory(min_age=18)
    resident = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    local = ZoneInfo("Asia/Ho_Chi_Minh")
    with freeze_time(_dt.datetime(2026, 3, 10, 23, 58, tzinfo=local)):
        log_assistance(
            actor=member,
            team=team,
            resident=resident,
            channel=AssistanceChannel.HOME_VISIT,
            occurred_at=_dt.datetime(2026, 3, 11, 0, 3, tzinfo=local),  # within the clock-skew tolerance
            items=[ItemInput(indicator.capability, AssistanceOutcome.DONE)],
        )
    assert resident.adoptions.get().since == _dt.date(2026, 3, 10)
