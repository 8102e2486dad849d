"""The work list of a village: who still lacks each capability, the target closest to being met first."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fieldteam.choices import CapabilitySubject, TargetComparison
from fieldteam.selectors import frames
from fieldteam.selectors.indicators import IndicatorReading, OutOfScope, TargetInfo
from fieldteam.selectors.work_list import holders_needed, work_list
from tests.factories import HouseholdFactory, ResidentFactory


def section_for(sections, capability):
    return next(s for s in sections if s.capability.pk == capability.pk)


def test_residents_without_the_capability_in_the_indicator_population(scenario):
    """Given four adults (three hold a smartphone) and a child, the list names the one adult left."""
    sections = work_list(user=scenario.leader, village=scenario.tree.village)

    adults = section_for(sections, scenario.adults.capability)
    assert [e.subject for e in adults.entries] == [CapabilitySubject.RESIDENT]
    assert adults.entries[0].birth_year == 1983  # the fourth adult; the child of 2016 is not counted
    assert adults.reading.indicator == scenario.adults
    # 3 of 4 adults hold it; 95% of 4 is 3.8: one more holder meets the 2030 target.
    assert (adults.reading.numerator, adults.reading.denominator) == (3, 4)
    assert adults.needed == 1


def test_households_without_the_capability(scenario):
    sections = work_list(user=scenario.leader, village=scenario.tree.village)

    fibre = section_for(sections, scenario.households.capability)
    assert [e.household_code for e in fibre.entries] == ["HH-EMPTY"]
    assert fibre.needed == 1  # 1 of 2 households; the target is 100%


def test_the_capability_closest_to_its_target_comes_first(scenario):
    more = HouseholdFactory(village=scenario.tree.village, code="HH-MORE")
    for _ in range(3):
        ResidentFactory(household=more, birth_year=1990)
    sections = work_list(user=scenario.leader, village=scenario.tree.village)

    needed = [s.needed for s in sections]
    # adults: 3 of 7 hold it, 7 × 95% = 6.65 → 4 more; fibre: 1 of 3 → 2 more.
    assert [s.capability for s in sections[:2]] == [scenario.households.capability, scenario.adults.capability]
    assert needed[:2] == [2, 4]
    assert all(n is None for n in needed[2:])


def test_one_capability_only(scenario):
    sections = work_list(user=scenario.member, village=scenario.tree.village, capability=scenario.adults.capability)
    assert [s.capability for s in sections] == [scenario.adults.capability]


@pytest.mark.parametrize(
    ("value", "comparison", "numerator", "denominator", "needed"),
    [
        ("95", TargetComparison.AT_LEAST, 3, 4, 1),
        ("75", TargetComparison.AT_LEAST, 3, 4, 0),
        ("75", TargetComparison.MORE_THAN, 3, 4, 1),
        ("100", TargetComparison.MORE_THAN, 4, 4, 0),
        ("80", TargetComparison.AT_LEAST, 0, 10, 8),
    ],
)
def test_holders_needed(scenario, june, value, comparison, numerator, denominator, needed):
    target = TargetInfo(2030, Decimal(value), comparison, 1, inherited=False)
    reading = IndicatorReading(
        indicator=scenario.adults, area_id=1, period=june, numerator=numerator, denominator=denominator, target=target
    )
    assert holders_needed(reading) == needed


def test_out_of_scope_and_not_a_village(scenario):
    with pytest.raises(OutOfScope):
        work_list(user=scenario.leader, village=scenario.tree.village2)
    with pytest.raises(OutOfScope):
        work_list(user=scenario.other_commune_officer, village=scenario.tree.village)
    with pytest.raises(ValidationError):
        work_list(user=scenario.commune_officer, village=scenario.tree.commune)


def test_identifiers_are_masked_and_queries_constant(scenario):
    household = HouseholdFactory(village=scenario.tree.village)
    resident = ResidentFactory(household=household, birth_year=1970, phone="0912345678")

    def run():
        officer = type(scenario.commune_officer).objects.get(pk=scenario.commune_officer.pk)  # no cached scope
        frames.clear_caches()  # nor a frame this process read (PostgreSQL keeps it until its rows change)
        with CaptureQueriesContext(connection) as queries:
            sections = work_list(user=officer, village=scenario.tree.village)
        return sections, len(queries)

    sections, first = run()
    entry = next(e for e in section_for(sections, scenario.adults.capability).entries if e.id == resident.pk)
    assert entry.phone_masked == resident.phone_masked
    assert "0912345678" not in repr(entry)

    for _ in range(5):
        ResidentFactory(household=household, birth_year=1960)
    assert run()[1] == first
