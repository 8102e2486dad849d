"""The resolved official figures are cached per province and year (issue 15), and never read stale.

Every writer of official populations and of areas moves the province's version when its
transaction commits (``official_figures_changed``); these tests commit (``transaction=True``), so
the cache is really used and really invalidated, as between the processes of production.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from freezegun import freeze_time

from fieldteam.periods import Period
from fieldteam.selectors import population
from fieldteam.selectors.indicators import area_indicator_values
from fieldteam.selectors.population import official_figures
from fieldteam.services.areas import create_village, update_area
from fieldteam.services.population import delete_official_population, set_official_population
from tests.factories import IndicatorFactory

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = "2026-06-15"
UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "fieldteam.cache.FailOpenRedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2},
    }
}


def adults_figure(area, year=2026):
    return official_figures(area, year)[area.pk]["age_18_plus"]


def figure_queries(run) -> int:
    with CaptureQueriesContext(connection) as queries:
        run()
    return sum("official" in query["sql"] for query in queries)


@freeze_time(TODAY)
def test_a_figure_written_is_read_back_and_the_second_read_is_the_cache(area_tree):
    commune = area_tree.commune
    set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=40)
    assert adults_figure(commune).value == 40
    assert figure_queries(lambda: adults_figure(commune)) == 0  # the province's resolution, cached

    set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=60)
    assert adults_figure(commune).value == 60
    # Another process (no resolution of its own in memory) reads the new value too.
    population.clear_caches()
    assert adults_figure(commune).value == 60
    # The province sums its communes only when every one has a figure: the other commune has none.
    assert adults_figure(area_tree.province).value is None

    figure = set_official_population(actor=None, area=area_tree.other_commune, year=2026, total=50, age_18_plus=5)
    assert adults_figure(area_tree.province).value == 65
    delete_official_population(actor=None, figure=figure.figure)
    assert adults_figure(area_tree.province).value is None


@freeze_time(TODAY)
def test_the_readings_follow_a_written_figure(area_tree, superuser):
    indicator = IndicatorFactory(min_age=18)
    period = Period.parse("2026-06")

    def official():
        readings = area_indicator_values(user=superuser, area=area_tree.commune, period=period)
        return next(r for r in readings if r.indicator.pk == indicator.pk).official.value

    assert official() is None
    set_official_population(actor=None, area=area_tree.commune, year=2026, total=100, age_18_plus=40)
    assert official() == 40


@freeze_time(TODAY)
def test_areas_written_move_the_figures_too(area_tree):
    commune = area_tree.commune
    missing = official_figures(area_tree.province, 2026)[commune.pk]["total"].missing
    assert set(missing) == {"Thôn 1", "Thôn 2"}

    update_area(actor=None, area=area_tree.village, name="Thôn Một")
    assert set(official_figures(area_tree.province, 2026)[commune.pk]["total"].missing) == {"Thôn Một", "Thôn 2"}

    for village in (area_tree.village, area_tree.village2):
        set_official_population(actor=None, area=village, year=2026, total=10)
    assert official_figures(area_tree.province, 2026)[commune.pk]["total"].value == 20
    # A new village without a figure: the commune's sum no longer holds.
    create_village(actor=None, commune=commune, code="new-village", name="Thôn mới", kind="thon")
    total = official_figures(area_tree.province, 2026)[commune.pk]["total"]
    assert (total.value, total.missing) == (None, ("Thôn mới",))


@pytest.mark.django_db
@freeze_time(TODAY)
def test_inside_its_transaction_a_writer_reads_its_own_figure(area_tree):
    commune = area_tree.commune
    set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=40)
    assert adults_figure(commune).value == 40
    with transaction.atomic():
        set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=70)
        assert adults_figure(commune).value == 70
    assert adults_figure(commune).value == 70


@freeze_time(TODAY)
def test_without_a_cache_the_figures_are_right(area_tree, settings):
    settings.CACHES = UNREACHABLE_REDIS  # FailOpenRedisCache: every read misses, every write is dropped
    commune = area_tree.commune
    set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=40)
    assert adults_figure(commune).value == 40
    set_official_population(actor=None, area=commune, year=2026, total=100, age_18_plus=60)
    assert adults_figure(commune).value == 60
    assert figure_queries(lambda: adults_figure(commune)) == 1  # resolved from the database each time
