#!/usr/bin/env python
"""Time partitions measured (issue 18). Run by hand, not in CI; PostgreSQL 15 only.

The tables that grow with work rather than with people are the assistance logs and their items,
the audit trail (django-auditlog's entry table as the app has it, ``fieldteam_auditentry``) and
the sync receipts. This bench asks whether PostgreSQL's declarative partitioning by month pays
for them, on one province's work:

1. a fresh database, ``manage.py migrate`` (so the plain tables are exactly the app's: columns,
   indexes, constraints, the audit trail's append-only trigger), then ``--months`` months of work
   (default 24, ending now) of a province the size of Gia Lai (5,400 villages, four members each)
   at ``--logs-per-month`` logs (default 50,000: 2.3 a member a month, what builds in about 15
   minutes on a busy 2-core machine; ten a member a month would be 216,000), 1-3 items each,
   an audit entry per log, item and adoption, a receipt per log; loaded by ``INSERT … SELECT
   generate_series`` (a data generator, not application code: foreign keys are not checked);
2. the same rows in schema ``part``: each table ``PARTITION BY RANGE`` on its time (the log's
   ``occurred_at``, copied into the items; the entry's ``timestamp``; the receipt's
   ``received_at``), one partition per month (Asia/Ho_Chi_Minh), two months made ahead; every
   primary key and unique constraint carries the partition key (PostgreSQL requires it);
3. on both, interleaved, the queries that matter, as the code writes them (table names
   unqualified, ``search_path`` picks the variant): p50 / p99 in ms and the ratio
   partitioned / plain, and from ``EXPLAIN ANALYZE`` how many partitions each reads;
4. retention: removing the oldest month by ``DELETE`` (plain) against ``DETACH PARTITION`` +
   ``DROP TABLE`` (partitioned).

A join of an item to its log is measured twice on the partitioned tables: as the ORM writes it
today (``i.log_id = l.id``: Django's foreign key is one column) and with the partition key as
well (``… AND i.occurred_at = l.occurred_at``), which only hand-written SQL can do.

    .venv/bin/python bench/partitions.py                          # build (about 15 min) and measure
    .venv/bin/python bench/partitions.py --reuse                  # measure the database already built
    .venv/bin/python bench/partitions.py --logs-per-month 5000    # a quick run

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/ft_partitions``): dropped and
created again unless ``--reuse``. Retention runs last and removes the oldest month from both
variants, so a ``--reuse`` run after it measures one month less.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ft_partitions"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

LOG, ITEM, ENTRY, RECEIPT = (
    "fieldteam_assistancelog",
    "fieldteam_assistanceitem",
    "fieldteam_auditentry",
    "fieldteam_syncreceipt",
)
# Each table's time column, the partition key.
TIME_COLUMN = {LOG: "occurred_at", ITEM: "occurred_at", ENTRY: "timestamp", RECEIPT: "received_at"}

# The synthetic province: ids are arithmetic, so the queries' parameters come from the same formulas.
PROVINCE = 1
VILLAGES = 5_400
MEMBERS = VILLAGES * 4  # member m is in team / village m // 4
RESIDENTS_PER_VILLAGE = 650  # 3.5 million residents
HOUSEHOLDS_PER_VILLAGE = 185  # 1 million households
CAPABILITIES = 15
LOG_TYPE, ITEM_TYPE, ADOPTION_TYPE = 16, 18, 24  # content types as the migrations number them
REASONS = ["no_device", "declined", "not_eligible", "missing_documents", "no_signal", "absent", "other"]
SPREAD = 2_654_435_761  # Knuth's multiplicative hash: members spread over the logs


def member_of(n: int) -> int:
    return (n * SPREAD) % MEMBERS


def village_of(n: int) -> int:
    return 100_000 + member_of(n) // 4


def resident_of(n: int) -> int:
    return (member_of(n) // 4) * RESIDENTS_PER_VILLAGE + (n * 40_503) % RESIDENTS_PER_VILLAGE + 1


def log_id(n: int) -> uuid.UUID:
    return uuid.UUID(hashlib.md5(f"log{n}".encode()).hexdigest())  # noqa: S324 (an id, not a secret)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the generator --------------------------------------------------------------------------------
# One SELECT per table over generate_series(lo, hi) AS n, the same n giving the same rows in both
# variants (explicit ids), so the partitioned copy is built without reading the plain tables.

LOG_COLUMNS = """
    md5('log' || n)::uuid AS id,
    %(start)s::timestamptz + (n::float8 / %(total)s) * %(span)s * interval '1 second'
        + ((n * 7919) %% 7200) * interval '1 second' AS occurred_at,
    (n * {spread} %% {members}) AS member_index,
    n
"""


def _log_source() -> str:
    return (
        "SELECT "
        + LOG_COLUMNS.format(spread=SPREAD, members=MEMBERS)
        + " FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS n"
    )


LOG_INSERT = f"""
INSERT INTO {LOG} (id, occurred_at, recorded_at, channel, note, content_hash, member_id, province_id,
                   village_id, household_id, resident_id, team_id, training_session_id)
SELECT g.id, g.occurred_at, g.occurred_at + (g.n %% 50) * interval '7 minutes',
       (ARRAY['home_visit', 'home_visit', 'phone', 'at_office'])[g.n %% 4 + 1],
       CASE WHEN g.n %% 9 = 0 THEN 'hẹn quay lại khi có điện thoại' ELSE '' END,
       md5(g.n::text) || md5('h' || g.n), 1000 + g.member_index, {PROVINCE}, 100000 + g.member_index / 4,
       CASE WHEN g.n %% 10 >= 7 THEN (g.member_index / 4) * {HOUSEHOLDS_PER_VILLAGE} + (g.n * 40503) %% {HOUSEHOLDS_PER_VILLAGE} + 1 END,
       CASE WHEN g.n %% 10 < 7 THEN (g.member_index / 4) * {RESIDENTS_PER_VILLAGE} + (g.n * 40503) %% {RESIDENTS_PER_VILLAGE} + 1 END,
       1000 + g.member_index / 4, NULL
FROM ({_log_source()}) g
"""

# Items: 1-3 per log (n % 3 + 1), distinct capabilities, a quarter not done with a reason.
ITEM_INSERT = f"""
INSERT INTO {ITEM} (id, outcome, reason, province_id, log_id, capability_id{{time_column}})
SELECT g.n * 3 + k + 1,
       CASE WHEN (g.n + k) %% 4 = 0 THEN 'not_done' ELSE 'done' END,
       CASE WHEN (g.n + k) %% 4 = 0 THEN (ARRAY{REASONS!r})[(g.n / 4 + k) %% 7 + 1] ELSE '' END,
       {PROVINCE}, g.id, (g.n * 7 + k * 5) %% {CAPABILITIES} + 1{{time_value}}
FROM ({_log_source()}) g, generate_series(0, (g.n %% 3)::int) AS k
"""

# Entries: the log's, then per item the item's and its adoption's (as the one-statement log writes them).
ENTRY_INSERT = f"""
INSERT INTO {ENTRY} (id, object_pk, object_id, object_repr, action, changes_text, changes, cid, remote_addr,
                     remote_port, timestamp, actor_email, actor_id, area_id, content_type_id, province_id)
SELECT g.n * 8 + j + 1,
       CASE WHEN j = 0 THEN g.id::text ELSE (g.n * 3 + (j - 1) / 2 + 1)::text END,
       CASE WHEN j = 0 THEN NULL ELSE g.n * 3 + (j - 1) / 2 + 1 END,
       CASE WHEN j = 0 THEN 'Nguyễn Văn A' WHEN j %% 2 = 1 THEN 'assistance item' ELSE 'adoption' END,
       0, '',
       CASE WHEN j = 0 THEN '{{"channel": {{"type": "create", "new": "home_visit"}}}}'::jsonb
            ELSE '{{"outcome": {{"type": "create", "new": "done"}}, "since": {{"type": "create", "new": "2026-01-05"}}}}'::jsonb END,
       md5('cid' || g.n), '10.1.2.3'::inet, 40000 + g.n %% 20000,
       g.occurred_at + (g.n %% 50) * interval '7 minutes', 'member' || g.member_index || '@example.vn',
       1000 + g.member_index, 100000 + g.member_index / 4,
       CASE WHEN j = 0 THEN {LOG_TYPE} WHEN j %% 2 = 1 THEN {ITEM_TYPE} ELSE {ADOPTION_TYPE} END, {PROVINCE}
FROM ({_log_source()}) g, generate_series(0, 2 * (g.n %% 3 + 1)) AS j
"""

RECEIPT_INSERT = f"""
INSERT INTO {RECEIPT} (client_id, kind, content_hash, object_id, received_at, member_id, province_id)
SELECT g.id, 'assistance_log', md5(g.n::text) || md5('h' || g.n), g.id::text,
       g.occurred_at + (g.n %% 50) * interval '7 minutes', 1000 + g.member_index, {PROVINCE}
FROM ({_log_source()}) g
"""


@dataclass(frozen=True)
class Shape:
    """What was loaded: logs ``0 … total - 1`` spread evenly from ``start`` over ``span`` seconds."""

    total: int
    start: datetime
    span: float
    months: list[datetime]  # first instant of each month covered, local time

    def params(self, lo: int, hi: int) -> dict[str, Any]:
        return {"start": self.start, "span": self.span, "total": self.total, "lo": lo, "hi": hi}


def next_month(month: datetime) -> datetime:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def shape_for(months: int, per_month: int) -> Shape:
    now = datetime.now(ZONE)
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    for _ in range(months - 1):
        first = (first - timedelta(days=1)).replace(day=1)
    covered = [first]
    while covered[-1] < now.replace(day=1, hour=0, minute=0, second=0, microsecond=0):
        covered.append(next_month(covered[-1]))
    span = (now - first).total_seconds() - 7200 * 2  # the jitter and the sync delay stay in the past
    return Shape(total=months * per_month, start=first, span=span, months=covered)


# --- building -------------------------------------------------------------------------------------


def admin_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def create_database(url: str) -> None:
    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    say(f"database {name} created; migrating")
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
    )
    say(f"migrated in {time.perf_counter() - started:.0f} s")


def plain_indexes(conn: psycopg.Connection, table: str) -> list[tuple[str, str]]:
    """The table's indexes that back no constraint (dropped for the load, made again after)."""
    return conn.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
        [table, table],
    ).fetchall()


def load(conn: psycopg.Connection, shape: Shape, *, partitioned: bool) -> None:
    """Insert every row, a month of logs at a time (foreign keys and triggers off: a generator)."""
    conn.execute("SET session_replication_role = replica")
    time_column, time_value = (", occurred_at", ", g.occurred_at") if partitioned else ("", "")
    statements = [
        (LOG, LOG_INSERT),
        (ITEM, ITEM_INSERT.format(time_column=time_column, time_value=time_value)),
        (ENTRY, ENTRY_INSERT),
        (RECEIPT, RECEIPT_INSERT),
    ]
    step = max(1, shape.total // len(shape.months))
    for table, sql in statements:
        started = time.perf_counter()
        for lo in range(0, shape.total, step):
            with conn.transaction():
                conn.execute(sql, shape.params(lo, min(shape.total, lo + step) - 1))
        say(f"  {table}: {time.perf_counter() - started:.0f} s")
    conn.execute("SET session_replication_role = origin")


def build_plain(conn: psycopg.Connection, shape: Shape) -> None:
    say("plain tables (as migrated): loading without their secondary indexes")
    saved = {table: plain_indexes(conn, table) for table in TIME_COLUMN}
    for indexes in saved.values():
        for name, _definition in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    load(conn, shape, partitioned=False)
    started = time.perf_counter()
    for indexes in saved.values():
        for _name, definition in indexes:
            conn.execute(definition)
    for table in (ITEM, ENTRY):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    say(f"  indexes: {time.perf_counter() - started:.0f} s")


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month:%Y_%m}"


def build_partitioned(conn: psycopg.Connection, shape: Shape) -> None:
    """Schema ``part``: the same tables partitioned by month, constraints carrying the partition key."""
    say("partitioned tables (schema part)")
    conn.execute("DROP SCHEMA IF EXISTS part CASCADE")
    conn.execute("CREATE SCHEMA part")
    for table, column in TIME_COLUMN.items():
        # Check constraints and defaults as the app's; an identity column is not allowed on a
        # partitioned table before PostgreSQL 17: a sequence default instead.
        conn.execute(
            f"CREATE TABLE part.{table} (LIKE public.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) "
            f"PARTITION BY RANGE ({column})"
            if table != ITEM
            else f"CREATE TABLE part.{table} (LIKE public.{table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, "
            f"occurred_at timestamptz NOT NULL) PARTITION BY RANGE (occurred_at)"
        )
    for table in (ITEM, ENTRY):
        conn.execute(f"CREATE SEQUENCE part.{table}_id_seq")
        conn.execute(f"ALTER TABLE part.{table} ALTER COLUMN id SET DEFAULT nextval('part.{table}_id_seq')")
    conn.execute(
        f"CREATE TRIGGER fieldteam_auditentry_append_only BEFORE DELETE OR UPDATE ON part.{ENTRY} "
        "FOR EACH ROW EXECUTE FUNCTION public.fieldteam_audit_append_only()"
    )
    months = [*shape.months]
    for _ in range(2):  # made ahead, as pg_partman's premake would
        months.append(next_month(months[-1]))
    for table in TIME_COLUMN:
        for month in months:
            conn.execute(
                # DDL takes no parameters: the bounds as literals (made here, not input).
                f"CREATE TABLE part.{partition_name(table, month)} PARTITION OF part.{table} "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{next_month(month).isoformat()}')"
            )
    conn.execute("SET search_path = part, public")
    load(conn, shape, partitioned=True)
    started = time.perf_counter()
    for statement in (
        # Primary keys and unique constraints must include the partition key.
        f"ALTER TABLE {LOG} ADD PRIMARY KEY (id, occurred_at)",
        f"CREATE INDEX ON {LOG} (member_id, occurred_at)",
        f"CREATE INDEX ON {LOG} (province_id, village_id, occurred_at)",
        f"CREATE INDEX ON {LOG} (team_id, occurred_at)",
        f"CREATE INDEX ON {LOG} (household_id)",
        f"CREATE INDEX ON {LOG} (resident_id)",
        f"CREATE INDEX ON {LOG} (training_session_id)",
        f"CREATE INDEX ON {LOG} (village_id)",
        f"ALTER TABLE {ITEM} ADD PRIMARY KEY (id, occurred_at)",
        f"ALTER TABLE {ITEM} ADD CONSTRAINT assistance_item_once_per_log UNIQUE (log_id, capability_id, occurred_at)",
        f"CREATE INDEX ON {ITEM} (capability_id)",
        f"CREATE INDEX ON {ITEM} (province_id)",
        # The item's foreign key must name the log's whole key.
        (
            f"ALTER TABLE {ITEM} ADD FOREIGN KEY (log_id, occurred_at) REFERENCES {LOG} (id, occurred_at) "
            "DEFERRABLE INITIALLY DEFERRED"
        ),
        f"ALTER TABLE {ENTRY} ADD PRIMARY KEY (id, timestamp)",
        f"CREATE INDEX ON {ENTRY} (content_type_id, object_pk)",
        f'CREATE INDEX ON {ENTRY} (province_id, "timestamp" DESC)',
        f"CREATE INDEX ON {ENTRY} (actor_id)",
        f"CREATE INDEX ON {ENTRY} (area_id)",
        f'CREATE INDEX ON {ENTRY} ("timestamp")',
        f"ALTER TABLE {RECEIPT} ADD PRIMARY KEY (client_id, received_at)",
        f"CREATE INDEX ON {RECEIPT} (member_id)",
        f"CREATE INDEX ON {RECEIPT} (province_id)",
    ):
        conn.execute(statement)
    for table in (ITEM, ENTRY):
        conn.execute(f"SELECT setval('part.{table}_id_seq', (SELECT max(id) FROM part.{table}))")
    conn.execute("SET search_path = public")
    say(f"  keys and indexes: {time.perf_counter() - started:.0f} s")


def build(url: str, shape: Shape) -> None:
    create_database(url)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_shape (shape jsonb)")
        build_plain(conn, shape)
        build_partitioned(conn, shape)
        conn.execute(
            "INSERT INTO bench_shape VALUES (%s)",
            [json.dumps({"total": shape.total, "start": shape.start.isoformat(), "span": shape.span})],
        )
        say("analyze")
        conn.execute("VACUUM ANALYZE")
    say(f"built in {time.perf_counter() - started:.0f} s")


def loaded_shape(url: str) -> Shape:
    with psycopg.connect(url) as conn:
        (saved,) = conn.execute("SELECT shape FROM bench_shape").fetchone() or (None,)
    start = datetime.fromisoformat(saved["start"]).astimezone(ZONE)
    months, now = [start], datetime.now(ZONE)
    while next_month(months[-1]) <= now:
        months.append(next_month(months[-1]))
    return Shape(total=saved["total"], start=start, span=saved["span"], months=months)


# --- the queries ----------------------------------------------------------------------------------
# As the code writes them; ``{on}`` is how an item joins its log (see the module's docstring).

PLAIN_ON = "i.log_id = l.id"
KEYED_ON = "i.log_id = l.id AND i.occurred_at = l.occurred_at"

# The one-statement log (rollup/fastlog.py, function of migration 0021), the part of it that
# writes these four tables: the log, its items, the trail's entries and the receipt, in one call.
INSERT_SQL = f"""
WITH log AS (
    INSERT INTO {LOG} (id, occurred_at, recorded_at, channel, note, content_hash, member_id, province_id,
                       village_id, resident_id, team_id)
    VALUES (%(id)s, %(at)s, now(), 'home_visit', '', %(hash)s, %(member)s, {PROVINCE}, %(village)s, %(resident)s, %(team)s)
    RETURNING id, occurred_at, village_id, province_id
), item AS (
    INSERT INTO {ITEM} (outcome, reason, province_id, log_id, capability_id{{item_time}})
    SELECT o, r, log.province_id, log.id, c{{item_time_value}}
    FROM log, unnest(ARRAY['done', 'not_done'], ARRAY['', 'no_device'], ARRAY[3, 7]) AS u(o, r, c)
    RETURNING id
), receipt AS (
    INSERT INTO {RECEIPT} (client_id, kind, content_hash, object_id, received_at, member_id, province_id)
    SELECT log.id, 'assistance_log', %(hash)s, log.id::text, now(), %(member)s, log.province_id FROM log
    RETURNING 1
), trail AS (
    INSERT INTO {ENTRY} (content_type_id, object_pk, object_id, object_repr, action, changes, changes_text,
                         actor_id, timestamp, area_id, province_id)
    SELECT {LOG_TYPE}, log.id::text, NULL, 'log', 0, '{{}}'::jsonb, '', %(member)s, now(), log.village_id, log.province_id
    FROM log
    UNION ALL
    SELECT {ITEM_TYPE}, item.id::text, item.id, 'item', 0, '{{}}'::jsonb, '', %(member)s, now(), log.village_id,
           log.province_id
    FROM item, log
    RETURNING 1
)
SELECT (SELECT count(*) FROM trail), (SELECT count(*) FROM receipt)
"""

QUERIES: dict[str, str] = {
    # selectors/web.my_work: the member's own logs today and this month.
    "member's month (my_work)": f"""
        SELECT count(*), count(DISTINCT coalesce(resident_id, -household_id)) FROM {LOG}
        WHERE member_id = %(member)s AND occurred_at >= %(this_month)s""",
    # selectors/web.resident_page: the subject's last 30 logs and their items.
    "resident's history (resident_page)": f"""
        SELECT l.id, l.occurred_at, i.capability_id, i.outcome FROM (
            SELECT * FROM {LOG} WHERE resident_id = %(resident)s ORDER BY occurred_at DESC LIMIT 30
        ) l JOIN {ITEM} i ON {{on}} ORDER BY l.occurred_at DESC""",
    # selectors/follow_ups._items for one village: each subject's latest item per capability.
    "follow-ups (one village)": f"""
        SELECT * FROM (
            SELECT i.id, i.outcome, i.reason, l.resident_id, l.household_id, l.occurred_at,
                   lead(l.occurred_at) OVER w AS next_at, lead(l.member_id) OVER w AS next_by
            FROM {ITEM} i JOIN {LOG} l ON {{on}}
            WHERE l.province_id = {PROVINCE} AND l.village_id IN (%(village)s)
            WINDOW w AS (PARTITION BY l.resident_id, l.household_id, i.capability_id
                         ORDER BY l.occurred_at, l.recorded_at, l.id, i.id)
        ) s WHERE next_at IS NULL AND outcome = 'not_done'""",
    # selectors/activity (team activity page) and village_progress: a month's work, by member.
    "month's work of a commune (activity)": f"""
        SELECT member_id, count(*), count(DISTINCT date_trunc('week', occurred_at)) FROM {LOG}
        WHERE province_id = {PROVINCE} AND village_id BETWEEN %(commune)s AND %(commune)s + 39
          AND occurred_at >= %(month)s AND occurred_at < %(month_end)s
        GROUP BY member_id""",
    # selectors/audit.audit_trail_of: the entries about one row, newest first.
    "audit trail of one log": f"""
        SELECT id, action, timestamp, actor_id, changes FROM {ENTRY}
        WHERE content_type_id = {LOG_TYPE} AND object_pk = %(log_text)s ORDER BY timestamp DESC""",
    # sync/envelope._earlier: is this client id already received?
    "sync receipt by client id": f"""
        SELECT kind, content_hash, object_id, member_id FROM {RECEIPT} WHERE client_id = %(log)s""",
}

# selectors/reasons._still_open_sql, these tables' part (the subjects' and adoptions' joins left out:
# the same cost in both variants): not-done items with no later item of the same subject and capability.
REASONS_SQL = f"""
    SELECT i.reason, count(DISTINCT l.resident_id), count(DISTINCT l.household_id)
    FROM {ITEM} i JOIN {LOG} l ON {{on}}
    WHERE i.province_id = {PROVINCE} AND i.outcome = 'not_done' AND l.occurred_at < %(month_end)s
      AND l.village_id BETWEEN %(commune)s AND %(commune)s + 39
      AND NOT EXISTS (SELECT 1 FROM {LOG} l2 JOIN {ITEM} i2 ON i2.log_id = l2.id AND i2.capability_id = i.capability_id{{on2}}
                      WHERE l2.resident_id = l.resident_id AND l2.occurred_at < %(month_end)s
                        AND (l2.occurred_at > l.occurred_at OR (l2.occurred_at = l.occurred_at AND i2.id > i.id)))
      AND NOT EXISTS (SELECT 1 FROM {LOG} l2 JOIN {ITEM} i2 ON i2.log_id = l2.id AND i2.capability_id = i.capability_id{{on2}}
                      WHERE l2.household_id = l.household_id AND l2.occurred_at < %(month_end)s
                        AND (l2.occurred_at > l.occurred_at OR (l2.occurred_at = l.occurred_at AND i2.id > i.id)))
    GROUP BY i.reason"""
QUERIES["reasons still open (a commune)"] = REASONS_SQL
JOINS = {"resident's history (resident_page)", "follow-ups (one village)", "reasons still open (a commune)"}

VARIANTS = ("plain", "partitioned", "partitioned, key in join")


def sql_for(name: str, variant: str) -> str:
    sql = QUERIES[name]
    keyed = variant == "partitioned, key in join"
    return sql.replace("{on}", KEYED_ON if keyed else PLAIN_ON).replace(
        "{on2}", " AND i2.occurred_at = l2.occurred_at" if keyed else ""
    )


def parameters(shape: Shape, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Endless parameters drawn from the loaded rows (a log of the last months for the member's month)."""
    while True:
        n = rng.randrange(shape.total)
        while n % 10 >= 7:  # a resident's log
            n = rng.randrange(shape.total)
        month = shape.months[-1] if rng.random() < 0.5 else rng.choice(shape.months[1:])
        commune_first = 100_000 + (village_of(n) - 100_000) // 40 * 40
        yield {
            "member": 1000 + member_of(n),
            "resident": resident_of(n),
            "village": village_of(n),
            "log": log_id(n),
            "log_text": str(log_id(n)),
            "month": month,
            "this_month": shape.months[-1],
            "month_end": next_month(month),
            "commune": commune_first,
        }


def connect(url: str, variant: str) -> psycopg.Connection:
    conn = psycopg.connect(url, autocommit=True)
    conn.execute("SET search_path = part, public" if variant != "plain" else "SET search_path = public")
    return conn


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def timed(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> float:
    """Milliseconds to run ``sql`` and fetch its rows."""
    started = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


def partitions_read(conn: psycopg.Connection, sql: str, params: dict[str, Any]) -> tuple[int, int]:
    """(partitions scanned at least once, partitions in the plan) from EXPLAIN ANALYZE, all tables together."""
    (plan,) = conn.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, params).fetchone() or (None,)
    planned: set[str] = set()
    read: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        relation = node.get("Relation Name")
        if relation and "_p2" in relation:
            planned.add(relation)
            if node.get("Actual Loops", 0) > 0:
                read.add(relation)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return len(read), len(planned)


def measure(url: str, shape: Shape, runs: int, heavy_runs: int, seed: int) -> None:
    rng = random.Random(seed)
    draws = parameters(shape, rng)
    conns = {variant: connect(url, variant) for variant in VARIANTS}
    partitions = len(shape.months) + 2
    print(f"\n{'query':40} {'variant':26} {'p50 ms':>9} {'p99 ms':>9} {'ratio p50':>9}  partitions read")
    # Inserts: interleaved, a fresh client id each, into the current month.
    insert_times: dict[str, list[float]] = {"plain": [], "partitioned": []}
    for _ in range(runs):
        p = next(draws)
        for variant in insert_times:
            keyed = variant != "plain"
            sql = INSERT_SQL.replace("{item_time}", ", occurred_at" if keyed else "").replace(
                "{item_time_value}", ", log.occurred_at" if keyed else ""
            )
            values = {
                "id": uuid.uuid4(),
                "at": datetime.now(ZONE) - timedelta(minutes=rng.randrange(600)),
                "hash": "0" * 64,
                "member": p["member"],
                "village": p["village"],
                "resident": p["resident"],
                "team": p["village"] - 100_000 + 1000,
            }
            conn = conns[variant]
            # A generator's rows: foreign keys to people and areas that do not exist are not checked.
            conn.execute("SET session_replication_role = replica")
            insert_times[variant].append(timed(conn, sql, values))
    _report("one-statement log (insert)", insert_times, None)
    # The month close (rollup.recompute.close_month) counts adoptions, residents and households:
    # it reads none of these tables, so partitioning them neither helps nor hurts it.
    for name in QUERIES:
        count = heavy_runs if name.startswith(("reasons", "follow-ups")) else runs
        variants = VARIANTS if name in JOINS else VARIANTS[:2]
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        sample = []
        for _ in range(count):
            p = next(draws)
            sample.append(p)
            for variant in variants:
                times[variant].append(timed(conns[variant], sql_for(name, variant), p))
        pruning = {
            variant: partitions_read(conns[variant], sql_for(name, variant), sample[0])
            for variant in variants
            if variant != "plain"
        }
        shown = {v: f"{r} read, {t} planned ({partitions} a table)" for v, (r, t) in pruning.items()}
        _report(name, times, shown)
    for conn in conns.values():
        conn.close()


def _report(name: str, times: dict[str, list[float]], pruning: dict[str, str] | None) -> None:
    base = statistics.median(times["plain"])
    for variant, values in times.items():
        p50, p99 = statistics.median(values), percentile(values, 99)
        ratio = "" if variant == "plain" else f"{p50 / base:9.2f}"
        shown = (pruning or {}).get(variant, "")
        print(f"{name:40.40} {variant:26} {p50:9.2f} {p99:9.2f} {ratio:>9}  {shown}", flush=True)


def sizes(url: str) -> None:
    with psycopg.connect(url) as conn:
        print(f"\n{'table':28} {'rows':>12} {'plain MB':>10} {'partitioned MB':>15}")
        for table in TIME_COLUMN:
            (rows,) = conn.execute(
                f"SELECT reltuples::bigint FROM pg_class WHERE oid = 'public.{table}'::regclass"
            ).fetchone() or (0,)
            (plain,) = conn.execute(f"SELECT pg_total_relation_size('public.{table}')").fetchone() or (0,)
            (split,) = conn.execute(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = %s::regclass",
                [f"part.{table}"],
            ).fetchone() or (0,)
            print(f"{table:28} {rows:12,} {plain / 2**20:10,.0f} {int(split or 0) / 2**20:15,.0f}")


def retention(url: str, shape: Shape) -> None:
    """The oldest month removed: DELETE from the plain tables, DETACH + DROP of the partitions."""
    month, following = shape.months[0], next_month(shape.months[0])
    print(f"\nretention: the month of {month:%Y-%m}")
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        with conn.transaction():
            # The trail is append-only (a trigger): retention by DELETE must lift it for the purge.
            conn.execute(f"ALTER TABLE {ENTRY} DISABLE TRIGGER fieldteam_auditentry_append_only")
            window = {"from": month, "to": following}
            deleted = [
                conn.execute(
                    f"DELETE FROM {ITEM} i USING {LOG} l WHERE i.log_id = l.id "
                    "AND l.occurred_at >= %(from)s AND l.occurred_at < %(to)s",
                    window,
                ).rowcount,
                conn.execute(
                    f"DELETE FROM {ENTRY} WHERE timestamp >= %(from)s AND timestamp < %(to)s", window
                ).rowcount,
                conn.execute(
                    f"DELETE FROM {RECEIPT} WHERE received_at >= %(from)s AND received_at < %(to)s", window
                ).rowcount,
                conn.execute(
                    f"DELETE FROM {LOG} WHERE occurred_at >= %(from)s AND occurred_at < %(to)s", window
                ).rowcount,
            ]
            conn.execute(f"ALTER TABLE {ENTRY} ENABLE TRIGGER fieldteam_auditentry_append_only")
        deleting = time.perf_counter() - started
        print(f"  plain: DELETE of {sum(deleted):,} rows: {deleting:.1f} s (the space comes back only by VACUUM)")
        started = time.perf_counter()
        for table in (ITEM, ENTRY, RECEIPT, LOG):  # the items first: their key names the log partition
            with conn.transaction():
                conn.execute(f"ALTER TABLE part.{table} DETACH PARTITION part.{partition_name(table, month)}")
                conn.execute(f"DROP TABLE part.{partition_name(table, month)}")
        dropping = time.perf_counter() - started
        print(f"  partitioned: DETACH PARTITION + DROP TABLE, four tables: {dropping * 1000:.0f} ms")
        print(f"  ratio: {dropping / deleting:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--reuse", action="store_true", help="measure the database already built")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--logs-per-month", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=200, help="calls per light query and variant")
    parser.add_argument("--heavy-runs", type=int, default=20, help="calls of follow-ups and reasons per variant")
    parser.add_argument("--no-retention", action="store_true", help="keep the oldest month")
    parser.add_argument("--seed", type=int, default=18)
    args = parser.parse_args()
    if not args.reuse:
        build(args.database_url, shape_for(args.months, args.logs_per_month))
    shape = loaded_shape(args.database_url)
    say(f"{shape.total:,} logs from {shape.start:%Y-%m-%d} over {len(shape.months)} months")
    sizes(args.database_url)
    measure(args.database_url, shape, args.runs, args.heavy_runs, args.seed)
    if not args.no_retention:
        retention(args.database_url, shape)


if __name__ == "__main__":
    main()
