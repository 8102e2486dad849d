"""The one status rule: a value's words and colour against a target, a passed target year included."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import translation
from freezegun import freeze_time

from fieldteam.choices import PeriodKind
from fieldteam.models import Area, IndicatorValue
from fieldteam.periods import Period
from fieldteam.selectors.indicators import IndicatorReading, TargetInfo
from fieldteam.selectors.status import reached_months, reading_status, target_status
from tests.factories import IndicatorFactory


def target(year: int, value: str, area_id: int) -> TargetInfo:
    return TargetInfo(year=year, value=Decimal(value), comparison="at_least", area_id=area_id, inherited=False)


def reading(indicator, area, period: str, value: str | None, *, on_track: bool | None = None, years=(2025, 2030)):
    targets = {2025: target(2025, "80", area.pk), 2030: target(2030, "95", area.pk)}
    targets = {y: t for y, t in targets.items() if y in years}
    p = Period.parse(period)
    later = [y for y in sorted(targets) if y >= p.start.year]
    return IndicatorReading(
        indicator=indicator,
        area_id=area.pk,
        period=p,
        value=None if value is None else Decimal(value),
        is_live=p.is_open(),
        targets=targets,
        target=targets[later[0]] if later else None,
        on_track=on_track,
    )


def snapshot(indicator, area, month: str, value: str) -> None:
    IndicatorValue.objects.create(
        province=Area.objects.get(path=area.path[: Area.steplen]),
        area=area,
        indicator=indicator,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date.fromisoformat(f"{month}-01"),
        value=Decimal(value),
    )


@pytest.fixture
def indicator(db):
    return IndicatorFactory()


@freeze_time("2026-12-15")
def test_a_missed_2025_target_reads_missed_in_2026_never_on_track(indicator, area_tree, superuser):
    commune = area_tree.commune
    for month, value in (("2025-06", "50"), ("2025-12", "60"), ("2026-11", "62.3")):
        snapshot(indicator, commune, month, value)
    r = reading(indicator, commune, "2026-12", "62.3", on_track=True)
    reached = reached_months(user=superuser, area=commune, readings=[r])

    passed = target_status(r, r.targets[2025], reached)
    current = reading_status(r, reached)

    assert passed.code == "missed"
    assert passed.tone == "far"
    # Measured by 2030 now: on its path, and the colour says the same as the words.
    assert (current.code, current.tone) == ("on_track", "near")


@freeze_time("2026-12-15")
def test_a_2025_target_met_in_time_reads_reached_with_its_month(indicator, area_tree, superuser):
    village = area_tree.village
    for month, value in (("2025-02", "79.9"), ("2025-03", "80"), ("2025-04", "78"), ("2026-11", "81")):
        snapshot(indicator, village, month, value)
    r = reading(indicator, village, "2026-12", "81", on_track=False)
    reached = reached_months(user=superuser, area=village, readings=[r])

    status = target_status(r, r.targets[2025], reached)

    assert (status.code, status.reached_on, status.tone) == ("reached", dt.date(2025, 3, 1), "reached")
    with translation.override("vi"):
        assert status.label == "đã đạt (03/2025)"


@freeze_time("2026-12-15")
def test_a_target_met_only_after_its_year_is_still_missed(indicator, area_tree, superuser):
    village = area_tree.village
    snapshot(indicator, village, "2025-12", "70")
    snapshot(indicator, village, "2026-02", "85")
    r = reading(indicator, village, "2026-12", "85", on_track=True)
    reached = reached_months(user=superuser, area=village, readings=[r])

    assert target_status(r, r.targets[2025], reached).code == "missed"


@freeze_time("2026-03-10")
@pytest.mark.parametrize(("value", "expected"), [("79", "missed"), ("80", "reached")])
def test_the_closed_year_of_a_target_is_judged_by_its_year_end_value(indicator, area_tree, value, expected):
    r = reading(indicator, area_tree.commune, "2025", value, on_track=True)

    assert reading_status(r).code == expected


@freeze_time("2025-12-10")
def test_the_open_last_month_of_the_target_year_is_not_yet_missed(indicator, area_tree):
    r = reading(indicator, area_tree.commune, "2025-12", "70", on_track=False)

    assert reading_status(r).code == "behind"


@freeze_time("2026-06-10")
def test_a_far_value_on_its_path_is_not_painted_red(indicator, area_tree):
    r = reading(indicator, area_tree.commune, "2026-06", "40", on_track=True)

    status = reading_status(r)

    assert (status.code, status.tone) == ("on_track", "near")


@freeze_time("2026-06-10")
@pytest.mark.parametrize(
    ("value", "on_track", "years", "expected"),
    [
        (None, None, (2025, 2030), "no_value"),
        ("50", None, (), "no_target"),
        ("50", None, (2030,), "below"),
        ("96", False, (2030,), "reached"),
        ("50", False, (2030,), "behind"),
    ],
)
def test_the_other_statuses(indicator, area_tree, value, on_track, years, expected):
    r = reading(indicator, area_tree.commune, "2026-06", value, on_track=on_track, years=years)

    assert reading_status(r).code == expected
