#!/usr/bin/env python
"""Import benchmark (issue 7). Run by hand, not in CI; PostgreSQL only.

Makes an XLSX file of N residents (default 100,000) in the template's columns — one real commune
list's shape: villages of Gia Lai, households of 1-8 people, Vietnam's age pyramid, birth dates (a
few known only by year), citizen IDs agreeing with birth year and sex, phones, and one yes/no +
date column per capability of the reference catalogue at the plans' baseline rates — then, in one
run, on the same empty database each time:

1. the bulk import, ``fieldteam.imports.engine.import_file`` (read, validate every row, write
   households, residents, adoptions and the village counts in one transaction), timed end to end;
2. django-import-export's default row-by-row import of the same file:
   ``RowByRowResidentResource().import_data(dataset)`` (``bench/rowbyrow.py``) on the dataset its ``XLSX`` format reads, every row
   saved in a savepoint through ``register_household``/``register_resident``/``set_adoption``;

checks after each that the full recompute finds no drift, and that both left identical village
counts, then prints rows/s of each and ``ratio: X`` (row-by-row time / bulk time) as its last line.

    .venv/bin/python bench/import.py                  # 100,000 residents
    .venv/bin/python bench/import.py --rows 20000     # quicker
    .venv/bin/python bench/import.py --baseline-rows 5000    # time the row-by-row path on a file of
                                                      # the first 5,000 rows only (the ratio then compares
                                                      # rows/s; the full row-by-row run takes hours)
    .venv/bin/python bench/import.py --rows 4000 --baseline-rows 0 --profile 40   # the bulk import
                                                      # only, profiled (var/bench/import-profile-4000.txt)

Besides wall time it prints the CPU time of this process and of its PostgreSQL backend during the
bulk import (read from /proc when the server runs on this machine): on a shared machine the wall
time moves with the load, the CPU time much less. ``--phases`` splits that CPU into reading,
checking, writing and the commit. The import's
cost per row is also guarded in the suite, by counts rather than time
(``tests/imports/test_import_cost.py``); figures in ``bench/RESULTS-import.md``.

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/fieldteam_import_bench``) is
dropped and created again. The file is kept in ``var/bench/`` and reused for the same size and seed.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/fieldteam_import_bench"
PROVINCE_CODE = "52"  # Gia Lai
COMMUNES = 12
VILLAGES_PER_COMMUNE = 8
GOAL_ROWS_PER_SECOND = 4000
GOAL_RATIO = 5

AGE_GROUPS = [
    (0, 7.6), (5, 8.3), (10, 7.9), (15, 7.0), (20, 6.8), (25, 7.4), (30, 7.8), (35, 7.9), (40, 7.3),
    (45, 6.8), (50, 6.2), (55, 5.6), (60, 4.6), (65, 3.3), (70, 2.1), (75, 1.3), (80, 0.8), (85, 0.6),
]  # fmt: skip
HOUSEHOLD_SIZES = [(1, 7), (2, 17), (3, 24), (4, 27), (5, 13), (6, 7), (7, 3), (8, 2)]
# Share of residents of an age (years, from the given age up) holding each capability.
RESIDENT_ADOPTION = {
    "smartphone": {0: 0.0, 10: 0.30, 15: 0.65, 18: 0.80, 40: 0.74, 55: 0.58, 65: 0.33, 75: 0.15},
    "payment_account": {0: 0.0, 15: 0.38, 18: 0.70, 40: 0.64, 55: 0.50, 65: 0.26, 75: 0.10},
    "digital_signature": {0: 0.0, 18: 0.18, 40: 0.17, 55: 0.11, 65: 0.04, 75: 0.01},
    "vneid_level2": {0: 0.0, 14: 0.55, 18: 0.82, 55: 0.70, 65: 0.50, 75: 0.25},
    "online_public_services": {0: 0.0, 18: 0.48, 40: 0.45, 55: 0.33, 65: 0.14, 75: 0.05},
    "telehealth": {0: 0.0, 18: 0.11, 40: 0.12, 55: 0.10, 65: 0.06, 75: 0.03},
    "basic_digital_skills": {0: 0.0, 12: 0.20, 15: 0.45, 25: 0.40, 40: 0.32, 55: 0.22, 65: 0.04},
    "ecommerce": {0: 0.0, 15: 0.30, 18: 0.42, 40: 0.30, 55: 0.15, 65: 0.04},
    "internet_use": {0: 0.0, 5: 0.40, 10: 0.75, 15: 0.93, 40: 0.85, 55: 0.65, 65: 0.35, 75: 0.15},
}
HOUSEHOLD_ADOPTION = {"fibre_broadband": 0.60, "household_smartphone": 0.90, "household_internet": 0.78}
FAMILY = ["Nguyễn"] * 6 + ["Trần", "Lê", "Phạm", "Võ", "Hoàng", "Đinh", "Rơ Mah", "Ksor", "Siu", "Nay", "Kpă"]
MIDDLE = {"male": ["Văn", "Đức", "Minh", "Quốc", "Hữu"], "female": ["Thị", "Ngọc", "Thu", "Kim", "Hồng"]}
GIVEN = {
    "male": ["An", "Bình", "Cường", "Dũng", "Hùng", "Hải", "Long", "Nam", "Phong", "Sơn", "Tuấn", "Blơi"],
    "female": ["Anh", "Hà", "Hoa", "Hương", "Lan", "Linh", "Mai", "Ngọc", "Thảo", "Trang", "H'Blin", "Nhung"],
}
OLD_PROVINCES = ["064", "052", "001", "079", "038", "040"]  # where births were registered (CCCD prefix)


def say(message: str) -> None:
    print(message, flush=True)


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


# --- the file ----------------------------------------------------------------------------------------
def _step(table: dict[int, float], age: int) -> float:
    keys = sorted(table)
    return table[keys[bisect.bisect_right(keys, age) - 1]]


def make_file(path: Path, rows: int, villages: list[str], rng: random.Random) -> None:
    """The residents file in the template's columns (headers from the resource)."""
    from openpyxl import Workbook

    from fieldteam.models import Capability
    from fieldteam.resources import ResidentResource

    resource = ResidentResource()
    columns = resource.import_columns()
    headers = [c.header for c in columns]
    position = {c.key: i for i, c in enumerate(columns)}
    capabilities = {c.code: c for c in Capability.objects.filter(is_active=True)}
    today = dt.datetime.now(dt.UTC).date()
    weights = [share for _start, share in AGE_GROUPS]
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Dữ liệu")
    sheet.append(headers)
    written = household_number = 0
    serials: dict[tuple[str, int], int] = {}
    while written < rows:
        household_number += 1
        size = min(rows - written, rng.choices([s for s, _w in HOUSEHOLD_SIZES], [w for _s, w in HOUSEHOLD_SIZES])[0])
        village = villages[household_number % len(villages)]
        family = rng.choice(FAMILY)
        head_sex = "male" if rng.random() < 0.72 else "female"
        head = f"{family} {rng.choice(MIDDLE[head_sex])} {rng.choice(GIVEN[head_sex])}"
        household_caps = {code: rng.random() < p for code, p in HOUSEHOLD_ADOPTION.items()}
        for member in range(size):
            sex = head_sex if member == 0 else rng.choice(("male", "female"))
            group = rng.choices(AGE_GROUPS, weights)[0][0]
            age = min(99, (max(group, 20) if member == 0 else group) + rng.randrange(5))
            birth = today - dt.timedelta(days=age * 365 + rng.randrange(365))
            # Empty cells written as "" keep every row full width, as a sheet saved by Excel reads
            # back (write-only files carry no dimension, and tablib needs rows of one length).
            row: list[object] = [""] * len(headers)
            row[position["village_code"]] = village
            row[position["household_code"]] = f"{village}-H{household_number:06d}"
            row[position["head_name"]] = head
            row[position["full_name"]] = (
                head if member == 0 else f"{family} {rng.choice(MIDDLE[sex])} {rng.choice(GIVEN[sex])} {member}"
            )
            row[position["sex"]] = "Nam" if sex == "male" else "Nữ"
            if rng.random() < 0.04:
                row[position["birth_year"]] = birth.year
            else:
                row[position["birth_date"]] = birth
            if age >= 14 and rng.random() < 0.9:
                prefix = rng.choice(OLD_PROVINCES)
                key = (prefix, birth.year)
                serials[key] = serials.get(key, 0) + 1
                digit = (birth.year // 100 - 19) * 2 + (1 if sex == "female" else 0)
                row[position["citizen_id"]] = f"{prefix}{digit}{birth.year % 100:02d}{serials[key]:06d}"
            if age >= 16 and rng.random() < 0.6:
                row[position["phone"]] = f"09{rng.randrange(10**8):08d}"
            if row[position["citizen_id"]] or row[position["phone"]]:
                # Identifiers come with the date the resident signed the consent form.
                row[position["consent_date"]] = today - dt.timedelta(days=rng.randrange(1, 400))
            for code, table in RESIDENT_ADOPTION.items():
                if code in capabilities and rng.random() < _step(table, age):
                    row[position[f"cap__{code}"]] = "có"
                    since = max(birth + dt.timedelta(days=365 * 10), today - dt.timedelta(days=rng.randrange(1500)))
                    row[position[f"cap__{code}__since"]] = min(since, today)
            if member == 0:
                for code, held in household_caps.items():
                    if held and code in capabilities:
                        row[position[f"cap__{code}"]] = "có"
                        row[position[f"cap__{code}__since"]] = today - dt.timedelta(days=rng.randrange(1500))
            sheet.append(row)
            written += 1
    book.save(path)


# --- the two imports ---------------------------------------------------------------------------------
def reset_people() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE fieldteam_adoption, fieldteam_resident, fieldteam_household, fieldteam_villagecount "
            "RESTART IDENTITY CASCADE"
        )
        cursor.execute("VACUUM ANALYZE")


def village_counts() -> dict[tuple[int, int], tuple[int, int]]:
    from fieldteam.models import VillageCount

    return {
        (v, i): (n, d)
        for v, i, n, d in VillageCount.objects.values_list("village_id", "indicator_id", "numerator", "denominator")
        if n or d
    }


def check(province_id: int, label: str) -> dict[tuple[int, int], tuple[int, int]]:
    from fieldteam.models import Adoption, Resident
    from fieldteam.rollup import recompute

    drift = recompute.recompute_province(province_id=province_id).drift
    assert drift == [], f"{label}: the recompute found drift: {drift[:5]}"
    say(
        f"  {label}: {Resident.objects.count():,} residents, {Adoption.objects.count():,} adoptions, recompute drift: none"
    )
    return village_counts()


def backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def server_cpu_seconds(pid: int | None = None) -> float | None:
    """CPU time used so far by this connection's PostgreSQL backend, when the server runs on this machine."""
    pid = pid if pid is not None else backend_pid()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def time_phases() -> dict[str, list[float]]:
    """Patch the import to add up the CPU (here, in the backend) of its phases: reading, checking, writing, commit.

    The commit runs inside the write: printed apart.
    """
    from django.db.backends.postgresql.base import DatabaseWrapper

    from fieldteam.imports import engine
    from fieldteam.imports.kinds.people import ResidentsImport

    pid = backend_pid()
    phases: dict[str, list[float]] = {}

    def timed(name: str, function):
        def run(*args, **kwargs):
            cpu, server = time.process_time(), server_cpu_seconds(pid) or 0.0
            try:
                return function(*args, **kwargs)
            finally:
                spent = phases.setdefault(name, [0.0, 0.0])
                spent[0] += time.process_time() - cpu
                spent[1] += (server_cpu_seconds(pid) or 0.0) - server

        return run

    engine._read_rows = timed("read", engine._read_rows)
    ResidentsImport.check = timed("check", ResidentsImport.check)
    ResidentsImport.write = timed("write", ResidentsImport.write)
    DatabaseWrapper._commit = timed("commit", DatabaseWrapper._commit)
    return phases


def run_bulk(path: Path, actor, rows: int, profile: int = 0, phases: bool = False) -> float:
    from fieldteam.imports.engine import import_file

    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    spent = time_phases() if phases else None
    server_before = server_cpu_seconds()
    cpu_before = time.process_time()
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = import_file(kind="residents", path=path, actor=actor)
    if profiler is not None:
        profiler.disable()
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    server_after = server_cpu_seconds()
    report = result.report
    assert report.written and not report.errors, report.as_summary()
    assert report.total_rows == rows, (report.total_rows, rows)
    say(f"  bulk import: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s  {report.counts}")
    # Wall time moves with whatever else the machine runs; CPU time much less.
    if server_before is not None and server_after is not None:
        server = server_after - server_before
        say(
            f"  CPU: {cpu:.1f} s here + {server:.1f} s in the PostgreSQL backend = "
            f"{rows / (cpu + server):,.0f} rows per CPU-second (load average before: {os.getloadavg()[0]:.1f})"
        )
    if spent:
        if "write" in spent and "commit" in spent:
            spent["write"] = [w - c for w, c in zip(spent["write"], spent["commit"], strict=True)]
        say(
            "  CPU by phase (here + backend): "
            + ", ".join(f"{name} {cpu:.1f} + {server:.1f} s" for name, (cpu, server) in spent.items())
        )
    if profiler is not None:
        import pstats

        out = ROOT / "var" / "bench" / f"import-profile-{rows}.txt"
        with out.open("w") as handle:
            pstats.Stats(profiler, stream=handle).sort_stats("tottime").print_stats(profile)
            pstats.Stats(profiler, stream=handle).sort_stats("cumulative").print_stats(profile)
        say(f"  profile (cProfile, which slows the run): {out}")
    return seconds


def run_row_by_row(path: Path, actor) -> tuple[int, float]:
    from import_export.formats.base_formats import XLSX

    from bench.rowbyrow import RowByRowResidentResource

    started = time.perf_counter()
    dataset = XLSX().create_dataset(path.read_bytes())
    resource = RowByRowResidentResource(actor=actor)
    result = resource.import_data(dataset, dry_run=False, use_transactions=True, rollback_on_validation_errors=True)
    seconds = time.perf_counter() - started
    assert not result.has_errors() and not result.has_validation_errors(), (
        [e.error for e in result.base_errors][:3],
        [(r.number, r.error_dict) for r in result.invalid_rows][:3],
    )
    rows = len(dataset)
    say(f"  django-import-export row by row: {rows:,} rows in {seconds:.1f} s = {rows / seconds:,.0f} rows/s")
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=None,
        help="time the row-by-row path on the first N rows only (0: not at all)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile the bulk import, keep its N costliest functions"
    )
    parser.add_argument(
        "--phases", action="store_true", help="print the CPU of reading, checking, writing and the commit"
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_IMPORT_DATABASE_URL", DEFAULT_URL))
    args = parser.parse_args()

    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.core.management import call_command

    from fieldteam.choices import AreaKind, AreaRoleKind
    from fieldteam.models import Area, AreaRole, User
    from fieldteam.services.areas import create_village
    from fieldteam.services.reference import load_reference

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    load_reference()
    province = Area.objects.get(code=PROVINCE_CODE)
    communes = list(Area.objects.filter(path__startswith=province.path, depth=2).order_by("code")[:COMMUNES])
    villages = []
    for commune in communes:
        for number in range(1, VILLAGES_PER_COMMUNE + 1):
            commune.refresh_from_db()
            village = create_village(
                actor=None, commune=commune, code=f"{commune.code}-{number:02d}", name=f"Thôn {number}", kind=AreaKind.THON
            )
            villages.append(village.code)
    officer = User.objects.create_user("canbo.tinh", is_staff=True)
    AreaRole.objects.create(user=officer, area=province, role=AreaRoleKind.PROVINCE_OFFICER)
    say(
        f"database ready ({len(villages)} villages in {len(communes)} communes of {province.name}) in {time.perf_counter() - started:.1f} s"
    )

    folder = ROOT / "var" / "bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"residents-{args.rows}-{args.seed}.xlsx"
    if not path.exists():
        started = time.perf_counter()
        make_file(path, args.rows, villages, random.Random(args.seed))
        say(f"file written: {path.name}, {path.stat().st_size / 1e6:.1f} MB in {time.perf_counter() - started:.1f} s")
    else:
        say(f"file reused: {path.name}, {path.stat().st_size / 1e6:.1f} MB")

    reset_people()
    bulk_seconds = run_bulk(path, officer, args.rows, args.profile, args.phases)
    bulk_counts = check(province.pk, "after the bulk import")
    if args.baseline_rows == 0:
        say(f"bulk: {args.rows / bulk_seconds:,.0f} rows/s (goal ≥ {GOAL_ROWS_PER_SECOND:,})")
        return

    baseline_path, compare_counts = path, bulk_counts
    if args.baseline_rows is not None and args.baseline_rows < args.rows:
        # The row-by-row path on a file of its own (the same first rows), so that it reads only those.
        baseline_path = folder / f"residents-{args.baseline_rows}-{args.seed}.xlsx"
        if not baseline_path.exists():
            make_file(baseline_path, args.baseline_rows, villages, random.Random(args.seed))
        reset_people()
        run_bulk(baseline_path, officer, args.baseline_rows)
        compare_counts = check(province.pk, "after the bulk import of the baseline's rows")
    reset_people()
    baseline_rows, baseline_seconds = run_row_by_row(baseline_path, officer)
    baseline_counts = check(province.pk, "after the row-by-row import")
    assert baseline_counts == compare_counts, "the two imports left different village counts"
    say("  both imports left identical village counts")
    if baseline_rows == args.rows:
        ratio = baseline_seconds / bulk_seconds
    else:
        ratio = (args.rows / bulk_seconds) / (baseline_rows / baseline_seconds)
        say(f"  (row by row timed on the first {baseline_rows:,} rows; the ratio compares rows/s)")

    bulk_rate = args.rows / bulk_seconds
    say(
        f"bulk: {bulk_rate:,.0f} rows/s (goal ≥ {GOAL_ROWS_PER_SECOND:,}) · row by row: {baseline_rows / baseline_seconds:,.0f} rows/s"
    )
    say(f"ratio: {ratio:.1f}")


if __name__ == "__main__":
    main()
