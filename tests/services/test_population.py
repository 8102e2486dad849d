"""Entering official population figures: who may, what is refused (nothing saved), what only warns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from fieldteam.choices import AdoptionSource, AreaRoleKind
from fieldteam.models import AuditEntry, OfficialPopulation
from fieldteam.services import adoption as adoption_services
from fieldteam.services.population import set_official_population
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    OfficialPopulationFactory,
    ResidentFactory,
)


def codes(error: ValidationError) -> dict[str, list[str]]:
    return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}


def test_a_commune_officer_enters_figures_for_the_commune_and_its_villages(area_tree, commune_officer):
    result = set_official_population(
        actor=commune_officer,
        area=area_tree.village,
        year=2026,
        total=500,
        age_14_plus=420,
        age_15_plus=410,
        age_18_plus=380,
        working_age_male=150,
        working_age_female=140,
        households=120,
        source="  công an   xã ",
    )
    figure = OfficialPopulation.objects.get(area=area_tree.village, year=2026)

    assert result.created and result.warnings == []
    assert (figure.total, figure.age_18_plus, figure.working_age, figure.households) == (500, 380, 290, 120)
    assert figure.source == "công an xã"
    assert figure.entered_by == commune_officer and figure.entered_at is not None
    assert figure.province_id == area_tree.province.pk
    set_official_population(actor=commune_officer, area=area_tree.commune, year=2026, total=900)
    assert OfficialPopulation.objects.filter(area=area_tree.commune).count() == 1


def test_entering_the_same_area_and_year_again_corrects_the_figure(area_tree, province_officer):
    set_official_population(actor=province_officer, area=area_tree.province, year=2025, total=1000, households=200)
    again = set_official_population(actor=province_officer, area=area_tree.province, year=2025, total=1100)

    assert not again.created
    figure = OfficialPopulation.objects.get(area=area_tree.province)
    assert (figure.total, figure.households) == (1100, None)
    assert AuditEntry.objects.filter(content_type__model="officialpopulation").count() == 2


@pytest.mark.parametrize(
    ("who", "area", "code"),
    [
        ("commune_officer", "other_commune", "out_of_scope"),
        ("commune_officer", "province", "out_of_scope"),
        ("province_officer", "far_village", "out_of_scope"),
        ("viewer", "village", "read_only"),
        ("member", "village", "read_only"),
    ],
)
def test_outside_the_officers_own_areas_is_refused(request, area_tree, who, area, code):
    if who == "viewer":
        actor = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    else:
        actor = request.getfixturevalue(who)

    with pytest.raises(ValidationError) as refused:
        set_official_population(actor=actor, area=getattr(area_tree, area), year=2026, total=10)

    assert codes(refused.value) == {"area": [code]}
    assert not OfficialPopulation.objects.exists()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"total": -1}, {"total": ["negative"]}),
        ({"total": 100, "households": -3}, {"households": ["negative"]}),
        ({"total": Decimal("100.5")}, {"total": ["not_whole"]}),
        ({"total": 100, "age_18_plus": 80.2}, {"age_18_plus": ["not_whole"]}),
        ({"total": "mười"}, {"total": ["not_whole"]}),
        ({"total": None}, {"total": ["required"]}),
        ({"total": 100, "age_15_plus": 101}, {"age_15_plus": ["above_total"]}),
        ({"total": 100, "households": 101}, {"households": ["above_total"]}),
        ({"total": 100, "age_14_plus": 50, "age_15_plus": 60}, {"age_15_plus": ["above_band"]}),
        (
            {"total": 100, "age_15_plus": 60, "working_age_male": 40, "working_age_female": 30},
            {"working_age_female": ["above_band"]},
        ),
        ({"total": 100, "year": 1999}, {"year": ["range"]}),
        ({"total": -5, "age_18_plus": 1.5}, {"total": ["negative"], "age_18_plus": ["not_whole"]}),
    ],
)
def test_bad_figures_are_refused_naming_each_field_and_nothing_is_saved(area_tree, province_officer, values, expected):
    arguments = {"year": 2026, **values}

    with pytest.raises(ValidationError) as refused:
        set_official_population(actor=province_officer, area=area_tree.commune, **arguments)

    assert codes(refused.value) == expected
    assert not OfficialPopulation.objects.exists()


def test_errors_are_in_vietnamese_and_name_the_band(area_tree, province_officer):
    with translation.override("vi"):
        with pytest.raises(ValidationError) as refused:
            set_official_population(
                actor=province_officer, area=area_tree.commune, year=2026, total=100, age_18_plus=120
            )
        message = refused.value.message_dict["age_18_plus"][0]

    assert "120" in message and "100" in message
    assert "vượt" in message  # translated, not the English text


def test_a_figure_below_the_register_is_saved_with_a_warning(area_tree, province_officer):
    indicator = IndicatorFactory(min_age=18)
    household = HouseholdFactory(village=area_tree.village)
    residents = [ResidentFactory(household=household, birth_year=1980) for _ in range(3)]
    adoption_services.set_adoption(
        actor=None,
        capability=indicator.capability,
        since=dt.date(2026, 1, 5),
        source=AdoptionSource.SURVEY,
        resident=residents[0],
    )

    result = set_official_population(actor=province_officer, area=area_tree.commune, year=2026, total=10, age_18_plus=2)

    assert OfficialPopulation.objects.get(area=area_tree.commune).age_18_plus == 2
    assert len(result.warnings) == 1
    assert "(2)" in result.warnings[0] and "(3)" in result.warnings[0]


def test_the_factory_enters_through_the_service(area_tree):
    figure = OfficialPopulationFactory(area=area_tree.village, total=50, households=12)
    assert figure.pk and figure.entered_by is None
