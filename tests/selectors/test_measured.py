"""Targets are measured by the official rate where there is an official figure, else the register's (issue 15).

A village's register says 90% (18 of its 20 registered adults) but the province counts 45 adults:
the rate the province reports is 40%, and the targets, gap, path, projection and status follow it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from freezegun import freeze_time

from fieldteam.choices import AdoptionSource, PeriodKind
from fieldteam.models import Area, Indicator, IndicatorValue
from fieldteam.periods import Period
from fieldteam.selectors.indicators import (
    MEASURED_OFFICIAL,
    MEASURED_REGISTER,
    IndicatorReading,
    area_indicator_values,
    indicator_series,
)
from fieldteam.selectors.reports import periodic_report
from fieldteam.selectors.status import BEHIND, MISSED, REACHED, reached_months, reading_status
from fieldteam.services import adoption as adoption_services
from tests.conftest import AreaTree
from tests.factories import (
    HouseholdFactory,
    IndicatorFactory,
    OfficialPopulationFactory,
    ResidentFactory,
    TargetFactory,
)

TODAY = "2026-06-15"
pytestmark = pytest.mark.django_db


@pytest.fixture
def indicator(area_tree: AreaTree) -> Indicator:
    """Adults (18+) holding a capability: measured over the official 18+ band."""
    indicator = IndicatorFactory(min_age=18)
    TargetFactory(indicator=indicator, area=area_tree.province, year=2025, value=Decimal("80.00"))
    TargetFactory(indicator=indicator, area=area_tree.province, year=2026, value=Decimal("80.00"))
    return indicator


def register_adults(village: Area, indicator: Indicator, *, n: int = 20, adopted: int = 18) -> None:
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


def snapshot(
    indicator: Indicator, area: Area, start: str, numerator: int, denominator: int, kind: str = "month"
) -> None:
    """A frozen value as ``close_month`` leaves it: numerator, denominator and the register's rate."""
    IndicatorValue.objects.create(
        province=Area.objects.get(path=area.path[: Area.steplen]),
        area=area,
        indicator=indicator,
        period_kind=PeriodKind.MONTH if kind == "month" else PeriodKind.YEAR,
        period_start=dt.date.fromisoformat(start),
        numerator=numerator,
        denominator=denominator,
        value=(Decimal(numerator) * 100 / Decimal(denominator)).quantize(Decimal("0.001")),
    )


def reading_of(user, area: Area, indicator: Indicator, period: str) -> IndicatorReading:
    readings = area_indicator_values(user=user, area=area, period=Period.parse(period))
    return next(r for r in readings if r.indicator.pk == indicator.pk)


def make_low_official_village(area_tree: AreaTree, indicator: Indicator) -> None:
    """Register 90% now (18/20), 45 adults officially (40%); January's snapshot 9/20 (official 20%)."""
    register_adults(area_tree.village, indicator)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=80, age_18_plus=45)
    snapshot(indicator, area_tree.village, "2026-01-01", 9, 20)


@freeze_time(TODAY)
def test_a_register_rate_above_target_is_behind_by_the_official_rate(area_tree, indicator, superuser) -> None:
    make_low_official_village(area_tree, indicator)

    reading = reading_of(superuser, area_tree.village, indicator, "2026-06")

    assert (reading.value, reading.official_value) == (Decimal("90.000"), Decimal("40.000"))
    assert (reading.measured_by, reading.measured_value) == (MEASURED_OFFICIAL, Decimal("40.000"))
    assert reading.gap == Decimal("40.000")  # 80 - 40, not 80 - 90
    # The path from January's official 20% to 80% by December 2026: 20 + 60 × 5/11 = 47.273.
    assert reading.expected_now == Decimal("47.273")
    assert reading.on_track is False
    assert reading.projection != "reached"
    assert reading_status(reading).code == BEHIND


@freeze_time(TODAY)
def test_without_an_official_figure_the_register_rate_measures_and_says_so(area_tree, indicator, superuser) -> None:
    register_adults(area_tree.village, indicator)

    reading = reading_of(superuser, area_tree.village, indicator, "2026-06")

    assert reading.official_value is None
    assert (reading.measured_by, reading.measured_value) == (MEASURED_REGISTER, Decimal("90.000"))
    assert reading.gap == Decimal("-10.000")
    assert reading_status(reading).code == REACHED
    with translation.override("vi"):
        assert reading.measured_label == "theo sổ đăng ký"


@freeze_time(TODAY)
def test_a_closed_year_met_on_the_register_is_missed_by_the_official_rate(area_tree, indicator, superuser) -> None:
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=80, age_18_plus=45)
    for month in range(1, 13):
        snapshot(indicator, area_tree.village, f"2025-{month:02}-01", 18, 20)
    snapshot(indicator, area_tree.village, "2025-01-01", 18, 20, kind="year")

    reading = reading_of(superuser, area_tree.village, indicator, "2025")
    reached = reached_months(user=superuser, area=area_tree.village, readings=[reading])

    assert reading.value == Decimal("90.000") and reading.measured_value == Decimal("40.000")
    assert reached == {}
    status = reading_status(reading, reached)
    assert status.code == MISSED
    with translation.override("vi"):
        assert status.label == "không đạt"


@freeze_time(TODAY)
def test_a_past_month_is_reached_by_its_own_years_official_rate(area_tree, indicator, superuser) -> None:
    # 9 holders: over 2025's 45 adults 20%; over 2026's 10 adults 90% (the register says 45%).
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=80, age_18_plus=45)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    snapshot(indicator, area_tree.village, "2025-12-01", 9, 20)
    snapshot(indicator, area_tree.village, "2026-02-01", 9, 20)
    snapshot(indicator, area_tree.village, "2026-03-01", 9, 20)
    reading = reading_of(superuser, area_tree.village, indicator, "2026-03")

    with CaptureQueriesContext(connection) as queries:
        reached = reached_months(user=superuser, area=area_tree.village, readings=[reading])

    assert len(queries) == 1  # the figures of every year came with the reading
    assert reached == {(indicator.pk, 2026): dt.date(2026, 2, 1)}  # not 2025-12: that year's figure is 45
    assert reading_status(reading, reached).code == REACHED
    assert reading_status(reading, reached).reached_on == dt.date(2026, 2, 1)


@freeze_time(TODAY)
def test_the_series_is_measured_month_by_month_over_each_years_figure(area_tree, indicator, superuser) -> None:
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)
    snapshot(indicator, area_tree.village, "2025-12-01", 9, 20)  # no 2025 figure: the register's 45%
    snapshot(indicator, area_tree.village, "2026-01-01", 9, 20)  # over 2026's 10: 90%

    points = indicator_series(
        user=superuser,
        area=area_tree.village,
        indicator=indicator,
        first_month=dt.date(2025, 12, 1),
        last_month=dt.date(2026, 2, 1),
    )

    assert [(p.value, p.measured_value) for p in points] == [
        (Decimal("45.000"), Decimal("45.000")),
        (Decimal("45.000"), Decimal("90.000")),
        (None, None),
    ]


@freeze_time(TODAY)
def test_a_reported_indicator_is_measured_by_its_value(area_tree, superuser) -> None:
    reported = IndicatorFactory(reported=True)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=80, age_18_plus=45)
    IndicatorValue.objects.create(
        province=area_tree.province,
        area=area_tree.village,
        indicator=reported,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(2026, 5, 1),
        value=Decimal("12.500"),
    )

    reading = reading_of(superuser, area_tree.village, reported, "2026-05")

    assert (reading.measured_by, reading.measured_value) == ("reported", Decimal("12.500"))


@freeze_time(TODAY)
def test_the_report_says_what_the_targets_are_measured_by_and_colours_that_value(
    area_tree, indicator, superuser
) -> None:
    make_low_official_village(area_tree, indicator)

    with translation.override("vi"):
        table = periodic_report(user=superuser, area=area_tree.village, period=Period.parse("2026-06")).tables[0]
    labels = [column.label for column in table.columns]
    number, row = next((i, r) for i, r in enumerate(table.rows) if r[1] == indicator.code)

    assert row[labels.index("Mục tiêu được đo")] == "theo dân số chính thức"
    assert row[labels.index("Khoảng cách (điểm %)")] == Decimal("40.000")
    assert row[labels.index("Tình trạng")] == "chậm tiến độ"
    assert (number, 5) in table.bands and (number, 10) not in table.bands  # the official rate carries the colour
