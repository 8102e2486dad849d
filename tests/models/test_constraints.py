"""The database itself refuses rows that break the domain's invariants.

Every test writes with ``Model.objects.create`` / ``.save()`` / ``.update()``, bypassing forms,
``full_clean()`` and the services, because admin actions, imports and raw SQL can do the same:
the constraint must hold anyway. Each violation runs in its own ``transaction.atomic()`` so the
test's transaction survives it (PostgreSQL aborts a transaction on an error otherwise).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from fieldteam.choices import (
    AdoptionSource,
    AssistanceChannel,
    AssistanceOutcome,
    IndicatorKind,
    NotDoneReason,
    PeriodKind,
    PopulationKind,
    ResidentStatus,
    Sex,
)
from fieldteam.identifiers import citizen_id_hash
from fieldteam.models import (
    Adoption,
    Area,
    AssistanceItem,
    AssistanceLog,
    Capability,
    Household,
    IndicatorValue,
    Membership,
    Resident,
    Target,
)
from fieldteam.models.capabilities import MAX_CAPABILITY_BIT
from tests.factories import (
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    ProvinceFactory,
    ResidentFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
    VillageFactory,
)

pytestmark = pytest.mark.django_db


@contextmanager
def refused() -> Iterator[None]:
    """The write inside must be refused by the database (rolling back only its own savepoint)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


# These helpers write households and residents straight into the table on purpose: these tests are
# about the database's own guard, which must hold even for rows that never went through
# fieldteam.services.people (everywhere else, use HouseholdFactory/ResidentFactory, which do).


def raw_household(village: Area, **fields: object) -> Household:
    return Household.objects.create(province_id=village.province_id, village=village, **fields)


def raw_resident(household: Household, **fields: object) -> Resident:
    values: dict[str, object] = {"full_name": "Nguyễn Văn An", "sex": Sex.MALE, "birth_year": 1985}
    values.update(fields)
    return Resident.objects.create(
        province_id=household.province_id, village_id=household.village_id, household=household, **values
    )


@pytest.fixture
def village() -> Area:
    return VillageFactory()


@pytest.fixture
def household(village: Area) -> Household:
    return raw_household(village)


@pytest.fixture
def resident(household: Household) -> Resident:
    return raw_resident(household)


# --- adoptions ---------------------------------------------------------------------------------


def _adoption(**fields: object) -> Adoption:
    values: dict[str, object] = {"since": dt.date(2025, 3, 1), "source": AdoptionSource.SURVEY}
    values.update(fields)
    return Adoption.objects.create(**values)


def test_an_adoption_needs_exactly_one_subject(resident: Resident, household: Household) -> None:
    capability = CapabilityFactory()
    province_id = household.province_id
    # Neither a resident nor a household
    with refused():
        _adoption(province_id=province_id, capability=capability)
    # Both at once
    with refused():
        _adoption(province_id=province_id, capability=capability, resident=resident, household=household)
    # One of them is fine
    _adoption(province_id=province_id, capability=capability, resident=resident)
    _adoption(province_id=province_id, capability=CapabilityFactory(for_household=True), household=household)


def test_a_resident_holds_a_capability_through_one_open_adoption_only(resident: Resident) -> None:
    # Given an open adoption of a capability
    capability = CapabilityFactory()
    first = _adoption(province_id=resident.province_id, capability=capability, resident=resident)
    # When a second open one is written for the same resident and capability
    # Then the database refuses it
    with refused():
        _adoption(province_id=resident.province_id, capability=capability, resident=resident)
    # But once the first is ended, a new open adoption is allowed (history is kept)
    first.ended_on = dt.date(2025, 6, 1)
    first.save(update_fields=["ended_on"])
    _adoption(province_id=resident.province_id, capability=capability, resident=resident, since=dt.date(2025, 7, 1))
    # And another resident may hold the same capability
    other = raw_resident(resident.household, full_name="Trần Thị Bình", sex=Sex.FEMALE)
    _adoption(province_id=resident.province_id, capability=capability, resident=other)


def test_a_household_holds_a_capability_through_one_open_adoption_only(household: Household) -> None:
    capability = CapabilityFactory(for_household=True)
    _adoption(province_id=household.province_id, capability=capability, household=household)
    with refused():
        _adoption(province_id=household.province_id, capability=capability, household=household)


def test_an_adoption_cannot_end_before_it_began(resident: Resident) -> None:
    with refused():
        _adoption(
            province_id=resident.province_id,
            capability=CapabilityFactory(),
            resident=resident,
            since=dt.date(2025, 3, 1),
            ended_on=dt.date(2025, 2, 28),
        )


# --- residents ---------------------------------------------------------------------------------


def test_a_citizen_id_belongs_to_one_resident(household: Household) -> None:
    # Given a resident with a citizen ID
    the_hash = citizen_id_hash("001085123456")
    raw_resident(household, citizen_id_hash=the_hash)
    # When another row carries the same keyed hash
    # Then the database refuses the duplicate, even in another village
    elsewhere = raw_household(VillageFactory())
    with refused():
        raw_resident(elsewhere, full_name="Lê Văn Cường", citizen_id_hash=the_hash)


def test_residents_without_a_citizen_id_do_not_collide(household: Household) -> None:
    # Residents with no CCCD keep NULL in the hash column, which the unique constraint ignores
    raw_resident(household, citizen_id_hash=None)
    raw_resident(household, full_name="Trần Thị Bình", citizen_id_hash=None)
    assert Resident.objects.filter(citizen_id_hash__isnull=True).count() == 2


def test_residents_registered_without_a_citizen_id_do_not_collide(people_services, village: Area) -> None:
    # Given two residents registered through the service with no citizen ID
    # Then both are stored (the service keeps NULL, not "", in the unique hash column)
    household = HouseholdFactory(village=village)
    first = ResidentFactory(household=household)
    second = ResidentFactory(household=household, full_name="Trần Thị Bình")
    assert first.citizen_id_hash is None
    assert second.citizen_id_hash is None


def test_a_resident_has_a_left_on_date_exactly_when_not_living_here(household: Household) -> None:
    # Living here with a departure date: refused
    with refused():
        raw_resident(household, status=ResidentStatus.ACTIVE, left_on=dt.date(2025, 1, 1))
    # Moved out or deceased without a date: refused
    for status in (ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED):
        with refused():
            raw_resident(household, status=status, left_on=None)
    # Consistent rows are fine
    raw_resident(household, status=ResidentStatus.ACTIVE, left_on=None)
    raw_resident(household, status=ResidentStatus.DECEASED, left_on=dt.date(2025, 1, 1))


def test_leaving_without_a_date_is_refused_on_update_too(resident: Resident) -> None:
    with refused():
        Resident.objects.filter(pk=resident.pk).update(status=ResidentStatus.MOVED_OUT)


def test_a_resident_needs_a_name_a_known_sex_and_a_plausible_birth_year(household: Household) -> None:
    with refused():
        raw_resident(household, full_name="")
    with refused():
        raw_resident(household, sex="other")
    with refused():
        raw_resident(household, birth_year=1700)


def test_the_birth_month_index_stays_inside_the_birth_year(resident: Resident) -> None:
    # Written by save() from the birth fields; an update() that bypasses it is still checked
    with refused():
        Resident.objects.filter(pk=resident.pk).update(birth_month_index=2000 * 12)


# --- teams -------------------------------------------------------------------------------------


def test_a_membership_cannot_end_before_it_started() -> None:
    with refused():
        MembershipFactory(started_on=dt.date(2025, 5, 1), ended_on=dt.date(2025, 4, 30))
    # Ending the same day it started is allowed
    MembershipFactory(started_on=dt.date(2025, 5, 1), ended_on=dt.date(2025, 5, 1))


def test_a_person_has_one_open_membership_per_team() -> None:
    # Given an open membership
    first = MembershipFactory()
    # When a second open one for the same person and team is written: refused
    with refused():
        Membership.objects.create(team=first.team, user=first.user, started_on=dt.date(2025, 1, 1))
    # Past memberships are history and do not count
    first.ended_on = dt.date(2024, 12, 31)
    first.save(update_fields=["ended_on"])
    Membership.objects.create(team=first.team, user=first.user, started_on=dt.date(2025, 1, 1))
    Membership.objects.create(
        team=first.team, user=first.user, started_on=dt.date(2020, 1, 1), ended_on=dt.date(2020, 12, 31)
    )
    # And the same person may be in another team at the same time
    MembershipFactory(user=first.user)


def test_a_membership_role_must_be_known() -> None:
    with refused():
        MembershipFactory(role="boss")


# --- indicators and targets --------------------------------------------------------------------


def test_a_target_is_unique_per_indicator_area_and_year() -> None:
    target = TargetFactory(year=2025)
    with refused():
        Target.objects.create(indicator=target.indicator, area=target.area, year=2025, value=Decimal("90"))
    # Another year, or another area, is another target
    Target.objects.create(indicator=target.indicator, area=target.area, year=2030, value=Decimal("95"))
    Target.objects.create(indicator=target.indicator, area=ProvinceFactory(), year=2025, value=Decimal("70"))


def test_a_target_value_is_not_negative() -> None:
    with refused():
        TargetFactory(value=Decimal("-0.01"))
    TargetFactory(value=Decimal("0"))


def test_a_computed_indicator_needs_a_capability_and_a_population() -> None:
    # Without a numerator capability
    with refused():
        IndicatorFactory(kind=IndicatorKind.COMPUTED, capability=None)
    # Without a population for the denominator
    with refused():
        IndicatorFactory(kind=IndicatorKind.COMPUTED, population="")
    # A reported indicator carries neither
    with refused():
        IndicatorFactory(reported=True, capability=CapabilityFactory())
    with refused():
        IndicatorFactory(reported=True, population=PopulationKind.RESIDENTS)
    IndicatorFactory()
    IndicatorFactory(reported=True)


def test_indicator_age_bounds_are_ordered_and_households_have_none() -> None:
    with refused():
        IndicatorFactory(min_age=60, max_age=15)
    with refused():
        IndicatorFactory(households=True, min_age=18)
    IndicatorFactory(min_age=15, max_age=15)


def test_an_indicator_value_numerator_never_exceeds_its_denominator() -> None:
    indicator = IndicatorFactory()
    province = ProvinceFactory()
    common = {"province": province, "area": province, "indicator": indicator, "period_kind": PeriodKind.MONTH}
    with refused():
        IndicatorValue.objects.create(**common, period_start=dt.date(2025, 1, 1), numerator=11, denominator=10)
    IndicatorValue.objects.create(**common, period_start=dt.date(2025, 2, 1), numerator=10, denominator=10)
    # Reported values have no denominator
    IndicatorValue.objects.create(**common, period_start=dt.date(2025, 3, 1), value=Decimal("12.5"))
    # And one value per area, indicator and period
    with refused():
        IndicatorValue.objects.create(**common, period_start=dt.date(2025, 2, 1), numerator=1, denominator=10)


# --- capabilities ------------------------------------------------------------------------------


def test_a_capability_bit_fits_the_64_bit_mask() -> None:
    # Bits 0..62 fit a signed 64-bit mask; 63 would make it negative
    with refused():
        Capability.objects.create(code="too-far", name="Too far", subject="resident", bit=MAX_CAPABILITY_BIT + 1)
    Capability.objects.create(code="last", name="Last", subject="resident", bit=MAX_CAPABILITY_BIT)


def test_capability_bits_are_never_shared() -> None:
    capability = CapabilityFactory()
    with refused():
        Capability.objects.create(code="copy", name="Copy", subject="resident", bit=capability.bit)


# --- assistance --------------------------------------------------------------------------------


@pytest.fixture
def log(household: Household) -> AssistanceLog:
    team = TeamFactory(village=household.village)
    return AssistanceLog.objects.create(
        id=uuid.uuid4(),
        province_id=household.province_id,
        team=team,
        member=UserFactory(),
        household=household,
        village=household.village,
        occurred_at=timezone.now(),
        channel=AssistanceChannel.HOME_VISIT,
    )


def test_an_assistance_item_has_a_reason_exactly_when_not_done(log: AssistanceLog) -> None:
    def item(**fields: object) -> AssistanceItem:
        return AssistanceItem.objects.create(
            province_id=log.province_id, log=log, capability=CapabilityFactory(), **fields
        )

    # Done, with a reason: refused
    with refused():
        item(outcome=AssistanceOutcome.DONE, reason=NotDoneReason.NO_DEVICE)
    # Not done, without saying why: refused
    with refused():
        item(outcome=AssistanceOutcome.NOT_DONE, reason="")
    # The consistent pairs are fine
    item(outcome=AssistanceOutcome.DONE, reason="")
    item(outcome=AssistanceOutcome.NOT_DONE, reason=NotDoneReason.DECLINED)


def test_an_assistance_log_is_about_exactly_one_subject(log: AssistanceLog, resident: Resident) -> None:
    common = {
        "province_id": log.province_id,
        "team": log.team,
        "member": log.member,
        "village": log.village,
        "occurred_at": timezone.now(),
        "channel": AssistanceChannel.PHONE,
    }
    with refused():
        AssistanceLog.objects.create(id=uuid.uuid4(), **common)
    with refused():
        AssistanceLog.objects.create(id=uuid.uuid4(), resident=resident, household=log.household, **common)
    AssistanceLog.objects.create(id=uuid.uuid4(), resident=resident, **common)


def test_a_capability_is_logged_once_per_assistance_log(log: AssistanceLog) -> None:
    capability = CapabilityFactory()
    AssistanceItem.objects.create(province_id=log.province_id, log=log, capability=capability, outcome="done")
    with refused():
        AssistanceItem.objects.create(province_id=log.province_id, log=log, capability=capability, outcome="done")
