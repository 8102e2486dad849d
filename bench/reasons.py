#!/usr/bin/env python
"""The reasons statement at province size (issue 17). Run by hand, not in CI; PostgreSQL only.

Builds a scratch database with one province, one commune of ``--villages`` villages, households
and residents, and ``--items`` assistance items (one per log, each about a resident) of which
``--not-done`` (a fraction) are "not done" with a reason, written with ``generate_series`` from a
template row of each table made by the ORM. Then it runs the statement of
``fieldteam.selectors.reasons`` (``_STILL_OPEN_SQL``, the parameters of ``_village_counts``) under
``EXPLAIN (ANALYZE, BUFFERS)`` without the partial index ``assistance_item_not_done`` and with it
(best of ``--runs``), prints both plans' heads and times, and checks both give the same rows.

    .venv/bin/python bench/reasons.py                       # 200,000 items, 5% not done, 4 more provinces
    .venv/bin/python bench/reasons.py --reuse               # measure again on the loaded database
    .venv/bin/python bench/reasons.py --reuse --country-logs   # the statement before the logs' province filter
    .venv/bin/python bench/reasons.py --reuse --full --random-page-cost 1.1 --set enable_hashjoin=off

``--others`` more provinces of the same size share the tables (the statement filters a national
table), the loaded tables are vacuumed (the visibility map an index-only scan needs, as autovacuum
leaves them).

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/ft_notices_reasons``) is dropped and
created again unless ``--reuse`` finds it loaded.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rollup import ensure_database, say, setup_django  # noqa: E402 - after the path is set

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ft_notices_reasons"
INDEX = "assistance_item_not_done"


def _columns(cursor, table: str) -> list[str]:
    cursor.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position", [table]
    )
    return [row[0] for row in cursor.fetchall()]


def clone(cursor, table: str, template, count: int, overrides: dict[str, str]) -> None:
    """``count`` copies of the ``template`` row (its id), columns in ``overrides`` given as SQL over ``g``."""
    columns = [c for c in _columns(cursor, table) if c != "id" or "id" in overrides]
    # The overrides' modulo signs are SQL, not placeholders.
    values = ", ".join(overrides.get(c, f"t.{c}") for c in columns).replace("%", "%%")
    cursor.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM {table} t "
        f"CROSS JOIN generate_series(1, %s) g WHERE t.id = %s",
        [count, template],
    )


def _load_province(cursor, code: str, name: str, villages: int, households: int, items: int, every: int) -> int:
    """One province: a commune of ``villages``, ``households`` (three residents each) and ``items`` items,
    one log each, every ``every``-th not done. Template rows by the ORM, copies by ``generate_series``.
    The province's id."""
    from django.utils import timezone

    from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason
    from fieldteam.models import AssistanceItem, AssistanceLog, Capability, Household, Resident
    from tests.factories import (
        CommuneFactory,
        HouseholdFactory,
        MembershipFactory,
        ProvinceFactory,
        ResidentFactory,
        TeamFactory,
        VillageFactory,
    )

    province = ProvinceFactory(code=code, name=name)
    commune = CommuneFactory(parent=province, name=f"Xã {code}")
    places = [VillageFactory(parent=commune, name=f"Thôn {code}-{n}") for n in range(villages)]
    team = TeamFactory(village=places[0], areas=[commune])
    member = MembershipFactory(team=team).user
    first_cap = Capability.objects.filter(code__startswith="bench-").order_by("pk").values_list("pk", flat=True)[0]
    household = HouseholdFactory(village=places[0], code=f"TEMPLATE-{code}")
    resident = ResidentFactory(household=household, full_name="Mẫu")
    log = AssistanceLog.objects.create(
        province=province,
        team=team,
        member=member,
        resident=resident,
        village=places[0],
        occurred_at=timezone.now(),
        channel=AssistanceChannel.HOME_VISIT,
    )
    item = AssistanceItem.objects.create(
        province=province, log=log, capability_id=first_cap, outcome=AssistanceOutcome.DONE
    )
    first_village = places[0].pk
    reasons = "ARRAY[" + ", ".join(f"'{r}'" for r in NotDoneReason.values) + "]"
    hh, res = Household._meta.db_table, Resident._meta.db_table
    logs, its = AssistanceLog._meta.db_table, AssistanceItem._meta.db_table
    clone(
        cursor,
        hh,
        household.pk,
        households,
        {"code": f"'B{code}-' || g", "village_id": f"{first_village} + g % {villages}"},
    )
    cursor.execute(f"SELECT min(id) FROM {hh} WHERE code LIKE %s", [f"B{code}-%"])
    (hh0,) = cursor.fetchone()
    # Three residents per household, in its village.
    clone(
        cursor,
        res,
        resident.pk,
        households * 3,
        {
            "household_id": f"{hh0} + (g - 1) / 3",
            "village_id": f"(SELECT village_id FROM {hh} WHERE id = {hh0} + (g - 1) / 3)",
            "full_name": f"'Người {code} ' || g",
        },
    )
    cursor.execute(f"SELECT min(id), max(id) FROM {res} WHERE full_name LIKE %s", [f"Người {code} %"])
    r0, r1 = cursor.fetchone()
    span = r1 - r0 + 1
    # One log per item, each about a resident, one a minute back from now.
    cursor.execute("DROP TABLE IF EXISTS bench_logs")
    cursor.execute(
        f"CREATE TEMP TABLE bench_logs AS SELECT g, gen_random_uuid() AS id FROM generate_series(1, {items}) g"
    )
    cursor.execute("CREATE INDEX ON bench_logs (g)")
    clone(
        cursor,
        logs,
        str(log.pk),
        items,
        {
            "id": "(SELECT id FROM bench_logs b WHERE b.g = g.g)",
            "resident_id": f"{r0} + (g * 7919) % {span}",
            "village_id": f"(SELECT village_id FROM {res} WHERE id = {r0} + (g * 7919) % {span})",
            "occurred_at": "t.occurred_at - (g || ' minutes')::interval",
            "recorded_at": "t.recorded_at - (g || ' minutes')::interval",
        },
    )
    cursor.execute(
        f"INSERT INTO {its} (province_id, log_id, capability_id, outcome, reason) "
        f"SELECT {province.pk}, b.id, {first_cap} + g % 4, "
        f"CASE WHEN g % {every} = 0 THEN 'not_done' ELSE 'done' END, "
        f"CASE WHEN g % {every} = 0 THEN ({reasons})[1 + (g / {every}) % {len(NotDoneReason.values)}] ELSE '' END "
        f"FROM bench_logs b"
    )
    cursor.execute(f"DELETE FROM {its} WHERE id = %s", [item.pk])
    cursor.execute(f"DELETE FROM {logs} WHERE id = %s", [log.pk])
    return province.pk


def build(villages: int, households: int, items: int, not_done: float, others: int) -> int:
    """Load the data: the measured province, then ``others`` more provinces of the same size in the same
    tables (the national tables the statement filters). The measured province's id."""
    from django.core.management import call_command
    from django.db import connection

    from tests.factories import CapabilityFactory

    call_command("migrate", verbosity=0)
    for n in range(4):
        CapabilityFactory(code=f"bench-{n}")
    every = round(1 / not_done)
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        province_id = _load_province(cursor, "52", "Tỉnh Bench", villages, households, items, every)
        for n in range(others):
            _load_province(cursor, f"{n + 1:02d}", f"Tỉnh khác {n + 1}", villages, households, items, every)
            say(f"other province {n + 1} of {others} loaded ({time.perf_counter() - t0:.0f} s)")
        # As autovacuum leaves a table at rest: statistics, and the visibility map (index-only scans).
        cursor.execute("VACUUM ANALYZE")
    say(f"loaded in {time.perf_counter() - t0:.1f} s")
    return province_id


def measure(
    province_id: int,
    runs: int,
    *,
    full: bool = False,
    random_page_cost: float | None = None,
    settings: list[str] | None = None,
    country_logs: bool = False,
) -> None:
    from django.db import connection

    from fieldteam.choices import PeriodKind
    from fieldteam.models import Area, AssistanceItem
    from fieldteam.periods import Period, today
    from fieldteam.selectors import reasons

    items = AssistanceItem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), count(*) FILTER (WHERE outcome = 'not_done') FROM {items} WHERE province_id = %s",
            [province_id],
        )
        total, not_done = cursor.fetchone()
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [INDEX])
        row = cursor.fetchone()
    if row is None:
        raise SystemExit(f"{INDEX} is missing: migrate the database first")
    definition = row[0]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {items}")
        (everywhere,) = cursor.fetchone()
    say(
        f"items of the province: {total:,}, not done: {not_done:,} ({not_done / total:.1%}); in the table: {everywhere:,}"
    )
    say(f"index: {definition}")
    province = Area.objects.get(pk=province_id)
    period = Period.containing(PeriodKind.MONTH, today())
    # The statement and parameters ``_village_counts`` runs (psycopg's pyformat).
    captured: dict[str, object] = {}
    real_cursor = connection.cursor

    class Capture:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def execute(self, sql, params):
            captured["sql"], captured["params"] = sql, params

        def fetchall(self):
            return []

    connection.cursor = Capture  # type: ignore[method-assign]  # bench: read the statement without running it
    try:
        reasons._village_counts(province, period)
    finally:
        connection.cursor = real_cursor  # type: ignore[method-assign]  # bench: put the real one back
    sql, params = captured["sql"], captured["params"]
    if country_logs:
        # The statement as it was before it filtered the logs by the province too: the join then
        # reads every province's logs.
        sql = str(sql).replace("AND l.province_id = %(province)s ", "")
        say("the statement without the logs' province filter")

    def run(label: str) -> tuple[float, list]:
        best = None
        plan: list[str] = []
        with connection.cursor() as cursor:
            cursor.execute(sql, params)  # warm the cache
            rows = sorted(cursor.fetchall())
            for _ in range(runs):
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                lines = [r[0] for r in cursor.fetchall()]
                ms = float(next(line for line in lines if line.startswith("Execution Time")).split()[2])
                if best is None or ms < best:
                    best, plan = ms, lines
        say(f"\n--- {label}: best of {runs}: {best:.1f} ms")
        for line in plan:
            # The scans of the items and the logs the statement starts from, and the totals.
            starts = ("fieldteam_assistanceitem i ", "fieldteam_assistancelog l ", "Index Cond: (province_id")
            if full or any(part in line for part in starts) or line.startswith(("Execution", "Planning Time")):
                say(line)
        return best or 0.0, rows

    with connection.cursor() as cursor:
        if random_page_cost is not None:
            # The planner's price of a random read: 4 by default (spinning disks), about 1.1 on SSDs.
            cursor.execute("SELECT set_config('random_page_cost', %s, false)", [str(random_page_cost)])
        for setting in settings or []:
            # A planner setting to try (``--set enable_hashjoin=off``): what the plan would be without it.
            name, value = setting.split("=", 1)
            cursor.execute("SELECT set_config(%s, %s, false)", [name, value])
            say(f"{name}: {value}")
        cursor.execute("SHOW random_page_cost")
        say(f"random_page_cost: {cursor.fetchone()[0]}")
        cursor.execute(f"DROP INDEX {INDEX}")
        cursor.execute(f"ANALYZE {items}")
    without, rows_without = run("without the partial index")
    with connection.cursor() as cursor:
        cursor.execute(definition)
        cursor.execute(f"ANALYZE {items}")
    with_index, rows_with = run("with the partial index")
    assert rows_without == rows_with, "the index changed the answer"
    say(f"\nrows: {len(rows_with)} (same both ways)")
    say(f"before: {without:.1f} ms, after: {with_index:.1f} ms, ratio {without / with_index:.1f}x")
    say(f"load average: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--villages", type=int, default=40)
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--not-done", type=float, default=0.05)
    parser.add_argument("--others", type=int, default=4, help="more provinces of the same size in the same tables")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--full", action="store_true", help="print the whole plans")
    parser.add_argument("--random-page-cost", type=float, help="the planner's setting for this run (e.g. 1.1)")
    parser.add_argument("--set", action="append", default=[], help="another planner setting, name=value")
    parser.add_argument("--country-logs", action="store_true", help="the statement without the logs' province filter")
    args = parser.parse_args()
    kept = ensure_database(args.database_url, reuse=args.reuse)
    setup_django(args.database_url)
    if kept:
        from fieldteam.models import Area

        province_id = Area.objects.get(code="52").pk
    else:
        province_id = build(args.villages, args.households, args.items, args.not_done, args.others)
    measure(
        province_id,
        args.runs,
        full=args.full,
        random_page_cost=args.random_page_cost,
        settings=args.set,
        country_logs=args.country_logs,
    )


if __name__ == "__main__":
    main()
