#!/usr/bin/env python
"""Province dashboard benchmark (issue "Dashboards and reports"). Run by hand, not in CI; PostgreSQL only.

Renders the province dashboard page (``/dashboards/areas/<province>/``, as a province officer,
the whole request: middleware, session, selectors, SVG charts, template) of the synthetic Gia Lai
that ``bench/rollup.py`` loads (its loader is imported, not copied), and prints for each run its
time and number of queries, then the median. In the same run it times the floor: the two
selectors no province dashboard can do without (``area_indicator_values`` and
``child_indicator_values``), and prints ``ratio: X`` (page / floor) as its last line.

    .venv/bin/python bench/dashboard.py --reuse                       # the data bench/rollup.py loaded
    .venv/bin/python bench/dashboard.py --residents 100000 --reuse    # a quick, smaller province

The page must cost the same number of queries whatever the size of the province: the test suite
proves it (``tests/dashboards/test_views.py``); this prints it at 5,600 villages. The synthetic
province has no teams, logs or month snapshots (the loader makes none): the activity section and
the trends then cost their queries but draw nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rollup import (  # noqa: E402 - after the path is set
    DEFAULT_URL,
    FULL_RESIDENTS,
    PEOPLE_PER_HOUSEHOLD,
    PROVINCE_CODE,
    build,
    ensure_database,
    loaded_size,
    say,
    setup_django,
)

OFFICER = "bench.tinh"


def load(args: argparse.Namespace) -> None:
    """The synthetic province, through bench/rollup.py's loader (kept when ``--reuse`` finds it at this size)."""
    from django.db import connection

    kept = ensure_database(args.database_url, reuse=args.reuse)
    setup_django(args.database_url)
    households = max(1, round(args.residents / PEOPLE_PER_HOUSEHOLD))
    if kept and loaded_size() == (args.residents, households):
        say(f"reusing {args.database_url}: {args.residents:,} residents, {households:,} households")
        return
    if kept:
        say("the database holds another size: building it again")
        connection.close()
        ensure_database(args.database_url, reuse=False)
    say(f"building {args.database_url}: {args.residents:,} residents, {households:,} households")
    started = time.perf_counter()
    build(args.residents, args.seed)
    say(f"  loaded in {time.perf_counter() - started:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=FULL_RESIDENTS, help="residents (households = N / 3.5)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if already loaded at this size")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--renders", type=int, default=20, help="timed page renders (after 2 warm-up renders)")
    parser.add_argument("--period", default="", help="e.g. 2026-Q1; default: this month (live values)")
    args = parser.parse_args()
    load(args)

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from fieldteam.choices import VILLAGE_KINDS, AreaRoleKind
    from fieldteam.models import Area, AreaRole, IndicatorValue, User, VillageCount
    from fieldteam.periods import Period, today
    from fieldteam.rollup.recompute import recompute_province
    from fieldteam.selectors.indicators import area_indicator_values, child_indicator_values

    province = Area.objects.get(code=PROVINCE_CODE)
    if not VillageCount.objects.filter(province_id=province.pk).exists():
        say("no live counts yet: one full recompute (as bench/rollup.py's first step does)")
        recompute_province(province_id=province.pk)
        # The loader analysed its tables before these counts existed (and the test cluster runs no
        # autovacuum): without their size the planner sorts the province's 60,000 counts on disk
        # for the ranking instead of hashing its ~1,500 groups, and the time follows the disk.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE fieldteam_villagecount")
    officer, _created = User.objects.get_or_create(username=OFFICER, defaults={"is_staff": True})
    AreaRole.objects.get_or_create(user=officer, area=province, role=AreaRoleKind.PROVINCE_OFFICER)
    villages = Area.objects.filter(province=province, kind__in=VILLAGE_KINDS).count()
    communes = Area.objects.filter(path__startswith=province.path, depth=province.depth + 1).count()
    snapshots = IndicatorValue.objects.filter(province=province).count()
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    say(f"{version}; {os.cpu_count()} CPUs")
    say(f"data: {province.name}: {communes} communes, {villages:,} villages, {snapshots:,} snapshot rows")

    client = Client(SERVER_NAME="localhost")
    client.force_login(officer)
    url = reverse("dashboards:area", kwargs={"area_id": province.pk})
    query = {"period": args.period} if args.period else {}
    period = Period.parse(args.period) if args.period else Period.containing("month", today())

    def render() -> tuple[float, int, int]:
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(url, query)
            elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")
        return elapsed, len(captured), len(response.content)

    say("")
    say(f"1. province dashboard page, GET {url} as a province officer, period {period}")
    for _ in range(2):
        render()
    runs = [render() for _ in range(args.renders)]
    for number, (seconds, queries, size) in enumerate(runs, start=1):
        say(f"   render {number:>2}: {seconds * 1000:7.1f} ms, {queries} queries, {size / 1024:.1f} KB")
    page_s = statistics.median(r[0] for r in runs)
    counts = {r[1] for r in runs}
    say(f"   median {page_s * 1000:.1f} ms; queries per render: {', '.join(map(str, sorted(counts)))}")

    say("")
    say("2. floor: the two selectors every province dashboard needs, as the same officer")
    user = User.objects.get(pk=officer.pk)

    def selectors() -> int:
        with CaptureQueriesContext(connection) as captured:
            area_indicator_values(user=user, area=province, period=period)
            child_indicator_values(user=user, area=province, period=period)
        return len(captured)

    selectors()
    floor_times = []
    for _ in range(args.renders):
        started = time.perf_counter()
        floor_queries = selectors()
        floor_times.append(time.perf_counter() - started)
    floor_s = statistics.median(floor_times)
    say(f"   median {floor_s * 1000:.1f} ms, {floor_queries} queries")

    say("")
    say(
        f"summary: province dashboard {page_s * 1000:.1f} ms median, {max(counts)} queries "
        f"({villages:,} villages); floor {floor_s * 1000:.1f} ms"
    )
    say(f"ratio: {page_s / floor_s:.2f}")


if __name__ == "__main__":
    main()
