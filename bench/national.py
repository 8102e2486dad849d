#!/usr/bin/env python
"""National-scale benchmark (issue 18). Run by hand, not in CI; PostgreSQL only.

Builds a synthetic country: the 34 provinces and 3,321 communes with their real codes
(``load_admin_units``, from ``vietnam-provinces``), 20 to 40 villages under each commune (about
100,000), and ``--residents`` residents (default 10,000,000; households = residents / 3.5) spread
over the provinces in proportion to their communes (times a random factor of 0.6-1.6), with the
age structure, adoption and loader of ``bench/rollup.py`` (COPY into a dedicated database; the
indexes dropped once for the whole country and rebuilt after). Then, in one run, it prints

1. the recompute of three provinces of different sizes, its cost per million residents (it must
   grow linearly) and its floor, the hand-written SQL of ``bench/rollup.py`` (best of 3 each, in
   alternation; ratio = recompute / floor);
2. the whole country's nightly recompute as the Celery "rollup" queue runs it: one province per
   task (``tasks.recompute_province``, in the order of ``tasks.recompute_all_provinces``), taken
   from a queue by one worker process, then by two;
3. the month close of the whole country (``tasks.roll_month_forward`` of every province: the
   month frozen as ``IndicatorValue`` rows of every area, then the counts rebased), one worker
   and two;
4. the dashboard selectors: national (``selectors.national.national_indicator_values``, if
   present), the largest province's (``area_indicator_values``) and its ranking of communes
   (``child_indicator_values``): p50, p99, queries;
5. the ranking's live sums read from the stored commune rows (``CommuneCount``, issue 18) against
   the village counts summed per view as before them (checked equal), interleaved.

    .venv/bin/python bench/national.py --residents 1000000          # about 3 minutes to build
    .venv/bin/python bench/national.py --residents 1000000 --reuse  # measure again
    .venv/bin/python bench/national.py --drop                       # drop the database and stop

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/fieldteam_national``): dropped and
created again unless ``--reuse`` finds it loaded at the same size.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import rollup  # noqa: E402 - after the path is set
from bench.rollup import PEOPLE_PER_HOUSEHOLD, ensure_database, percentile, say, setup_django  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fieldteam_national"
FULL_RESIDENTS = 10_000_000
VILLAGES_PER_COMMUNE = (20, 40)  # about 100,000 villages for 3,321 communes


def _load() -> str:
    one, five, _fifteen = os.getloadavg()
    return f"load average {one:.2f}/{five:.2f}"


# --- the synthetic country ------------------------------------------------------------------------
def create_country_villages(rng: random.Random) -> dict[int, list]:
    """20 to 40 villages under every commune, bulk-inserted with treebeard-correct paths; per province."""
    from django.db import connection

    from fieldteam.choices import AreaKind
    from fieldteam.models import Area

    communes = list(Area.objects.filter(depth=2).order_by("path"))
    new, per_commune = [], []
    for commune in communes:
        count = rng.randint(*VILLAGES_PER_COMMUNE)
        per_commune.append((commune.pk, count))
        for position in range(1, count + 1):
            if commune.kind == AreaKind.WARD:
                kind, name = AreaKind.TO_DAN_PHO, f"Tổ dân phố {position}"
            else:
                kind = rng.choices([AreaKind.THON, AreaKind.LANG, AreaKind.BUON], weights=[6, 3, 1])[0]
                name = f"{AreaKind(kind).label} {position}"
            new.append(
                Area(
                    code=f"{commune.code}{position:03d}",
                    name=name,
                    kind=kind,
                    province_id=commune.province_id,
                    path=Area._get_path(commune.path, commune.depth + 1, position),
                    depth=commune.depth + 1,
                    numchild=0,
                )
            )
    Area.objects.bulk_create(new, batch_size=5000)
    with connection.cursor() as cursor:
        values = ", ".join(f"({pk}, {count})" for pk, count in per_commune)
        cursor.execute(
            f"UPDATE fieldteam_area a SET numchild = a.numchild + v.n FROM (VALUES {values}) AS v(id, n) "
            "WHERE a.id = v.id"
        )
    # ``find_problems`` runs a query per node (minutes for 100,000): the same checks in one statement.
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH kids AS (
                SELECT substr(path, 1, length(path) - %(step)s) AS parent, count(*) AS n
                FROM fieldteam_area WHERE depth > 1 GROUP BY 1
            )
            SELECT (SELECT count(*) FROM fieldteam_area a WHERE length(a.path) <> a.depth * %(step)s)
                 + (SELECT count(*) FROM kids LEFT JOIN fieldteam_area p ON p.path = kids.parent WHERE p.id IS NULL)
                 + (SELECT count(*) FROM fieldteam_area p LEFT JOIN kids ON kids.parent = p.path
                    WHERE p.numchild <> COALESCE(kids.n, 0))
            """,
            {"step": Area.steplen},
        )
        problems = cursor.fetchone()[0]
    if problems:
        raise SystemExit(f"area tree problems after bulk insert: {problems} nodes")
    by_province: dict[int, list] = {}
    for village in Area.objects.filter(depth=3).order_by("path"):
        by_province.setdefault(village.province_id, []).append(village)
    return by_province


def build(residents: int, seed: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    from fieldteam.models import Area, User
    from fieldteam.services.reference import load_reference

    rng = random.Random(seed)
    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    call_command("load_admin_units", verbosity=0)
    load_reference()
    provinces = list(Area.objects.filter(depth=1).order_by("code"))
    villages = create_country_villages(rng)
    communes = Area.objects.filter(depth=2).count()
    say(
        f"  areas: {len(provinces)} provinces, {communes:,} communes, {sum(map(len, villages.values())):,} villages "
        f"(tree checked) in {time.perf_counter() - started:.1f} s"
    )
    weights = {p.pk: len(villages[p.pk]) * rng.uniform(0.6, 1.6) for p in provinces}
    total = sum(weights.values())
    shares = {pk: int(residents * w / total) for pk, w in weights.items()}
    shares[provinces[0].pk] += residents - sum(shares.values())

    started = time.perf_counter()
    tables = ["fieldteam_household", "fieldteam_resident", "fieldteam_adoption"]
    with connection.cursor() as cursor:
        dropped = rollup._index_definitions(cursor, tables)
        for name, _definition in dropped:
            cursor.execute(f'DROP INDEX "{name}"')
    quiet, rollup.say = rollup.say, lambda message: None  # 34 provinces × 4 lines of the loader
    try:
        for number, province in enumerate(provinces, start=1):
            rollup.load_population(province, villages[province.pk], shares[province.pk], rng, manage_indexes=False)
            if number % 6 == 0 or number == len(provinces):
                say(f"  population: {number} provinces loaded, {time.perf_counter() - started:.0f} s")
    finally:
        rollup.say = quiet
    rollup.insert_adoptions(None)
    rollup.rebuild_indexes(dropped)
    quiet, rollup.say = rollup.say, lambda message: None
    try:
        derive_started = time.perf_counter()
        for province in provinces:
            rollup.derive_household_masks(province.pk)
    finally:
        rollup.say = quiet
    say(f"  households' holdings through members in {time.perf_counter() - derive_started:.1f} s")
    largest = max(provinces, key=lambda p: shares[p.pk])
    rollup.check_consistency(largest.pk)
    if not User.objects.filter(username="bench").exists():
        User.objects.create_superuser("bench", "bench@example.invalid", "bench-password")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    say(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")


def province_sizes() -> list[tuple[int, str, str, int, int]]:
    """(id, code, name, villages, active residents) of every province, in id order."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT p.id, p.code, p.name,
                   (SELECT count(*) FROM fieldteam_area v WHERE v.province_id = p.id AND v.depth = 3),
                   COALESCE(r.n, 0)
            FROM fieldteam_area p
            LEFT JOIN (SELECT province_id, count(*) AS n FROM fieldteam_resident WHERE status = 'active'
                       GROUP BY province_id) r ON r.province_id = p.id
            WHERE p.depth = 1 ORDER BY p.id
            """
        )
        return list(cursor.fetchall())


# --- workers of the "rollup" queue ----------------------------------------------------------------
def _worker(url: str, task: str, queue, results, ready) -> None:
    """One Celery-like worker: Django set up, then one province per message until ``None``."""
    setup_django(url)
    from fieldteam import tasks

    run = getattr(tasks, task)
    ready.wait()
    while (province_id := queue.get()) is not None:
        started = time.perf_counter()
        run(province_id)
        results.put((province_id, time.perf_counter() - started))


def run_queue(url: str, task: str, province_ids: list[int], workers: int) -> tuple[float, list[float]]:
    """Wall time of ``workers`` processes running ``tasks.<task>`` for every province, and each task's time."""
    context = multiprocessing.get_context("spawn")
    queue, results = context.Queue(), context.Queue()
    ready = context.Barrier(workers + 1)
    processes = [context.Process(target=_worker, args=(url, task, queue, results, ready)) for _ in range(workers)]
    for process in processes:
        process.start()
    ready.wait()  # every worker has set up Django: time the work only
    started = time.perf_counter()
    for province_id in province_ids:
        queue.put(province_id)
    for _ in processes:
        queue.put(None)
    times = [results.get()[1] for _ in province_ids]
    wall = time.perf_counter() - started
    for process in processes:
        process.join()
        if process.exitcode:
            raise SystemExit(f"a {task} worker failed (exit code {process.exitcode})")
    return wall, times


# --- selectors ------------------------------------------------------------------------------------
def time_calls(fn, calls: int) -> tuple[list[float], int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = fn()
    times = []
    queries = 0
    for _ in range(calls):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        queries = len(captured)
    return times, queries, result


def print_calls(label: str, times: list[float], queries: int, rows: int) -> None:
    say(
        f"   {label}: p50 {percentile(times, 50) * 1000:.2f} ms, p99 {percentile(times, 99) * 1000:.2f} ms, "
        f"{queries} queries, {rows} rows"
    )


def summed_over_villages(area) -> dict[tuple[int, int], tuple[int, int]]:
    """A province's ranking sums as they were read before the stored commune rows (issue 18): the
    village counts summed per commune on every view (``_live_counts_by_child`` of ``64fddb6``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.id, v.indicator_id, CAST(SUM(v.numerator) AS BIGINT), CAST(SUM(v.denominator) AS BIGINT) "
            "FROM fieldteam_villagecount v JOIN fieldteam_area a ON a.id = v.village_id AND a.province_id = %s "
            "JOIN fieldteam_area c ON c.province_id = %s AND c.depth = 2 AND c.path = SUBSTR(a.path, 1, 8) "
            "WHERE v.province_id = %s GROUP BY c.id, v.indicator_id",
            [area.pk, area.pk, area.pk],
        )
        return {(commune_id, indicator_id): (n, d) for commune_id, indicator_id, n, d in cursor.fetchall()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--residents", type=int, default=FULL_RESIDENTS, help="residents (households = N / 3.5)")
    parser.add_argument("--reuse", action="store_true", help="keep the database if already loaded at this size")
    parser.add_argument("--drop", action="store_true", help="drop the database and stop")
    parser.add_argument("--database-url", default=os.environ.get("NATIONAL_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--selector-calls", type=int, default=30)
    parser.add_argument("--skip-country", action="store_true", help="skip the whole-country recompute and close")
    args = parser.parse_args()

    if args.drop:
        from urllib.parse import urlsplit, urlunsplit

        import psycopg

        parts = urlsplit(args.database_url)
        with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
        say(f"dropped {args.database_url}")
        return

    total_started = time.perf_counter()
    kept = ensure_database(args.database_url, reuse=args.reuse)
    setup_django(args.database_url)

    from django.db import connection

    from fieldteam.models import Area, RollupState, User
    from fieldteam.periods import Period, month_index, month_start, today
    from fieldteam.rollup.recompute import recompute_province, stored_counts
    from fieldteam.selectors import indicators as selectors

    households = max(1, round(args.residents / PEOPLE_PER_HOUSEHOLD))
    loaded = rollup.loaded_size() if kept else None
    # Households are rounded per province: the residents say whether it is the same build.
    if loaded is not None and loaded[0] == args.residents:
        say(f"reusing {args.database_url}: {args.residents:,} residents, {households:,} households")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
    else:
        if kept:
            connection.close()
            ensure_database(args.database_url, reuse=False)
        say(f"building {args.database_url}: {args.residents:,} residents, {households:,} households ({_load()})")
        started = time.perf_counter()
        build(args.residents, args.seed)
        say(f"  built in {time.perf_counter() - started:.1f} s")

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
        cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = cursor.fetchone()[0]
    sizes = province_sizes()
    say(f"{version}; {os.cpu_count()} CPUs; database {size}")
    say(
        f"data: {len(sizes)} provinces, {sum(s[3] for s in sizes):,} villages, {sum(s[4] for s in sizes):,} active "
        f"residents (per province {min(s[4] for s in sizes):,} to {max(s[4] for s in sizes):,})"
    )
    by_size = sorted(sizes, key=lambda s: s[4])
    small, middle, large = by_size[0], by_size[len(by_size) // 2], by_size[-1]
    user = User.objects.get(username="bench")
    period = Period.containing("month", today())

    # 1. Recompute cost per million residents at three sizes, against the floor.
    say("")
    say(f"1. recompute of three provinces, best of 3, in alternation with the floor ({_load()})")
    per_million = []
    for province_id, code, name, n_villages, n_residents in (small, middle, large):
        # Warm-up, and the counts the floor is checked against: the loader writes no counts, so the
        # first recompute of a province fills them all ("drift", logged as a warning: not shown).
        logging.getLogger("fieldteam.rollup.recompute").setLevel(logging.ERROR)
        recompute_province(province_id=province_id)
        logging.getLogger("fieldteam.rollup.recompute").setLevel(logging.WARNING)
        engine = stored_counts(province_id)
        floors = {k: v for k, v in rollup.floor_statements(province_id).items() if k.startswith("A")}
        ((sql, plan),) = floors.values()
        if rollup.run_floor(sql, plan) != engine:
            raise SystemExit(f"the floor disagrees with the recompute in province {code}")
        recompute_times, floor_times = [], []
        for _round in range(3):
            started = time.perf_counter()
            recompute_province(province_id=province_id)
            recompute_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            rollup.run_floor(sql, plan)
            floor_times.append(time.perf_counter() - started)
        seconds, floor = min(recompute_times), min(floor_times)
        per_million.append(seconds / n_residents * 1e6)
        say(
            f"   {code} {name}: {n_residents:,} residents, {n_villages:,} villages: recompute {seconds:.3f} s "
            f"= {per_million[-1]:.3f} s per million; floor {floor:.3f} s; ratio {seconds / floor:.2f}"
        )
    say(f"   per million residents: {', '.join(f'{v:.3f}' for v in per_million)} s (linear if these are close)")

    # 2 and 3. The whole country through the queue, one worker and two.
    if not args.skip_country:
        ids = [s[0] for s in sizes]
        residents_total = sum(s[4] for s in sizes)
        # The loader writes no counts: fill every province's once (the first recompute writes them
        # all), so that the runs below are the nightly one, which finds nothing or little to correct.
        unfilled = [s[0] for s in sizes if not RollupState.objects.filter(pk=s[0]).exists()]
        if unfilled:
            started = time.perf_counter()
            logging.getLogger("fieldteam.rollup.recompute").setLevel(logging.ERROR)
            for province_id in unfilled:
                recompute_province(province_id=province_id)
            logging.getLogger("fieldteam.rollup.recompute").setLevel(logging.WARNING)
            say(f"   (first fill of {len(unfilled)} provinces' counts: {time.perf_counter() - started:.1f} s)")
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE fieldteam_villagecount")
        say("")
        say(f"2. whole-country recompute, one task per province ({_load()})")
        for workers in (1, 2):
            wall, times = run_queue(args.database_url, "recompute_province", ids, workers)
            say(
                f"   {workers} worker{'s' if workers > 1 else ''}: {wall:.1f} s wall "
                f"({residents_total / wall:,.0f} residents/s); tasks p50 {statistics.median(times):.2f} s, "
                f"max {max(times):.2f} s ({_load()})"
            )
        say("")
        say(f"3. month close of the whole country: roll_month_forward per province ({_load()})")
        previous = month_start(month_index(today()) - 1)
        for workers in (1, 2):
            RollupState.objects.update(month=previous, last_closed_month=None)
            wall, times = run_queue(args.database_url, "roll_month_forward", ids, workers)
            say(
                f"   {workers} worker{'s' if workers > 1 else ''}: {wall:.1f} s wall; tasks p50 "
                f"{statistics.median(times):.2f} s, max {max(times):.2f} s ({_load()})"
            )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM fieldteam_indicatorvalue WHERE period_start = %s", [previous])
            say(f"   {cursor.fetchone()[0]:,} IndicatorValue rows of {previous:%Y-%m}")
            cursor.execute("ANALYZE fieldteam_indicatorvalue")

    # 4. Dashboard selectors.
    say("")
    say(f"4. dashboard selectors, {args.selector_calls} calls each ({_load()})")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE fieldteam_villagecount")
    try:
        from fieldteam.selectors.national import national_indicator_values  # being written (issue 18)
    except ImportError:
        say("   national_indicator_values: not available")
    else:
        times, queries, rows = time_calls(lambda: national_indicator_values(user=user), args.selector_calls)
        print_calls("national_indicator_values (last closed month)", times, queries, len(rows))
    province = Area.objects.get(pk=large[0])
    say(f"   province {province.code} {province.name}: {large[3]:,} villages, {large[4]:,} residents")
    times, queries, rows = time_calls(
        lambda: selectors.area_indicator_values(user=user, area=province, period=period), args.selector_calls
    )
    print_calls("area_indicator_values(province)", times, queries, len(rows))
    times, queries, rows = time_calls(
        lambda: selectors.child_indicator_values(user=user, area=province, period=period), args.selector_calls
    )
    print_calls("child_indicator_values(province): the ranking of its communes", times, queries, len(rows))

    # 5. The ranking's sums: over villages per view, or stored per commune.
    say("")
    say(f"5. the ranking's live sums: village counts summed per view vs stored commune rows ({_load()})")
    stored_sums = selectors._live_counts_by_child
    if summed_over_villages(province) != stored_sums(province):
        raise SystemExit("the stored commune sums differ from the sums over villages")
    ways = {"summed over villages": summed_over_villages, "stored commune rows": stored_sums}
    sums_times: dict[str, list[float]] = {name: [] for name in ways}
    ranking_times: dict[str, list[float]] = {name: [] for name in ways}
    figures = selectors.official_figures_for(user=user, area=province, period=period)
    try:
        for _round in range(args.selector_calls):
            for name, way in ways.items():
                started = time.perf_counter()
                way(province)
                sums_times[name].append(time.perf_counter() - started)
                selectors._live_counts_by_child = way
                started = time.perf_counter()
                selectors.child_indicator_values(user=user, area=province, period=period, figures=figures)
                ranking_times[name].append(time.perf_counter() - started)
    finally:
        selectors._live_counts_by_child = stored_sums
    for name in ways:
        say(
            f"   {name}: the sums p50 {percentile(sums_times[name], 50) * 1000:.2f} ms; the ranking (official "
            f"figures given, as the page passes them) p50 {percentile(ranking_times[name], 50) * 1000:.2f} ms, "
            f"p99 {percentile(ranking_times[name], 99) * 1000:.2f} ms"
        )
    old, new = (percentile(ranking_times[name], 50) for name in ways)
    say(f"   ranking with stored commune rows / summed over villages: {new / old:.2f}")

    say("")
    say(f"total run {time.perf_counter() - total_started:.0f} s ({_load()})")


if __name__ == "__main__":
    main()
