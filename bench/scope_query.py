#!/usr/bin/env python
"""Does preparing the caller's scope query earn its place? Run by hand, not in CI; PostgreSQL only.

Every API request reads its user's scope with one statement (``fieldteam.permissions``,
``_SCOPE_ROWS_SQL``). This times that statement, in-process on one persistent connection, run
three ways, interleaved round by round so that the machine's load falls on all alike:

- ``prepare=True as shipped``: psycopg's server-side binding with ``prepare=True`` on Django's
  connection, as ``fieldteam/sql.py`` did. Django opens psycopg connections with
  ``prepare_threshold=None`` (unless ``OPTIONS`` says otherwise), and psycopg then ignores
  ``prepare=True``: nothing is prepared (``pg_prepared_statements`` stays empty);
- ``prepared for real``: the same with the connection's ``prepare_threshold`` set for the call,
  so the statement is prepared once and PostgreSQL may settle on a generic plan;
- ``django``: Django's own cursor (client-side binding, as every ORM query is sent).

It also prints PostgreSQL's own planning and execution time of the statement (``EXPLAIN ANALYZE``),
which is what preparing saves on the server. The data: one province of ``--communes`` communes of
10 villages, a team per village, a member in two teams, a commune officer and a province officer.

    .venv/bin/python bench/scope_query.py --database-url postgres://postgres@127.0.0.1:5432/ft_scope_bench

The database is dropped and created again each run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ft_scope_bench"


def recreate(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(  # noqa: S603 (our own manage.py)
        [sys.executable, str(ROOT / "manage.py"), "migrate", "-v", "0"], check=True, env=os.environ.copy()
    )


def build(communes: int) -> dict[str, int]:
    from fieldteam.choices import AreaKind, AreaRoleKind
    from fieldteam.models import Area, AreaRole, Membership, Team, User

    province = Area.objects.add_root(create_kwargs={"code": "52", "name": "Gia Lai", "kind": AreaKind.PROVINCE})
    province.province = province
    province.save(update_fields=["province"])
    teams: list[Team] = []
    for c in range(communes):
        commune = Area.objects.add_child(
            province, create_kwargs={"code": f"C{c:05d}", "name": f"Xã {c}", "kind": AreaKind.COMMUNE, "province": province}
        )
        for v in range(10):
            village = Area.objects.add_child(
                commune,
                create_kwargs={"code": f"V{c:05d}{v:02d}", "name": f"Thôn {v}", "kind": AreaKind.THON, "province": province},
            )
            team = Team.objects.create(name=f"Tổ {c}.{v}", province=province, founded_on=date(2025, 1, 1))
            team.areas.add(village)
            teams.append(team)
        province.refresh_from_db()
    users = {}
    for name in ("member", "commune_officer", "province_officer"):
        users[name] = User.objects.create_user(username=f"bench.{name}", password="x")  # noqa: S106
    # Other users' rows, so the indexes are read as in production rather than a near-empty table.
    for i, team in enumerate(teams):
        other = User.objects.create_user(username=f"m{i}", password=None)
        Membership.objects.create(team=team, user=other, started_on=date(2025, 1, 1))
    for team in teams[:2]:
        Membership.objects.create(team=team, user=users["member"], started_on=date(2025, 1, 1))
    commune = Area.objects.get(code="C00000")
    AreaRole.objects.create(user=users["commune_officer"], area=commune, role=AreaRoleKind.COMMUNE_OFFICER)
    AreaRole.objects.create(user=users["province_officer"], area=province, role=AreaRoleKind.PROVINCE_OFFICER)
    return {name: user.pk for name, user in users.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--communes", type=int, default=135)
    parser.add_argument("--calls", type=int, default=2000, help="calls per way per round")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.local")
    recreate(args.database_url)
    import django

    django.setup()
    import psycopg
    from django.db import connection

    from fieldteam.permissions import _SCOPE_ROWS_SQL

    users = build(args.communes)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.ensure_connection()
    raw = connection.connection

    def as_shipped(params: list[int]) -> list[tuple]:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(_SCOPE_ROWS_SQL, params, prepare=True)
            return cursor.fetchall()

    def prepared(params: list[int]) -> list[tuple]:
        raw.prepare_threshold = 10**9  # only ``prepare=True`` statements
        try:
            with psycopg.Cursor(raw) as cursor:
                cursor.execute(_SCOPE_ROWS_SQL, params, prepare=True)
                return cursor.fetchall()
        finally:
            raw.prepare_threshold = None

    def django_cursor(params: list[int]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(_SCOPE_ROWS_SQL, params)
            return cursor.fetchall()

    def floor(params: list[int]) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s::int, %s::int", params)
            return cursor.fetchall()

    ways: dict[str, Callable[[list[int]], list[tuple]]] = {
        "prepare=True as shipped": as_shipped,
        "prepared for real": prepared,
        "django": django_cursor,
        "floor (SELECT of the params)": floor,
    }
    for name, pk in users.items():
        rows = {way: sorted(map(repr, fn([pk, pk]))) for way, fn in ways.items() if not way.startswith("floor")}
        assert len({tuple(r) for r in rows.values()}) == 1, rows
        print(f"{name}: {len(rows['django'])} rows")
    pks = list(users.values())
    for fn in ways.values():  # warm up (and prepare)
        for _ in range(200):
            fn([pks[0], pks[0]])
    timings: dict[str, list[float]] = {way: [] for way in ways}
    for r in range(args.rounds):
        order = list(ways) if r % 2 == 0 else list(reversed(ways))
        for way in order:
            fn = ways[way]
            start = time.perf_counter()
            for i in range(args.calls):
                pk = pks[i % len(pks)]
                fn([pk, pk])
            timings[way].append((time.perf_counter() - start) / args.calls * 1e6)
    print(f"\n{args.rounds} rounds × {args.calls} calls per way (µs per call, in-process, round trip included)")
    for way, values in timings.items():
        print(f"  {way:30} median {statistics.median(values):7.1f}  min {min(values):7.1f}  max {max(values):7.1f}")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*), sum(generic_plans), sum(custom_plans) FROM pg_prepared_statements")
        print("statements prepared on the connection (count, generic plans, custom plans):", cursor.fetchone())
        planning, execution = [], []
        for _ in range(200):
            cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {_SCOPE_ROWS_SQL}", [pks[0], pks[0]])
            plan = cursor.fetchone()[0][0]
            planning.append(plan["Planning Time"] * 1000)
            execution.append(plan["Execution Time"] * 1000)
    print(
        "PostgreSQL's own time for the statement (EXPLAIN ANALYZE, member, median of 200): "
        f"planning {statistics.median(planning):.1f} µs, execution {statistics.median(execution):.1f} µs"
    )


if __name__ == "__main__":
    main()
