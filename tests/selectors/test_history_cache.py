"""A ranking's baselines and pace months are cached per province (issue 18), and never read stale.

Every writer of indicator values (a month's close, a reported value) moves the province's version
when its transaction commits (``MONTH_HISTORY.changed``); these tests commit (``transaction=True``),
so the cache is really used and really invalidated, as between the processes of production. What a
user sees of the history is where a commune should be now on the straight path from its first month
to the target (``expected_now``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from fieldteam.models import RollupState
from fieldteam.periods import Period
from fieldteam.province_cache import MONTH_HISTORY
from fieldteam.rollup import recompute
from fieldteam.selectors.indicators import child_indicator_values
from fieldteam.services.indicators import report_indicator_value
from tests.factories import HouseholdFactory, IndicatorFactory, ResidentFactory, TargetFactory
from tests.selectors.test_population_cache import UNREACHABLE_REDIS

pytestmark = pytest.mark.django_db(transaction=True)

MARCH = Period.parse("2026-03")


@pytest.fixture
def reported(area_tree):
    """A reported indicator with a 2030 target of 95 for the province."""
    indicator = IndicatorFactory(reported=True)
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal(95))
    return indicator


def expected_now(user, tree, indicator, period: Period = MARCH) -> Decimal | None:
    """Where the first commune should be in ``period`` by the province's ranking."""
    rows = child_indicator_values(user=user, area=tree.province, period=period)
    readings = next(row.readings for row in rows if row.area.pk == tree.commune.pk)
    return next(r for r in readings if r.indicator.pk == indicator.pk).expected_now


def history_queries(run) -> int:
    """The history's first-month probes among the queries of ``run``."""
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum("MIN(" in query["sql"] for query in queries)


def report(user, tree, indicator, month: str, value: int) -> None:
    report_indicator_value(
        actor=user, indicator=indicator, area=tree.commune, period=Period.parse(month), value=Decimal(value)
    )


@freeze_time("2026-04-10")
def test_a_reported_month_moves_the_baseline_at_once_and_the_second_read_is_the_cache(
    area_tree, superuser, reported
):
    report(superuser, area_tree, reported, "2026-03", 20)
    report(superuser, area_tree, reported, "2026-01", 10)
    # From 10 in January 2026 toward 95 in December 2030: 2 of 59 months gone by March.
    assert expected_now(superuser, area_tree, reported) == (10 + Decimal(85) * 2 / 59).quantize(Decimal("0.001"))
    assert history_queries(lambda: expected_now(superuser, area_tree, reported)) == 0

    report(superuser, area_tree, reported, "2025-12", 5)  # an earlier first month
    assert expected_now(superuser, area_tree, reported) == (5 + Decimal(90) * 3 / 60).quantize(Decimal("0.001"))
    report(superuser, area_tree, reported, "2025-12", 8)  # the first month corrected
    assert expected_now(superuser, area_tree, reported) == (8 + Decimal(87) * 3 / 60).quantize(Decimal("0.001"))


@freeze_time("2026-04-10")
def test_a_closed_month_is_a_baseline_at_once(area_tree, superuser):
    adults = IndicatorFactory(min_age=18)
    TargetFactory(indicator=adults, area=area_tree.province, year=2030, value=Decimal(95))
    with freeze_time("2026-01-05"):
        ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1980)
    RollupState.objects.update_or_create(province=area_tree.province, defaults={"month": dt.date(2026, 4, 1)})
    april = Period.parse("2026-04")  # open: its value is live
    assert expected_now(superuser, area_tree, adults, april) is None  # no month closed: no baseline

    recompute.close_month(province_id=area_tree.province.pk, month=dt.date(2026, 2, 1))
    # 0 % in February 2026 toward 95 in December 2030: 2 of 58 months gone by April.
    assert expected_now(superuser, area_tree, adults, april) == (Decimal(95) * 2 / 58).quantize(Decimal("0.001"))


@freeze_time("2026-04-10")
def test_inside_its_transaction_a_writer_reads_its_own_history(area_tree, superuser, reported):
    report(superuser, area_tree, reported, "2026-03", 20)
    report(superuser, area_tree, reported, "2026-01", 10)
    assert expected_now(superuser, area_tree, reported) is not None  # cached
    with transaction.atomic():
        report(superuser, area_tree, reported, "2025-12", 5)
        assert expected_now(superuser, area_tree, reported) == (5 + Decimal(90) * 3 / 60).quantize(Decimal("0.001"))
        assert history_queries(lambda: expected_now(superuser, area_tree, reported)) == 1  # not the cache
    # Committed: every process reads the new first month, this one's copy included.
    MONTH_HISTORY.clear()
    assert expected_now(superuser, area_tree, reported) == (5 + Decimal(90) * 3 / 60).quantize(Decimal("0.001"))


@freeze_time("2026-04-10")
def test_without_a_cache_the_history_is_right(area_tree, superuser, reported, settings):
    settings.CACHES = UNREACHABLE_REDIS  # FailOpenRedisCache: every read misses, every write is dropped
    report(superuser, area_tree, reported, "2026-03", 20)
    report(superuser, area_tree, reported, "2026-01", 10)
    assert expected_now(superuser, area_tree, reported) == (10 + Decimal(85) * 2 / 59).quantize(Decimal("0.001"))
    report(superuser, area_tree, reported, "2025-12", 5)
    assert expected_now(superuser, area_tree, reported) == (5 + Decimal(90) * 3 / 60).quantize(Decimal("0.001"))
    assert history_queries(lambda: expected_now(superuser, area_tree, reported)) == 1  # read each time
