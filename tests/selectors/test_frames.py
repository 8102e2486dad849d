"""A dashboard's frame (areas, indicators, targets in force) is read once per version, and never stale.

On PostgreSQL every statement writing areas, indicators, capabilities, bounds or targets draws a new
version (migration 0033's triggers), and a process serves the frame it read under the version it reads.
These tests commit (``transaction=True``), as the processes of production do, and check what an
officer sees on the province's ranking after each kind of writer: a service's save, a bulk write, a
queryset update, a tree move, hand-made SQL. The same tests on SQLite (no version: the frame read on
every view) check the uncached path gives the same answers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from fieldteam.choices import PeriodKind, TargetComparison
from fieldteam.models import Area, Capability, Indicator, Plan, PlanTarget, Target
from fieldteam.periods import Period, today
from fieldteam.selectors import frames
from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values
from fieldteam.services import areas as area_services
from fieldteam.services.counting import set_population_bound
from fieldteam.services.indicators import apply_plan_targets, delete_target, set_target
from tests.clock import tomorrow
from tests.factories import IndicatorFactory, TargetFactory

pytestmark = pytest.mark.django_db(transaction=True)


def this_month() -> Period:
    return Period.containing(PeriodKind.MONTH, today())


def ranking(user, tree) -> list[tuple]:
    """What the province's ranking shows: each commune's name, and each reading's indicator (and what
    it counts), 2030 target and its area, and official band."""
    return [
        (
            row.area.name,
            [
                (
                    r.indicator.code,
                    r.indicator.capability.name,
                    None if r.target is None else (r.target.year, r.target.value, r.target.area_id),
                    r.official_band,
                )
                for r in row.readings
            ],
        )
        for row in child_indicator_values(user=user, area=tree.province, period=this_month())
    ]


def views(user, tree) -> tuple:
    """What an officer sees: the province's ranking, the province's own readings (indicator and
    target) and the first commune's ranking of its villages."""
    page = [
        (r.indicator.code, None if r.target is None else (r.target.year, r.target.value))
        for r in area_indicator_values(user=user, area=tree.province, period=this_month())
    ]
    villages = [row.area.name for row in child_indicator_values(user=user, area=tree.commune, period=this_month())]
    return ranking(user, tree), page, villages


@pytest.fixture
def framed(area_tree):
    """Two computed indicators with a province target each, one of them on the first commune too."""
    adults, elders = IndicatorFactory(code="adults", min_age=18), IndicatorFactory(code="elders", min_age=60)
    TargetFactory(indicator=adults, area=area_tree.province, year=2030, value=Decimal(90))
    TargetFactory(indicator=elders, area=area_tree.province, year=2030, value=Decimal(50))
    TargetFactory(indicator=adults, area=area_tree.commune, year=2030, value=Decimal(95))
    return adults, elders


def _plan_on_the_communes(tree, framed) -> None:
    adults, _elders = framed
    plan = Plan.objects.create(province=tree.province, document="18/KH-UBND", name="Kế hoạch 18", adopted_on=dt.date(2026, 1, 19))
    PlanTarget.objects.create(plan=plan, indicator=adults, year=2030, value=Decimal(70), comparison=TargetComparison.AT_LEAST)
    # Bulk-created targets (no save signal): the trigger sees the statement all the same.
    apply_plan_targets(actor=None, plan=plan, areas=[tree.other_commune], effective_from=today())


def _raw_sql(tree, framed) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Target._meta.db_table} SET value = 42 WHERE area_id = %s", [tree.province.pk])  # noqa: S608


WRITERS: dict[str, Callable] = {
    "a target set by the service": lambda tree, framed: set_target(
        actor=None, indicator=framed[1], area=tree.other_commune, year=2030, value=Decimal(60)
    ),
    "a target deleted": lambda tree, framed: delete_target(
        actor=None, target=Target.objects.get(area=tree.commune)
    ),
    "a plan applied (bulk)": _plan_on_the_communes,
    "targets changed by hand-made SQL": _raw_sql,
    "a capability renamed (queryset update)": lambda tree, framed: Capability.objects.filter(
        pk=framed[0].capability_id
    ).update(name="Tài khoản thanh toán"),
    "an indicator deactivated (queryset update)": lambda tree, framed: Indicator.objects.filter(
        pk=framed[1].pk
    ).update(is_active=False),
    "a province's own bounds": lambda tree, framed: set_population_bound(
        actor=None, province=tree.province, indicator=framed[0], min_age=15, max_age=None
    ),
    "a commune renamed": lambda tree, framed: area_services.update_area(
        actor=None, area=tree.other_commune, name="Xã Ia Hrung mới"
    ),
    "a commune created": lambda tree, framed: area_services.create_area(
        actor=None, parent=tree.province, code="99999", name="Xã Mới", kind=tree.commune.kind
    ),
    "a village moved to the other commune (tree move)": lambda tree, framed: area_services.move_area(
        actor=None, area=tree.village2, parent=tree.other_commune
    ),
}


@pytest.mark.parametrize("writer", WRITERS.values(), ids=WRITERS.keys())
def test_every_writer_of_the_frame_is_seen_by_the_next_view(area_tree, superuser, framed, writer):
    before = views(superuser, area_tree)
    assert views(superuser, area_tree) == before  # the process's copy, if it keeps one

    writer(area_tree, framed)

    after = views(superuser, area_tree)
    assert after != before
    frames.clear_caches()  # what a process that never read the frame sees
    assert views(superuser, area_tree) == after


@pytest.mark.postgres_only
def test_a_second_view_reads_one_row_for_its_frame(area_tree, superuser, framed):
    def frame_queries() -> tuple[int, int]:
        """The frame's version reads, and its reads of targets (one of the three rows it keeps)."""
        with CaptureQueriesContext(connection) as captured:
            ranking(superuser, area_tree)
        sqls = [query["sql"] for query in captured]
        return sum("indicatorframe_version" in sql for sql in sqls), sum(f'FROM "{Target._meta.db_table}"' in sql for sql in sqls)

    assert frame_queries() == (1, 1)
    assert frame_queries() == (1, 0)  # the version only
    TargetFactory(indicator=framed[1], area=area_tree.commune, year=2030, value=Decimal(55))
    assert frame_queries() == (1, 1)
    assert frame_queries() == (1, 0)


@pytest.mark.postgres_only
def test_a_rolled_back_write_is_never_served(area_tree, superuser, framed):
    before = ranking(superuser, area_tree)
    seen_by_the_writer = []

    def write_and_roll_back() -> None:
        with transaction.atomic():
            set_target(actor=None, indicator=framed[1], area=area_tree.commune, year=2030, value=Decimal(10))
            seen_by_the_writer.append(ranking(superuser, area_tree))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        write_and_roll_back()
    assert seen_by_the_writer[0] != before  # the writer saw its own write
    assert ranking(superuser, area_tree) == before
    # The number the rolled-back write drew is never drawn again: a committed write's frame is its own.
    set_target(actor=None, indicator=framed[1], area=area_tree.other_commune, year=2030, value=Decimal(60))
    shown = {target[1] for _name, readings in ranking(superuser, area_tree) for *_r, target, _band in readings if target}
    assert Decimal(10) not in shown and Decimal(60) in shown


def test_a_plan_in_force_from_tomorrow_frames_tomorrows_views(area_tree, superuser, framed, monkeypatch):
    adults, _elders = framed
    plan = Plan.objects.create(province=area_tree.province, document="5/KH", name="Kế hoạch 5", adopted_on=today())
    PlanTarget.objects.create(plan=plan, indicator=adults, year=2030, value=Decimal(99), comparison=TargetComparison.AT_LEAST)
    apply_plan_targets(actor=None, plan=plan, areas=[area_tree.other_commune], effective_from=tomorrow())

    def commune_target() -> Decimal:
        readings = area_indicator_values(user=superuser, area=area_tree.other_commune, period=this_month())
        return next(r.target.value for r in readings if r.target is not None and r.indicator.pk == adults.pk)

    assert commune_target() == Decimal(90)  # the province's until the plan is in force
    monkeypatch.setattr(frames, "today", tomorrow)  # no write in between: only the day has changed
    assert commune_target() == Decimal(99)


def test_an_area_and_its_children_have_frames_of_their_own(area_tree, superuser, framed):
    ranking(superuser, area_tree)
    area_indicator_values(user=superuser, area=area_tree.commune, period=this_month())
    rows = child_indicator_values(user=superuser, area=area_tree.commune, period=this_month())
    assert [row.area.pk for row in rows] == [area_tree.village.pk, area_tree.village2.pk]
    # The commune's own target (95) for its villages, the province's (90) for the other commune's.
    assert {r.target.value for row in rows for r in row.readings if r.indicator.code == "adults"} == {Decimal(95)}
    other = child_indicator_values(user=superuser, area=area_tree.other_commune, period=this_month())
    assert {r.target.value for row in other for r in row.readings if r.indicator.code == "adults"} == {Decimal(90)}


@pytest.mark.postgres_only
def test_a_view_holding_an_area_older_than_the_frame_keeps_no_stale_frame(area_tree, superuser, framed):
    adults, _elders = framed
    held = Area.objects.get(pk=area_tree.village2.pk)  # loaded by a view before the move below
    area_services.move_area(actor=None, area=area_tree.village2, parent=area_tree.other_commune)

    readings = area_indicator_values(user=superuser, area=held, period=this_month())
    # Under the other commune, which has no target of its own: the province's 90, not the first commune's 95.
    assert next(r.target.value for r in readings if r.indicator.pk == adults.pk) == Decimal(90)
    fresh = Area.objects.get(pk=area_tree.village2.pk)
    assert next(
        r.target.value for r in area_indicator_values(user=superuser, area=fresh, period=this_month())
        if r.indicator.pk == adults.pk
    ) == Decimal(90)
