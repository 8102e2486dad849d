"""A province's population bounds and the capability derivations: who may set them, what is refused, and
that the dashboards' live counts follow a change (the recount queued after the commit)."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, AreaRoleKind, DerivationKind, PeriodKind, PopulationKind
from fieldteam.models import CapabilityDerivation, Household, IndicatorPopulationBound, User, VillageCount
from fieldteam.periods import Period
from fieldteam.selectors.indicators import area_indicator_values
from fieldteam.services.adoption import set_adoption
from fieldteam.services.counting import (
    delete_capability_derivation,
    delete_population_bound,
    set_capability_derivation,
    set_population_bound,
)
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityDerivationFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    PopulationBoundFactory,
    ResidentFactory,
)

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 6, 15)
SINCE = dt.date(2026, 6, 1)


@pytest.fixture(autouse=True)
def _frozen_today():
    with freeze_time(TODAY, tick=False):
        yield


def reading(user: User, area, indicator) -> tuple[int | None, int | None]:
    """(numerator, denominator) of ``indicator`` on ``area``'s dashboard this month, as ``user`` sees it."""
    readings = area_indicator_values(user=user, area=area, period=Period.containing(PeriodKind.MONTH, TODAY))
    found = next(r for r in readings if r.indicator.pk == indicator.pk)
    return found.numerator or 0, found.denominator or 0


def errors_of(refused: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in refused.value.error_dict.items()}


# --- population bounds ------------------------------------------------------------------------------


@pytest.fixture
def teenager_world(area_tree: AreaTree, superuser: User):
    """An adults-18+ indicator; a 16-year-old holding its capability in the province and one in another."""
    indicator = IndicatorFactory(min_age=18)
    for village in (area_tree.village, area_tree.far_village):
        teenager = ResidentFactory(household=HouseholdFactory(village=village), birth_date=dt.date(2010, 1, 15))
        set_adoption(
            actor=None, capability=indicator.capability, since=SINCE, source=AdoptionSource.SURVEY, resident=teenager
        )
    return indicator


def test_a_province_officer_lowers_the_age_and_the_dashboard_counts_follow(
    area_tree: AreaTree, province_officer: User, superuser: User, teenager_world, django_capture_on_commit_callbacks
):
    indicator = teenager_world
    assert reading(superuser, area_tree.province, indicator) == (0, 0)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        bound = set_population_bound(
            actor=province_officer,
            province=area_tree.province,
            indicator=indicator,
            min_age=16,
            max_age=None,
            source="  Kế hoạch 811  ",
        )

    assert len(callbacks) == 1  # the province's recompute, after the commit
    assert (bound.min_age, bound.max_age, bound.source) == (16, None, "Kế hoạch 811")
    assert reading(superuser, area_tree.province, indicator) == (1, 1)
    assert reading(superuser, area_tree.village, indicator) == (1, 1)
    # Another province keeps the indicator's own bounds.
    assert reading(superuser, area_tree.other_province, indicator) == (0, 0)

    with django_capture_on_commit_callbacks(execute=True):
        set_population_bound(
            actor=province_officer,
            province=area_tree.province,
            indicator=indicator,
            min_age=17,
            max_age=70,
            bound=bound,
        )
    assert reading(superuser, area_tree.province, indicator) == (0, 0)

    with django_capture_on_commit_callbacks(execute=True):
        set_population_bound(
            actor=province_officer, province=area_tree.province, indicator=indicator, min_age=15, max_age=70, bound=bound
        )
    assert reading(superuser, area_tree.province, indicator) == (1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        delete_population_bound(actor=province_officer, bound=bound)
    assert not IndicatorPopulationBound.objects.exists()
    assert reading(superuser, area_tree.province, indicator) == (0, 0)


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"min_age": 20, "max_age": 18}, "max_age", "order"),
        ({"min_age": 121}, "min_age", "range"),
        ({"max_age": 500}, "max_age", "range"),
        ({"min_age": None, "max_age": None}, "min_age", "required"),
        ({"indicator": "households"}, "indicator", "not_residents"),
        ({"indicator": "reported"}, "indicator", "not_residents"),
        ({"indicator": "working_age", "max_age": 60}, "max_age", "working_age_maximum"),
        ({"province": "commune"}, "province", "not_a_province"),
        ({"indicator": "taken"}, "indicator", "duplicate"),
    ],
)
def test_bad_bounds_are_refused_naming_the_field_and_nothing_is_saved(
    area_tree: AreaTree, superuser: User, changes, field, code, django_capture_on_commit_callbacks
):
    taken = PopulationBoundFactory(province=area_tree.province)
    indicators = {
        "households": IndicatorFactory(households=True, min_age=None),
        "reported": IndicatorFactory(reported=True),
        "working_age": IndicatorFactory(population=PopulationKind.WORKING_AGE, min_age=15),
        "taken": taken.indicator,
    }
    provinces = {"commune": area_tree.commune}
    arguments = {"province": area_tree.province, "indicator": IndicatorFactory(), "min_age": 16, "max_age": None}
    for name, value in changes.items():
        arguments[name] = indicators.get(value, provinces.get(value, value)) if isinstance(value, str) else value

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as refused:
        set_population_bound(actor=superuser, **arguments)

    assert errors_of(refused) == {field: [code]}
    assert list(IndicatorPopulationBound.objects.all()) == [taken]
    assert callbacks == []


@pytest.mark.parametrize(
    ("role", "where", "code"),
    [
        (AreaRoleKind.COMMUNE_OFFICER, "commune", "out_of_scope"),
        (AreaRoleKind.VIEWER, "province", "read_only"),
        (AreaRoleKind.PROVINCE_OFFICER, "other_province", "out_of_scope"),
    ],
)
def test_only_the_provinces_officer_sets_or_removes_its_bounds(area_tree: AreaTree, role, where, code):
    actor = AreaRoleFactory(area=getattr(area_tree, where), role=role).user
    indicator = IndicatorFactory()
    existing = PopulationBoundFactory(province=area_tree.province, min_age=16)

    with pytest.raises(ValidationError) as refused:
        set_population_bound(actor=actor, province=area_tree.province, indicator=indicator, min_age=15, max_age=None)
    assert errors_of(refused) == {"province": [code]}
    with pytest.raises(ValidationError) as refused:
        set_population_bound(
            actor=actor, province=area_tree.province, indicator=existing.indicator, min_age=1, max_age=None, bound=existing
        )
    assert errors_of(refused) == {"province": [code]}
    with pytest.raises(ValidationError) as refused:
        delete_population_bound(actor=actor, bound=existing)
    assert errors_of(refused) == {"province": [code]}

    existing.refresh_from_db()
    assert existing.min_age == 16
    assert IndicatorPopulationBound.objects.count() == 1


def test_an_officer_cannot_move_another_provinces_bound_into_their_own(area_tree: AreaTree, province_officer: User):
    theirs = PopulationBoundFactory(province=area_tree.other_province, min_age=16)

    with pytest.raises(ValidationError) as refused:
        set_population_bound(
            actor=province_officer,
            province=area_tree.province,
            indicator=theirs.indicator,
            min_age=15,
            max_age=None,
            bound=theirs,
        )

    assert errors_of(refused) == {"province": ["out_of_scope"]}
    theirs.refresh_from_db()
    assert (theirs.province_id, theirs.min_age) == (area_tree.other_province.pk, 16)


# --- capability derivations ----------------------------------------------------------------------


def test_an_implies_rule_counts_the_holders_of_its_source_and_its_removal_uncounts_them(
    area_tree: AreaTree, superuser: User, django_capture_on_commit_callbacks
):
    internet = IndicatorFactory(min_age=15)
    public_services = CapabilityFactory()
    user = ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_date=dt.date(1990, 3, 1))
    set_adoption(actor=None, capability=public_services, since=SINCE, source=AdoptionSource.SURVEY, resident=user)
    assert reading(superuser, area_tree.province, internet) == (0, 1)

    with django_capture_on_commit_callbacks(execute=True):
        rule = set_capability_derivation(
            actor=superuser, kind=DerivationKind.IMPLIES, source=public_services, target=internet.capability
        )

    assert reading(superuser, area_tree.province, internet) == (1, 1)
    with django_capture_on_commit_callbacks(execute=True):
        delete_capability_derivation(actor=superuser, derivation=rule)
    assert reading(superuser, area_tree.province, internet) == (0, 1)


def test_an_any_member_rule_gives_households_their_members_holding(
    area_tree: AreaTree, superuser: User, django_capture_on_commit_callbacks
):
    households_with_phone = IndicatorFactory(households=True, min_age=None)
    smartphone = CapabilityFactory()
    household = HouseholdFactory(village=area_tree.village)
    HouseholdFactory(village=area_tree.village)  # no member with a phone
    member = ResidentFactory(household=household, birth_date=dt.date(1990, 3, 1))
    set_adoption(actor=None, capability=smartphone, since=SINCE, source=AdoptionSource.SURVEY, resident=member)
    assert reading(superuser, area_tree.province, households_with_phone) == (0, 2)

    with django_capture_on_commit_callbacks(execute=True):
        rule = set_capability_derivation(
            actor=superuser,
            kind=DerivationKind.ANY_MEMBER,
            source=smartphone,
            target=households_with_phone.capability,
        )

    assert Household.objects.get(pk=household.pk).derived_mask == households_with_phone.capability.mask
    assert reading(superuser, area_tree.province, households_with_phone) == (1, 2)
    with django_capture_on_commit_callbacks(execute=True):
        delete_capability_derivation(actor=superuser, derivation=rule)
    assert Household.objects.get(pk=household.pk).derived_mask == 0
    assert reading(superuser, area_tree.province, households_with_phone) == (0, 2)


def test_bad_derivations_are_refused_naming_the_field(superuser: User, django_capture_on_commit_callbacks):
    person_a, person_b = CapabilityFactory(), CapabilityFactory()
    home = CapabilityFactory(for_household=True)
    CapabilityDerivationFactory(source=person_a, target=person_b)
    cases = [
        ({"kind": "sometimes", "source": person_a, "target": home}, "kind", "invalid_kind"),
        ({"kind": DerivationKind.IMPLIES, "source": person_a, "target": person_a}, "target", "itself"),
        ({"kind": DerivationKind.IMPLIES, "source": person_a, "target": home}, "target", "other_subject"),
        ({"kind": DerivationKind.ANY_MEMBER, "source": home, "target": home}, "target", "itself"),
        ({"kind": DerivationKind.ANY_MEMBER, "source": person_a, "target": person_b}, "target", "not_household"),
        ({"kind": DerivationKind.ANY_MEMBER, "source": CapabilityFactory(for_household=True), "target": home}, "source", "not_resident"),
        ({"kind": DerivationKind.IMPLIES, "source": person_b, "target": person_a}, "target", "circle"),
        ({"kind": DerivationKind.IMPLIES, "source": person_a, "target": person_b}, "target", "duplicate"),
    ]
    for arguments, field, code in cases:
        with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError) as refused:
            set_capability_derivation(actor=superuser, **arguments)
        assert errors_of(refused) == {field: [code]}, arguments
        assert callbacks == []
    assert CapabilityDerivation.objects.count() == 1


def test_only_a_superuser_changes_the_derivations(area_tree: AreaTree, province_officer: User):
    rule = CapabilityDerivationFactory()

    with pytest.raises(ValidationError) as refused:
        set_capability_derivation(
            actor=province_officer, kind=DerivationKind.IMPLIES, source=CapabilityFactory(), target=CapabilityFactory()
        )
    assert errors_of(refused) == {"kind": ["read_only"]}
    with pytest.raises(ValidationError) as refused:
        delete_capability_derivation(actor=province_officer, derivation=rule)
    assert errors_of(refused) == {"kind": ["read_only"]}
    assert list(CapabilityDerivation.objects.all()) == [rule]


def test_after_an_upgrade_the_mask_repair_command_gives_households_their_members_holdings(
    area_tree: AreaTree, superuser: User
):
    """Migration 0019 starts every household's ``derived_mask`` at 0: ``recompute_rollup --repair-masks`` fills it."""
    households_with_phone = IndicatorFactory(households=True, min_age=None)
    smartphone = CapabilityFactory()
    CapabilityDerivationFactory(any_member=True, source=smartphone, target=households_with_phone.capability)
    household = HouseholdFactory(village=area_tree.village)
    member = ResidentFactory(household=household, birth_date=dt.date(1990, 3, 1))
    set_adoption(actor=None, capability=smartphone, since=SINCE, source=AdoptionSource.SURVEY, resident=member)
    Household.objects.update(derived_mask=0)  # as the migration leaves it
    VillageCount.objects.all().delete()

    call_command("recompute_rollup", "--repair-masks", "--province", area_tree.province.code, stdout=io.StringIO())

    assert Household.objects.get(pk=household.pk).derived_mask == households_with_phone.capability.mask
    assert reading(superuser, area_tree.province, households_with_phone) == (1, 1)
