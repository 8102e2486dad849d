"""The weekly check of capability masks against the adoption rows they summarise."""

from __future__ import annotations

import pytest
from django.utils import timezone

from fieldteam.models import Household, Resident, VillageCount
from fieldteam.rollup import masks
from fieldteam.services.adoption import set_adoption
from fieldteam.tasks import check_capability_masks
from tests.factories import CapabilityFactory, HouseholdFactory, IndicatorFactory, ResidentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def held(area_tree):
    """A resident holding a smartphone and a household holding fibre, counted by two indicators."""
    smartphone = CapabilityFactory(code="smartphone")
    fibre = CapabilityFactory(code="fibre", for_household=True)
    IndicatorFactory(capability=smartphone, min_age=15)
    IndicatorFactory(capability=fibre, households=True, min_age=None)
    household = HouseholdFactory(village=area_tree.village)
    resident = ResidentFactory(household=household, birth_year=1980)
    ResidentFactory(household=household, birth_year=1982)  # holds nothing
    today = timezone.localdate()
    set_adoption(actor=None, capability=smartphone, since=today, source="survey", resident=resident)
    set_adoption(actor=None, capability=fibre, since=today, source="survey", household=household)
    resident.refresh_from_db()
    household.refresh_from_db()
    return resident, household, smartphone, fibre


def counts() -> list[tuple[int, int, int, int]]:
    return sorted(VillageCount.objects.values_list("village_id", "indicator_id", "numerator", "denominator"))


def test_masks_in_step_with_the_adoptions_need_nothing(area_tree, held) -> None:
    before = counts()
    assert masks.repair_capability_masks(province_id=area_tree.province.pk) == []
    assert counts() == before


def test_a_stale_mask_is_repaired_and_the_counts_follow(area_tree, held) -> None:
    resident, household, smartphone, fibre = held
    right = counts()
    # As a bug or a hand edit in the database would leave them.
    Resident.objects.filter(pk=resident.pk).update(capability_mask=0)
    Household.objects.filter(pk=household.pk).update(capability_mask=fibre.mask | smartphone.mask)

    result = check_capability_masks(area_tree.province.pk)

    assert result["masks_repaired"] == 2
    assert Resident.objects.get(pk=resident.pk).capability_mask == smartphone.mask
    assert Household.objects.get(pk=household.pk).capability_mask == fibre.mask
    assert counts() == right
    assert check_capability_masks(area_tree.province.pk)["masks_repaired"] == 0


def test_other_provinces_are_left_alone(area_tree, held) -> None:
    resident, *_ = held
    Resident.objects.filter(pk=resident.pk).update(capability_mask=0)
    assert masks.repair_capability_masks(province_id=area_tree.other_province.pk) == []
    assert Resident.objects.get(pk=resident.pk).capability_mask == 0
