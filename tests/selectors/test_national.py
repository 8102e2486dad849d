"""The national level: sums over the provinces' own rows, the targets of Decision 411, who sees it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, AreaRoleKind
from fieldteam.models import IndicatorValue
from fieldteam.periods import Period
from fieldteam.rollup import recompute
from fieldteam.selectors.indicators import OutOfScope, area_indicator_values
from fieldteam.selectors.national import last_closed_month, national_indicator_values, province_ranking
from fieldteam.selectors.status import REACHED
from fieldteam.services import adoption as adoption_services
from fieldteam.services.indicators import report_indicator_value
from tests.factories import (
    AreaRoleFactory,
    CommuneFactory,
    HouseholdFactory,
    IndicatorFactory,
    NationalTargetFactory,
    OfficialPopulationFactory,
    PopulationBoundFactory,
    ProvinceFactory,
    ResidentFactory,
    UserFactory,
    VillageFactory,
)

TODAY = "2026-06-15"
MAY = Period.parse("2026-05")


def national_viewer():
    user = UserFactory(username="bo.tttt")
    user.user_permissions.add(Permission.objects.get(codename="view_nation", content_type__app_label="fieldteam"))
    return user


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


def reading_for(readings, indicator):
    return next(r for r in readings if r.indicator.pk == indicator.pk)


@pytest.fixture
def country(area_tree, db):
    """Three provinces (the tree's two and a third), adults counted in each, May closed everywhere."""
    indicator = IndicatorFactory(min_age=18, code="adults_smartphone_test")
    third = ProvinceFactory(name="Đắk Lắk")
    third_village = VillageFactory(parent=CommuneFactory(parent=third, name="Xã Ea Kao"), name="Buôn Kô")
    third.refresh_from_db()
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    adults(area_tree.other_village, 6, adopted=1, indicator=indicator)
    adults(area_tree.far_village, 5, adopted=5, indicator=indicator)
    adults(third_village, 10, adopted=2, indicator=indicator)
    provinces = [area_tree.province, area_tree.other_province, third]
    for province in provinces:
        recompute.close_month(province_id=province.pk, month=MAY.start)
    return indicator, provinces


@freeze_time(TODAY)
def test_national_sums_equal_the_sum_of_the_provinces(country, superuser):
    indicator, provinces = country

    national = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)
    each = [reading_for(area_indicator_values(user=superuser, area=p, period=MAY), indicator) for p in provinces]

    assert national.numerator == sum(r.numerator for r in each) == 11
    assert national.denominator == sum(r.denominator for r in each) == 25
    assert national.value == Decimal("44.000")
    assert (national.aggregated, national.provinces_with_value, national.provinces) == (True, 3, 3)


@freeze_time(TODAY)
def test_a_province_counting_over_its_own_age_bounds_is_named_on_the_reading(country, superuser):
    indicator, provinces = country
    assert reading_for(national_indicator_values(user=superuser, period=MAY), indicator).own_bounds == ()

    PopulationBoundFactory(province=provinces[2], indicator=indicator, min_age=15)

    national = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)
    assert national.own_bounds == ("Đắk Lắk",)
    assert national.numerator == 11  # still summed as each province counts it


@freeze_time(TODAY)
def test_default_period_is_the_last_closed_month(country, superuser):
    indicator, _provinces = country

    assert last_closed_month() == MAY
    assert reading_for(national_indicator_values(user=superuser), indicator).numerator == 11


@freeze_time(TODAY)
def test_the_open_month_has_no_national_value_yet(country, superuser):
    indicator, _provinces = country

    june = reading_for(national_indicator_values(user=superuser, period=Period.parse("2026-06")), indicator)
    ranked = province_ranking(user=superuser, period=Period.parse("2026-06"))

    assert (june.value, june.numerator, june.provinces_with_value) == (None, None, 0)
    assert all(reading_for(row.readings, indicator).value is None for row in ranked)


@freeze_time(TODAY)
def test_a_province_without_rows_is_left_out_of_the_sums_and_counted(country, superuser):
    indicator, provinces = country
    IndicatorValue.objects.filter(area=provinces[2]).delete()

    national = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)

    assert (national.numerator, national.denominator, national.provinces_with_value) == (9, 15, 2)


@freeze_time(TODAY)
def test_official_rate_is_over_the_sum_of_the_provinces_figures(country, superuser):
    indicator, provinces = country
    for province, adults_18 in zip(provinces[:2], (40, 60), strict=True):
        OfficialPopulationFactory(area=province, year=2026, total=100, age_18_plus=adults_18)

    missing = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)
    OfficialPopulationFactory(area=provinces[2], year=2026, total=200, age_18_plus=120)
    complete = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)

    assert missing.official_value is None
    assert "Đắk Lắk" in missing.official_source_label
    assert complete.official.value == 220
    assert complete.official_value == Decimal("5.000")  # 11 / 220
    assert complete.measured_by == "official"


@freeze_time(TODAY)
def test_national_target_and_status(country, superuser):
    indicator, _provinces = country
    NationalTargetFactory(indicator=indicator, year=2025, value=Decimal(40))
    NationalTargetFactory(indicator=indicator, year=2030, value=Decimal(95))

    national = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)

    assert sorted(national.targets) == [2025, 2030]
    assert national.target is not None and national.target.year == 2030
    assert national.gap == Decimal("51.000")  # 95 - 44
    assert national.status is not None and national.status.code != REACHED
    # Not inherited by the provinces: a province's own targets only.
    ranked = province_ranking(user=superuser, period=MAY)
    assert all(reading_for(row.readings, indicator).targets == {} for row in ranked)


@freeze_time(TODAY)
def test_reported_indicators_are_not_aggregated(country, superuser):
    _indicator, provinces = country
    share = IndicatorFactory(code="grdp_share_test", reported=True)
    report_indicator_value(actor=superuser, area=provinces[0], indicator=share, period=MAY, value=Decimal("12.5"))

    national = reading_for(national_indicator_values(user=superuser, period=MAY), share)
    ranked = {
        row.area.pk: reading_for(row.readings, share).value for row in province_ranking(user=superuser, period=MAY)
    }

    assert (national.aggregated, national.value, national.provinces_with_value) == (False, None, 1)
    assert ranked[provinces[0].pk] == Decimal("12.5")


@freeze_time(TODAY)
def test_province_ranking_lists_every_province_with_its_own_values(country, superuser):
    indicator, provinces = country

    ranked = province_ranking(user=superuser, period=MAY)

    values = {row.area.pk: (reading_for(row.readings, indicator).numerator) for row in ranked}
    assert values == {provinces[0].pk: 4, provinces[1].pk: 5, provinces[2].pk: 2}


@freeze_time(TODAY)
def test_query_counts_do_not_grow_with_the_provinces(country, superuser, django_assert_max_num_queries):
    indicator, _provinces = country
    with django_assert_max_num_queries(8):
        national_indicator_values(user=superuser, period=MAY)
    with django_assert_max_num_queries(8):
        province_ranking(user=superuser, period=MAY)
    for n in range(4):
        province = ProvinceFactory(name=f"Tỉnh {n}")
        adults(VillageFactory(parent=CommuneFactory(parent=province)), 2, adopted=1, indicator=indicator)
        recompute.close_month(province_id=province.pk, month=MAY.start)
    with django_assert_max_num_queries(8):
        national = reading_for(national_indicator_values(user=superuser, period=MAY), indicator)
    with django_assert_max_num_queries(8):
        assert len(province_ranking(user=superuser, period=MAY)) == 7
    assert national.provinces_with_value == 7


@pytest.mark.parametrize(
    "who",
    ["member", "leader", "commune_officer", "province_officer", "viewer", "anonymous"],
)
@freeze_time(TODAY)
def test_only_national_viewers_and_superusers_see_the_nation(who, request, area_tree, django_user_model):
    if who == "viewer":
        user = UserFactory()
        AreaRoleFactory(user=user, area=area_tree.province, role=AreaRoleKind.VIEWER)
    elif who == "anonymous":
        from django.contrib.auth.models import AnonymousUser

        user = AnonymousUser()
    else:
        user = request.getfixturevalue(who)
    with pytest.raises(OutOfScope):
        national_indicator_values(user=user, period=MAY)
    with pytest.raises(OutOfScope):
        province_ranking(user=user, period=MAY)


@freeze_time(TODAY)
def test_a_national_viewer_sees_the_nation(country):
    indicator, _provinces = country
    viewer = national_viewer()

    assert reading_for(national_indicator_values(user=viewer, period=MAY), indicator).numerator == 11
    assert len(province_ranking(user=viewer, period=MAY)) == 3


@freeze_time(TODAY)
def test_an_inactive_national_viewer_does_not(country):
    viewer = national_viewer()
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])

    with pytest.raises(OutOfScope):
        national_indicator_values(user=viewer, period=MAY)
