"""Readings over the official population: the rate, the register's coverage, which figure, the warnings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, AreaRoleKind, PopulationKind
from fieldteam.periods import Period
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.selectors import frames
from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values, official_figures_for
from fieldteam.selectors.population import (
    CHILDREN,
    NUMERATOR_ABOVE_OFFICIAL,
    OFFICIAL_BELOW_REGISTER,
    OWN,
    band_of,
    official_populations_visible,
)
from fieldteam.services import adoption as adoption_services
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    OfficialPopulationFactory,
    PopulationBoundFactory,
    ResidentFactory,
    VillageFactory,
)

TODAY = "2026-06-15"
MONTH = "2026-06"


@pytest.fixture
def indicator(db):
    return IndicatorFactory(min_age=18)


def adults(village, n, *, adopted, indicator):
    household = HouseholdFactory(village=village)
    for i in range(n):
        resident = ResidentFactory(household=household, birth_year=1980)
        if i < adopted:
            adoption_services.set_adoption(
                actor=None,
                capability=indicator.capability,
                since=dt.date(2026, 1, 5),
                source=AdoptionSource.SURVEY,
                resident=resident,
            )


def reading(user, area, indicator, period=MONTH):
    readings = area_indicator_values(user=user, area=area, period=Period.parse(period))
    return next(r for r in readings if r.indicator.pk == indicator.pk)


@pytest.mark.parametrize(
    ("population", "min_age", "max_age", "band"),
    [
        (PopulationKind.RESIDENTS, None, None, "total"),
        (PopulationKind.RESIDENTS, 14, None, "age_14_plus"),
        (PopulationKind.RESIDENTS, 15, None, "age_15_plus"),
        (PopulationKind.RESIDENTS, 18, None, "age_18_plus"),
        (PopulationKind.RESIDENTS, 16, None, None),
        (PopulationKind.RESIDENTS, 15, 60, None),
        (PopulationKind.WORKING_AGE, 15, None, "working_age"),
        (PopulationKind.HOUSEHOLDS, None, None, "households"),
    ],
)
def test_each_population_is_measured_over_its_band(db, population, min_age, max_age, band):
    indicator = IndicatorFactory.build(population=population, min_age=min_age, max_age=max_age)
    assert band_of(indicator) == band


@freeze_time(TODAY)
def test_a_province_s_own_ages_decide_the_band_of_its_readings(area_tree, indicator, superuser):
    """Sơn La's adults from 15: its 18+ indicator is counted over 15+, so its official rate is over the
    15+ figure; another province keeps the catalogue's 18+; a bound no column gives has no official rate."""
    PopulationBoundFactory(province=area_tree.province, indicator=indicator, min_age=15, max_age=None)
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    for village in (area_tree.village, area_tree.far_village):
        OfficialPopulationFactory(area=village, year=2026, total=20, age_15_plus=12, age_18_plus=10)

    value = reading(superuser, area_tree.village, indicator)
    far = reading(superuser, area_tree.far_village, indicator)

    assert (value.official_band, value.official.value, value.official_value) == ("age_15_plus", 12, Decimal("25.000"))
    assert (far.official_band, far.official.value) == ("age_18_plus", 10)

    other = IndicatorFactory(min_age=15)
    PopulationBoundFactory(province=area_tree.province, indicator=other, min_age=16, max_age=80)
    assert reading(superuser, area_tree.village, other).official_band == ""
    assert reading(superuser, area_tree.far_village, other).official_band == "age_15_plus"


@freeze_time(TODAY)
def test_three_values_the_official_rate_the_register_rate_and_the_coverage(area_tree, indicator, superuser):
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10, source="Cục Thống kê")

    value = reading(superuser, area_tree.village, indicator)

    assert (value.numerator, value.denominator, value.value) == (3, 4, Decimal("75.000"))
    assert value.official.value == 10 and value.official_band == "age_18_plus"
    assert value.official_value == Decimal("30.000")
    assert value.coverage == Decimal("40.000")
    assert (value.official.source, value.official.years) == (OWN, (2026, 2026))
    assert value.warnings == ()
    assert "2026" in value.official_source_label


@freeze_time(TODAY)
def test_the_latest_earlier_year_is_used_and_said(area_tree, indicator, superuser):
    OfficialPopulationFactory(area=area_tree.village, year=2024, total=20, age_18_plus=10)
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=22, age_18_plus=12)
    OfficialPopulationFactory(area=area_tree.village, year=2027, total=30, age_18_plus=25)

    value = reading(superuser, area_tree.village, indicator)

    assert value.official.value == 12 and value.official.years == (2025, 2025)


@freeze_time(TODAY)
def test_without_its_own_figure_a_commune_sums_its_villages_when_all_have_one(area_tree, indicator, superuser):
    adults(area_tree.village, 2, adopted=1, indicator=indicator)
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=20, age_18_plus=10)

    missing = reading(superuser, area_tree.commune, indicator)
    assert missing.official.value is None and missing.official_value is None
    assert missing.official.missing == ("Thôn 2",)
    assert "Thôn 2" in missing.official_source_label
    assert missing.value == Decimal("50.000")  # the register's rate is still shown

    OfficialPopulationFactory(area=area_tree.village2, year=2026, total=30, age_18_plus=15)
    summed = reading(superuser, area_tree.commune, indicator)
    assert (summed.official.value, summed.official.source, summed.official.years) == (25, CHILDREN, (2025, 2026))
    assert summed.official_value == Decimal("4.000")

    # The province sums its communes, each resolved the same way (the other commune has none).
    assert reading(superuser, area_tree.province, indicator).official.missing == ("Xã Ia Hrung",)


@freeze_time(TODAY)
def test_an_areas_own_figure_wins_over_its_childrens_sum(area_tree, indicator, superuser):
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    OfficialPopulationFactory(area=area_tree.village2, year=2026, total=30, age_18_plus=15)
    OfficialPopulationFactory(area=area_tree.commune, year=2026, total=60, age_18_plus=40)

    value = reading(superuser, area_tree.commune, indicator)

    assert (value.official.value, value.official.source) == (40, OWN)


@freeze_time(TODAY)
def test_a_band_the_figure_leaves_empty_falls_back_to_the_children(area_tree, indicator, superuser):
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    OfficialPopulationFactory(area=area_tree.village2, year=2026, total=30, age_18_plus=15)
    OfficialPopulationFactory(area=area_tree.commune, year=2026, total=60)

    value = reading(superuser, area_tree.commune, indicator)

    assert (value.official.value, value.official.source) == (25, CHILDREN)


@freeze_time(TODAY)
def test_no_official_figure_says_so_and_keeps_the_register_rate(area_tree, indicator, superuser):
    adults(area_tree.village, 4, adopted=1, indicator=indicator)
    reported = IndicatorFactory(reported=True)

    value = reading(superuser, area_tree.village, indicator)
    assert value.official_band == "age_18_plus" and not value.has_official
    assert value.official_value is None and value.coverage is None
    assert value.value == Decimal("25.000")
    with translation.override("vi"):
        assert value.official_source_label == "chưa có số liệu dân số chính thức"
    assert reading(superuser, area_tree.village, reported).official_band == ""


@freeze_time(TODAY)
def test_warnings_numerator_above_official_and_official_below_register(area_tree, indicator, superuser):
    adults(area_tree.village, 5, adopted=4, indicator=indicator)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=10, age_18_plus=3)

    value = reading(superuser, area_tree.village, indicator)

    assert value.warnings == (NUMERATOR_ABOVE_OFFICIAL, OFFICIAL_BELOW_REGISTER)
    assert value.official_value == Decimal("133.333")  # shown as it is, not capped
    assert value.coverage == Decimal("166.667")
    assert len(value.warning_labels) == 2


@freeze_time(TODAY)
def test_children_readings_carry_their_own_figures_without_a_query_per_child(area_tree, indicator, superuser):
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    OfficialPopulationFactory(area=area_tree.village2, year=2026, total=30, age_18_plus=15)
    period = Period.parse(MONTH)

    def run() -> tuple[dict, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = child_indicator_values(user=superuser, area=area_tree.commune, period=period)
        by_name = {row.area.name: next(r for r in row.readings if r.indicator.pk == indicator.pk) for row in rows}
        return by_name, len(queries)

    before, count = run()
    assert before["Thôn 1"].official.value == 10 and before["Thôn 2"].official.value == 15
    for n in range(3):
        village = VillageFactory(parent=area_tree.commune, name=f"Thôn mới {n}")
        OfficialPopulationFactory(area=village, year=2026, total=5, age_18_plus=4)
    after, count_after = run()
    assert count_after == count
    assert after["Thôn mới 0"].official.value == 4


@freeze_time(TODAY)
def test_figures_read_once_serve_both_the_area_and_its_children(area_tree, indicator, superuser):
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    period = Period.parse(MONTH)
    figures = official_figures_for(user=superuser, area=area_tree.commune, period=period)
    MONTH_HISTORY.changed(area_tree.province.pk)  # the history read by both calls (not one from the cache)

    with CaptureQueriesContext(connection) as given:
        area_indicator_values(user=superuser, area=area_tree.commune, period=period, figures=figures)
    frames.clear_caches()  # the frame read by both calls (not one from this process's copy)
    with CaptureQueriesContext(connection) as read:
        area_indicator_values(user=superuser, area=area_tree.commune, period=period)

    assert len(read) == len(given) + 1  # the province's own age bounds come with the indicators


def test_the_figures_list_is_scoped_to_the_user(area_tree):
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20)
    OfficialPopulationFactory(area=area_tree.far_village, year=2026, total=20)
    viewer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.VIEWER).user

    assert [f.area for f in official_populations_visible(user=viewer)] == [area_tree.village]
