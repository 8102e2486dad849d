"""``set_adoptions``: one subject's adoptions of several capabilities, as ``set_adoption`` one by one."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldteam.choices import AdoptionSource
from fieldteam.models import Adoption, Household, Resident, VillageCount
from fieldteam.periods import today
from fieldteam.services import adoption as adoption_services
from tests.factories import CapabilityFactory, HouseholdFactory, IndicatorFactory, ResidentFactory

DAY = dt.date(2025, 3, 10)


@pytest.fixture
def indicators(db):
    return [IndicatorFactory(min_age=18) for _ in range(3)]


@pytest.fixture
def household_indicator(db):
    return IndicatorFactory(households=True)


def counts(village, indicators) -> list[tuple[int, int]]:
    rows = {r.indicator_id: r for r in VillageCount.objects.filter(village=village)}
    return [(rows[i.pk].numerator, rows[i.pk].denominator) if i.pk in rows else (0, 0) for i in indicators]


def adult(village) -> Resident:
    return ResidentFactory(household=HouseholdFactory(village=village), birth_year=1990)


def batch(subject, capabilities, *, since=DAY, source=AdoptionSource.ASSISTANCE, actor=None):
    return adoption_services.set_adoptions(
        actor=actor, subject=subject, capabilities=capabilities, since=since, source=source
    )


def test_a_batch_writes_what_one_by_one_writes(area_tree, indicators):
    capabilities = [i.capability for i in indicators]
    one_by_one, batched = adult(area_tree.village), adult(area_tree.village2)
    for capability in capabilities:
        adoption_services.set_adoption(
            actor=None, capability=capability, since=DAY, source=AdoptionSource.ASSISTANCE, resident=one_by_one
        )
    adoptions = batch(batched, capabilities)

    assert [a.capability_id for a in adoptions] == [c.pk for c in capabilities]
    assert all(a.pk is not None and a.resident_id == batched.pk and a.since == DAY for a in adoptions)
    one_by_one.refresh_from_db()
    batched.refresh_from_db()
    assert batched.capability_mask == one_by_one.capability_mask != 0
    assert counts(area_tree.village2, indicators) == counts(area_tree.village, indicators) == [(1, 1)] * 3


def test_a_batch_is_idempotent_and_an_earlier_date_moves_the_start_back(area_tree, indicators):
    capabilities = [i.capability for i in indicators]
    resident = adult(area_tree.village)
    first = batch(resident, capabilities[:2])
    again = batch(resident, capabilities, since=DAY - dt.timedelta(days=5))  # two held, one new
    later = batch(resident, capabilities, since=DAY + dt.timedelta(days=5))

    assert [a.pk for a in again[:2]] == [a.pk for a in first]
    assert [a.pk for a in later] == [a.pk for a in again]
    assert Adoption.objects.filter(resident=resident).count() == 3
    assert set(Adoption.objects.filter(resident=resident).values_list("since", flat=True)) == {
        DAY - dt.timedelta(days=5)
    }
    assert counts(area_tree.village, indicators) == [(1, 1)] * 3


def test_a_capability_given_twice_is_adopted_once(area_tree, indicators):
    capability = indicators[0].capability
    resident = adult(area_tree.village)
    adoptions = batch(resident, [capability, capability])
    assert adoptions[0].pk == adoptions[1].pk
    assert Adoption.objects.filter(resident=resident).count() == 1
    assert counts(area_tree.village, indicators[:1]) == [(1, 1)]


def test_a_household_batch(area_tree, household_indicator):
    household = HouseholdFactory(village=area_tree.village)
    [adoption] = batch(household, [household_indicator.capability])
    assert adoption.household_id == household.pk and adoption.resident_id is None
    assert Household.objects.get(pk=household.pk).capability_mask == household_indicator.capability.mask
    assert counts(area_tree.village, [household_indicator]) == [(1, 1)]


def test_nothing_to_adopt_writes_nothing(area_tree, indicators):
    resident = adult(area_tree.village)
    with CaptureQueriesContext(connection) as queries:
        assert batch(resident, []) == []
    assert not [q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_the_queries_do_not_grow_with_the_capabilities(area_tree, indicators):
    capabilities = [i.capability for i in indicators]
    first, second = adult(area_tree.village), adult(area_tree.village)
    # The province's counting rules are read once per process (caches start empty in each test).
    batch(adult(area_tree.village), capabilities[:1])
    with CaptureQueriesContext(connection) as one:
        batch(first, capabilities[:1])
    with CaptureQueriesContext(connection) as three:
        batch(second, capabilities)
    assert len(three.captured_queries) == len(one.captured_queries)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"subject": None}, "resident", "one_subject"),
        ({"household_capability": True}, "capability", "subject"),
        ({"inactive": True}, "capability", "inactive"),
        ({"since": "future"}, "since", "future"),
        ({"source": "rumour"}, "source", "invalid_choice"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(area_tree, indicators, change, field, code):
    resident = adult(area_tree.village)
    capabilities = [i.capability for i in indicators]
    if change.get("household_capability"):
        capabilities.append(CapabilityFactory(for_household=True))
    if change.get("inactive"):
        inactive = CapabilityFactory()
        inactive.is_active = False
        inactive.save()
        capabilities.append(inactive)
    with pytest.raises(ValidationError) as error:
        batch(
            change.get("subject", resident),
            capabilities,
            since=today() + dt.timedelta(days=2) if change.get("since") else DAY,
            source=change.get("source", AdoptionSource.ASSISTANCE),
        )
    assert field in error.value.error_dict
    assert [e.code for e in error.value.error_dict[field]] == [code]
    assert not Adoption.objects.filter(resident=resident).exists()  # the earlier capabilities too
    resident.refresh_from_db()
    assert resident.capability_mask == 0
    assert counts(area_tree.village, indicators) == [(0, 1)] * 3


def test_the_first_error_is_the_one_set_adoption_would_raise_first(area_tree, indicators):
    resident = adult(area_tree.village)
    inactive = CapabilityFactory()
    inactive.is_active = False
    inactive.save()
    # One by one, the inactive capability fails before the household one is looked at.
    with pytest.raises(ValidationError) as error:
        batch(resident, [inactive, CapabilityFactory(for_household=True)])
    assert error.value.error_dict["capability"][0].code == "inactive"


def test_a_member_cannot_adopt_outside_their_villages(area_tree, member, indicators):
    resident = adult(area_tree.other_village)
    with pytest.raises(ValidationError) as error:
        batch(resident, [i.capability for i in indicators], actor=member)
    assert [e.code for e in error.value.error_dict["resident"]] == ["out_of_scope"]
    assert not Adoption.objects.filter(resident=resident).exists()
    assert counts(area_tree.other_village, indicators) == [(0, 1)] * 3


def test_a_member_adopts_in_their_villages(area_tree, member, indicators):
    resident = adult(area_tree.village)
    batch(resident, [i.capability for i in indicators], actor=member)
    assert counts(area_tree.village, indicators) == [(1, 1)] * 3
    assert set(Adoption.objects.filter(resident=resident).values_list("recorded_by", flat=True)) == {member.pk}
