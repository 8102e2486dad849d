"""Indicator values against targets: what dashboards and the API show an officer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, TargetComparison
from fieldteam.models import IndicatorValue, VillageCount
from fieldteam.periods import Period
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.selectors.indicators import (
    OutOfScope,
    area_indicator_values,
    child_indicator_values,
    indicator_series,
)
from fieldteam.services import adoption as adoption_services
from tests.factories import (
    HouseholdFactory,
    IndicatorFactory,
    IndicatorValueFactory,
    ResidentFactory,
    TargetFactory,
    VillageFactory,
)

TODAY = "2026-06-15"


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


def reading_for(readings, indicator):
    return next(r for r in readings if r.indicator.pk == indicator.pk)


@freeze_time(TODAY)
def test_live_value_sums_the_villages_of_the_subtree(area_tree, indicator, superuser):
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    adults(area_tree.village2, 4, adopted=1, indicator=indicator)
    adults(area_tree.other_village, 2, adopted=2, indicator=indicator)
    month = Period.parse("2026-06")

    commune = reading_for(area_indicator_values(user=superuser, area=area_tree.commune, period=month), indicator)
    province = reading_for(area_indicator_values(user=superuser, area=area_tree.province, period=month), indicator)

    assert (commune.numerator, commune.denominator, commune.value, commune.is_live) == (4, 8, Decimal("50.000"), True)
    assert (province.numerator, province.denominator) == (6, 10)


@freeze_time(TODAY)
def test_targets_are_inherited_unless_overridden(area_tree, indicator, superuser):
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    TargetFactory(
        indicator=indicator,
        area=area_tree.province,
        year=2025,
        value=Decimal(80),
        comparison=TargetComparison.MORE_THAN,
    )
    TargetFactory(indicator=indicator, area=area_tree.other_commune, year=2030, value=Decimal(90))
    adults(area_tree.village, 4, adopted=2, indicator=indicator)
    month = Period.parse("2026-06")

    village = reading_for(area_indicator_values(user=superuser, area=area_tree.village, period=month), indicator)
    other = reading_for(area_indicator_values(user=superuser, area=area_tree.other_commune, period=month), indicator)

    assert village.targets[2030].value == Decimal(95)
    assert village.targets[2030].inherited
    assert village.targets[2025].comparison == TargetComparison.MORE_THAN
    # In 2026 the target that matters is the next one: 2030.
    assert village.target.year == 2030
    assert village.gap == Decimal("45.000")
    assert other.target.value == Decimal(90)
    assert not other.target.inherited


def test_gap_path_and_projection_from_the_snapshots(area_tree, indicator, superuser):
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    for month, value in [("2026-01-01", "40"), ("2026-03-01", "48"), ("2026-06-01", "60")]:
        IndicatorValue.objects.create(
            province=area_tree.province,
            area=area_tree.commune,
            indicator=indicator,
            period_kind="month",
            period_start=dt.date.fromisoformat(month),
            numerator=1,
            denominator=2,
            value=Decimal(value),
        )
    with freeze_time("2026-08-10"):
        reading = reading_for(
            area_indicator_values(user=superuser, area=area_tree.commune, period=Period.parse("2026-06")), indicator
        )

    assert reading.value == Decimal(60)
    assert not reading.is_live
    assert reading.gap == Decimal("35.000")
    # Straight path from the baseline (40 at January 2026) to 95 at December 2030: 5 of 59 months gone.
    assert reading.expected_now == (Decimal(40) + Decimal(55) * 5 / 59).quantize(Decimal("0.001"))
    assert reading.on_track is True
    # Pace since March: 4 points a month; 35 more points take 9 months from June 2026.
    assert reading.projection == "date"
    assert reading.projected_date == dt.date(2027, 3, 31)


def test_no_progress_projects_not_before_the_horizon(area_tree, indicator, superuser):
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    for month in ("2026-03-01", "2026-06-01"):
        IndicatorValue.objects.create(
            province=area_tree.province,
            area=area_tree.commune,
            indicator=indicator,
            period_kind="month",
            period_start=dt.date.fromisoformat(month),
            numerator=1,
            denominator=2,
            value=Decimal(50),
        )
    with freeze_time("2026-08-10"):
        reading = reading_for(
            area_indicator_values(user=superuser, area=area_tree.commune, period=Period.parse("2026-06")), indicator
        )
    assert reading.projection == "not_before_horizon"
    assert "2030" in reading.projection_label


def snapshot(area, indicator, month, value):
    """A month snapshot of ``value`` (``None``: a month stored without a value)."""
    IndicatorValueFactory(
        area=area,
        indicator=indicator,
        period_start=dt.date.fromisoformat(month),
        numerator=None if value is None else 1,
        denominator=None if value is None else 2,
        value=None if value is None else Decimal(value),
    )


def test_each_child_is_measured_from_its_own_series_first_month(area_tree, indicator, superuser):
    """A ranking reads every child's baseline and pace from that child's own snapshots: series that
    start in different months, a month without a value before the first (not a baseline), another
    indicator's months, and a child without the pace's month."""
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    other = IndicatorFactory(min_age=15)
    snapshot(area_tree.commune, indicator, "2025-12-01", None)
    for month, value in [("2026-01-01", "40"), ("2026-03-01", "48"), ("2026-06-01", "60")]:
        snapshot(area_tree.commune, indicator, month, value)
    for month, value in [("2025-06-01", "10"), ("2026-05-01", "20"), ("2026-06-01", "30")]:
        snapshot(area_tree.other_commune, indicator, month, value)
    snapshot(area_tree.other_commune, other, "2024-01-01", "5")
    with freeze_time("2026-08-10"):
        rows = child_indicator_values(user=superuser, area=area_tree.province, period=Period.parse("2026-06"))
    first, second = (reading_for(row.readings, indicator) for row in sorted(rows, key=lambda row: row.area.path))

    # The first commune: from 40 in January 2026 (5 of 59 months gone), 4 points a month since March.
    assert first.expected_now == (Decimal(40) + Decimal(55) * 5 / 59).quantize(Decimal("0.001"))
    assert (first.projection, first.projected_date) == ("date", dt.date(2027, 3, 31))
    # The second: from 10 in June 2025 (12 of 66 months gone); no March snapshot, so no pace.
    assert second.expected_now == (Decimal(10) + Decimal(85) * 12 / 66).quantize(Decimal("0.001"))
    assert second.on_track is True
    assert second.projection == ""


@freeze_time(TODAY)
def test_children_are_ranked_by_gap(area_tree, indicator, superuser):
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(90))
    adults(area_tree.village, 4, adopted=4, indicator=indicator)
    adults(area_tree.village2, 4, adopted=1, indicator=indicator)

    rows = child_indicator_values(user=superuser, area=area_tree.commune, period=Period.parse("2026-06"))

    assert [row.area for row in rows] == [area_tree.village2, area_tree.village]
    assert [row.gap_score for row in rows] == [Decimal("65.000"), Decimal("-10.000")]


@freeze_time(TODAY)
def test_province_ranking_equals_the_sum_over_each_communes_villages(area_tree, indicator, superuser):
    # The ranking's live sums must stay the sums of the village counts, however they are read
    # (issue 18: per commune rather than over the whole province per view).
    teens = IndicatorFactory(min_age=15, max_age=19)
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    adults(area_tree.village2, 5, adopted=1, indicator=indicator)
    adults(area_tree.other_village, 3, adopted=2, indicator=indicator)
    adults(area_tree.far_village, 6, adopted=6, indicator=indicator)  # another province: not summed
    ResidentFactory(household=HouseholdFactory(village=area_tree.village2), birth_year=2009)
    month = Period.parse("2026-06")

    rows = child_indicator_values(user=superuser, area=area_tree.province, period=month)

    expected = {}
    for commune in (area_tree.commune, area_tree.other_commune):
        counts = VillageCount.objects.filter(village__path__startswith=commune.path).values("indicator_id")
        expected[commune.pk] = {
            row["indicator_id"]: (row["n"], row["d"])
            for row in counts.annotate(n=Sum("numerator"), d=Sum("denominator"))
        }
    ranked = {
        row.area.pk: {r.indicator.pk: (r.numerator, r.denominator) for r in row.readings if r.denominator}
        for row in rows
    }
    assert ranked == expected
    assert ranked[area_tree.commune.pk][indicator.pk] == (4, 9)
    assert ranked[area_tree.commune.pk][teens.pk] == (0, 1)
    assert ranked[area_tree.other_commune.pk][indicator.pk] == (2, 3)


@freeze_time(TODAY)
def test_selectors_take_a_constant_number_of_queries(area_tree, indicator, superuser):
    IndicatorFactory(min_age=15)
    month = Period.parse("2026-06")

    def queries(area):
        # The history read as on the first view after a write of indicator values (not the cache's copy).
        MONTH_HISTORY.changed(area_tree.province.pk)
        with CaptureQueriesContext(connection) as context:
            area_indicator_values(user=superuser, area=area, period=month)
            child_indicator_values(user=superuser, area=area, period=month)
        return len(context.captured_queries)

    adults(area_tree.village, 2, adopted=1, indicator=indicator)
    small = queries(area_tree.province)
    for _ in range(5):
        village = VillageFactory(parent=area_tree.commune)
        adults(village, 3, adopted=2, indicator=indicator)
    assert queries(area_tree.province.__class__.objects.get(pk=area_tree.province.pk)) == small


@freeze_time(TODAY)
def test_a_commune_officer_cannot_read_another_commune(area_tree, indicator, commune_officer):
    month = Period.parse("2026-06")
    assert area_indicator_values(user=commune_officer, area=area_tree.commune, period=month)
    for area in (area_tree.other_commune, area_tree.province, area_tree.far_village):
        with pytest.raises(OutOfScope):
            area_indicator_values(user=commune_officer, area=area, period=month)
        with pytest.raises(OutOfScope):
            child_indicator_values(user=commune_officer, area=area, period=month)
        with pytest.raises(OutOfScope):
            indicator_series(
                user=commune_officer,
                area=area,
                indicator=indicator,
                first_month=dt.date(2026, 1, 1),
                last_month=dt.date(2026, 6, 1),
            )


@freeze_time(TODAY)
def test_series_reads_snapshots_and_the_live_month(area_tree, indicator, superuser):
    adults(area_tree.village, 2, adopted=1, indicator=indicator)
    IndicatorValue.objects.create(
        province=area_tree.province,
        area=area_tree.village,
        indicator=indicator,
        period_kind="month",
        period_start=dt.date(2026, 5, 1),
        numerator=0,
        denominator=2,
        value=Decimal(0),
    )
    points = indicator_series(
        user=superuser,
        area=area_tree.village,
        indicator=indicator,
        first_month=dt.date(2026, 4, 1),
        last_month=dt.date(2026, 6, 1),
    )
    assert [(p.month.month, p.value, p.is_live) for p in points] == [
        (4, None, False),
        (5, Decimal(0), False),
        (6, Decimal("50.000"), True),
    ]
