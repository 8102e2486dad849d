#!/usr/bin/env python
"""Soak test (issue 9): mixed load for ``--minutes`` with Redis restarted once and a worker killed once.

Run by hand, not in CI; PostgreSQL only. Reuses ``bench/api.py`` (the database, the province
and its villages, teams and members, gunicorn with 2 workers) and adds what production has
besides: a Redis of its own (``redis-server --port 6391 --save '' --appendonly no``: a restart
loses everything, as a crash would), a Celery worker (prefork, 2 processes) and Celery beat.

Load, for the whole run: ``--clients`` team members logging assistance online (each resends a
log until it gets an answer, as the phone does), one phone sending offline batches of 120 items
and each batch again, one province officer reading the province dashboard. Events, at fixed
shares of the run: Redis stopped at 20% and started again 20 s later (empty); one import job
(residents, through a real worker) at 45%; a recompute queued and the worker killed (SIGKILL,
pool processes included) while it runs at 65%, then a new worker started.

Prints requests served, the error rate and p99 latency of each kind of request, and the final
check: every log sent is stored exactly once, the import job finished, and the live counts equal
a full recompute (no drift).

    .venv/bin/python bench/soak.py --minutes 3 --database-url postgres://postgres@127.0.0.1:5432/ft_soak

``--replica-url`` (a streaming replica of ``--database-url``'s server, as ``bench/api.py`` takes it)
runs the server and the worker with ``DATABASE_REPLICA_URLS`` set: the officer's dashboard reads
go to the replica. The final check then also says how many transactions the replica served and
that, once caught up, it holds the same logs and counts as the primary.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import importlib.util
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
bench_api = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_api)
say = bench_api.say

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ft_soak_bench"
SYNC_BATCH = 120
REDIS_DOWN_SECONDS = 20
# The server's settings: the project's, with Redis (bench/api.py runs without it).
SOAK_SETTINGS = (
    """
import os
os.environ["REDIS_URL"] = os.environ["FT_SOAK_REDIS_URL"]
"""
    + bench_api.BENCH_SETTINGS
)
RESIDENT_HEADERS = [
    "Mã thôn",
    "Mã hộ",
    "Chủ hộ",
    "Địa chỉ",
    "Họ và tên",
    "Giới tính",
    "Ngày sinh",
    "Năm sinh",
    "Số CCCD",
    "Số điện thoại",
    "Có điện thoại thông minh [smartphone]",
    "Có điện thoại thông minh – ngày [smartphone]",
]


# --- the services: Redis, Celery worker and beat -------------------------------------------------------
class Redis:
    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen | None = None
        self.dir = tempfile.mkdtemp(prefix="ft-soak-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        if self._answers():
            raise SystemExit(f"port {self.port} is taken: choose another --redis-port")
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            [*command, "--appendonly", "no", "--dir", self.dir], stdout=subprocess.DEVNULL
        )
        for _attempt in range(100):
            time.sleep(0.05)
            if self.process.poll() is None and self._answers():
                return
        raise SystemExit(f"redis-server did not start on port {self.port}")

    def _answers(self) -> bool:
        try:
            with http.client.socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def celery(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # Its own process group, so the worker and its pool processes are killed together.
    return subprocess.Popen(  # noqa: S603 (our own command line)
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "backend", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return celery(["worker", "--pool=prefork", "--concurrency=2", "--loglevel=INFO"], env, log)


# --- load ----------------------------------------------------------------------------------------------
class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, kind: str, status: int, seconds: float) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[kind][status] += 1


def request(port: int, method: str, path: str, headers: dict, body: str | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    except (OSError, http.client.HTTPException):
        return -1, b""
    finally:
        connection.close()


def logger_client(port: int, client: dict, until: float, seed: int, stats: Stats, sent: list) -> None:
    """Logs online; a log without an answer (5xx, a cut connection) is sent again with the same id."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Token {client['token']}", "Content-Type": "application/json"}
    while time.monotonic() < until:
        body = bench_api.log_body(client["village"], rng)
        for _attempt in range(20):
            started = time.perf_counter()
            status, _payload = request(port, "POST", "/api/v1/assistance-logs/", headers, json.dumps(body))
            stats.record("log", status, time.perf_counter() - started)
            if status in (200, 201):
                sent.append(body["id"])
                break
            time.sleep(0.5)


def sync_client(port: int, client: dict, until: float, stats: Stats, sent: list) -> None:
    """A phone coming back online every few seconds with a batch, and sending it again."""
    rng = random.Random(7)
    headers = {"Authorization": f"Token {client['token']}", "Content-Type": "application/json"}
    bench_api.BATCH_SIZE = SYNC_BATCH
    while time.monotonic() < until:
        items = bench_api.sync_batch_items(client, rng)
        for _send in range(2):
            started = time.perf_counter()
            status, payload = request(port, "POST", "/api/v1/sync/", headers, json.dumps({"items": items}))
            stats.record("sync", status, time.perf_counter() - started)
            if status == 200:
                results = json.loads(payload)["results"]
                sent += [r["client_id"] for r in results if r["kind"] == "assistance_log" and r["status"] == "created"]
        time.sleep(5)


def dashboard_client(port: int, cookie: str, province_id: int, until: float, stats: Stats) -> None:
    headers = {"Cookie": f"sessionid={cookie}"}
    while time.monotonic() < until:
        started = time.perf_counter()
        status, _payload = request(port, "GET", f"/dashboards/areas/{province_id}/", headers)
        stats.record("dashboard", status, time.perf_counter() - started)
        time.sleep(0.5)


# --- set-up in the database ------------------------------------------------------------------------------
def officer_session(province_id: int) -> str:
    """A signed-in session of a province officer (sessions live in the database)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from fieldteam.choices import AreaRoleKind
    from fieldteam.models import AreaRole, User

    user = User.objects.create_user(username="soak-officer", password=uuid.uuid4().hex, is_staff=True)
    AreaRole.objects.create(user=user, area_id=province_id, role=AreaRoleKind.PROVINCE_OFFICER)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def start_import(world: dict, rows: int) -> str:
    """An import job of ``rows`` new residents (no identifiers) in the first village, queued to Redis."""
    from django.core.files.base import ContentFile

    from fieldteam.imports.jobs import import_job_start
    from fieldteam.models import Area, User

    admin = User.objects.create_superuser(username="soak-admin", password=uuid.uuid4().hex)
    village = Area.objects.get(pk=world["villages"][0]["id"])
    with tempfile.NamedTemporaryFile("w+", suffix=".csv", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESIDENT_HEADERS)
        for number in range(rows):
            household = f"IMP-{number // 4:04d}"
            name = f"Người nhập {number}"
            sex = "Nữ" if number % 2 else "Nam"
            smartphone = "có" if number % 3 else ""
            writer.writerow(
                [village.code, household, name, "", name, sex, "", 1970 + number % 40, "", "", smartphone, ""]
            )
        handle.flush()
        upload = ContentFile(Path(handle.name).read_bytes(), name="soak.csv")
    job = import_job_start(
        actor=admin, kind="residents", upload=upload, file_name="soak.csv", dry_run=False, skip_invalid=True
    )
    return str(job.pk)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * share) - 1)] * 1000 if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--redis-port", type=int, default=6391)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--villages", type=int, default=6)
    parser.add_argument("--residents", type=int, default=100, help="residents per village")
    parser.add_argument("--import-rows", type=int, default=2000)
    parser.add_argument("--replica-url", help="a streaming replica of --database-url's server: reads go there")
    args = parser.parse_args()
    seconds = args.minutes * 60
    port = bench_api.free_port()
    redis = Redis(args.redis_port)
    redis.start()
    try:
        run(args, seconds, port, redis)
    finally:
        redis.stop()


def run(args: argparse.Namespace, seconds: float, port: int, redis: Redis) -> None:
    os.environ["REDIS_URL"] = redis.url  # this process queues the import through Redis too

    say(f"database {args.database_url}: creating and loading ...")
    bench_api.recreate_database(args.database_url)
    bench_api.setup_django(args.database_url)
    world = bench_api.build_world(args.villages, args.residents, args.clients + 1, random.Random(2026))
    replica_url = bench_api.replica_database_url(args.replica_url, args.database_url) if args.replica_url else ""
    if replica_url:
        # The server and the worker read what they may from the replica (the router; writes stay on the primary).
        bench_api.SERVER_ENV["DATABASE_REPLICA_URLS"] = replica_url
        say(f"replica {replica_url}: caught up in {bench_api.wait_caught_up(args.database_url, replica_url):.1f} s")
        replica_before = bench_api.replica_transactions(replica_url)
    phone = world["clients"].pop()
    cookie = officer_session(world["province_id"])

    logs = Path(tempfile.mkdtemp(prefix="ft-soak-logs-"))
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": redis.url,
        "DJANGO_SETTINGS_MODULE": "backend.settings.base",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        # A killed worker's unacknowledged message is delivered again after this long.
        "CELERY_VISIBILITY_TIMEOUT": "30",
    }
    if replica_url:
        env["DATABASE_REPLICA_URLS"] = replica_url
    bench_api.BENCH_SETTINGS = SOAK_SETTINGS
    bench_api.SERVER_ENV["FT_SOAK_REDIS_URL"] = redis.url
    server, _site = bench_api.start_server(args.database_url, port, "sync", 1)
    worker = start_worker(env, logs / "worker.log")
    beat = celery(["beat", "--loglevel=INFO", "--schedule", str(logs / "beat-schedule")], env, logs / "beat.log")
    say(f"gunicorn on :{port}, redis on :{redis.port}, a worker and beat; logs in {logs}")

    stats = Stats()
    sent: list[str] = []
    started = time.monotonic()
    until = started + seconds
    threads = [
        threading.Thread(target=logger_client, args=(port, client, until, n, stats, sent))
        for n, client in enumerate(world["clients"])
    ]
    threads.append(threading.Thread(target=sync_client, args=(port, phone, until, stats, sent)))
    threads.append(threading.Thread(target=dashboard_client, args=(port, cookie, world["province_id"], until, stats)))
    for thread in threads:
        thread.start()

    def at(share: float) -> None:
        time.sleep(max(0.0, started + seconds * share - time.monotonic()))

    from fieldteam.tasks import recompute_province

    events: list[str] = []
    import_job = None
    try:
        at(0.20)
        redis.stop()
        events.append(f"{time.monotonic() - started:6.1f} s  Redis stopped")
        time.sleep(REDIS_DOWN_SECONDS)
        redis.start()
        events.append(f"{time.monotonic() - started:6.1f} s  Redis started again (empty)")
        at(0.45)
        import_job = start_import(world, args.import_rows)
        events.append(f"{time.monotonic() - started:6.1f} s  import job of {args.import_rows} residents queued")
        at(0.65)
        from fieldteam.models import RollupState

        before = RollupState.objects.filter(pk=world["province_id"]).values_list("last_recompute_at", flat=True).first()
        recompute_province.delay(world["province_id"])
        time.sleep(0.3)  # the worker has taken it
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        after = RollupState.objects.filter(pk=world["province_id"]).values_list("last_recompute_at", flat=True).first()
        when = "after it finished" if after != before else "before it finished"
        events.append(f"{time.monotonic() - started:6.1f} s  recompute queued, worker killed (SIGKILL) {when}")
        worker = start_worker(env, logs / "worker.log")
        events.append(f"{time.monotonic() - started:6.1f} s  new worker started")
        for thread in threads:
            thread.join()
        served = time.monotonic() - started

        from fieldteam.models import AssistanceLog, BackgroundJob, RollupState

        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            job = BackgroundJob.objects.get(pk=import_job)
            if job.status in ("done", "failed"):
                break
            time.sleep(1)
        state = RollupState.objects.filter(pk=world["province_id"]).first()
    finally:
        for process in (worker, beat):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)
        server.terminate()
        server.wait(timeout=30)

    from fieldteam.rollup import recompute

    say("")
    for line in events:
        say(f"event {line}")
    total = errors = 0
    for kind in ("log", "sync", "dashboard"):
        latencies = stats.latencies[kind]
        statuses = dict(stats.statuses[kind])
        failed = sum(count for status, count in statuses.items() if status < 200 or status >= 400)
        total, errors = total + len(latencies), errors + failed
        say(
            f"{kind:9s} {len(latencies):7d} requests  errors {failed / max(len(latencies), 1):6.2%}  "
            f"p50 {statistics.median(latencies) * 1000 if latencies else float('nan'):7.1f} ms  "
            f"p99 {percentile(latencies, 0.99):7.1f} ms  {statuses}"
        )
    say(
        f"all       {total:7d} requests in {served:.0f} s ({total / served:.1f}/s)  error rate {errors / max(total, 1):.3%}"
    )

    distinct = set(sent)
    stored = AssistanceLog.objects.filter(pk__in=distinct).count()
    drift = recompute.recompute_province(province_id=world["province_id"]).drift
    job = BackgroundJob.objects.get(pk=import_job)
    say(
        f"import job: {job.status}, {job.processed} of {job.total} rows; "
        f"recompute after the kill: {state.last_recompute_at if state else None} ({state.last_drift_rows if state else '-'} rows corrected)"
    )
    checks = [
        (f"every log answered is stored exactly once ({stored} of {len(distinct)})", stored == len(distinct)),
        ("no log id answered twice as created", len(sent) == len(distinct)),
        ("the import job finished", job.status == "done"),
        ("the recompute ran again after the worker was killed", state is not None and state.last_recompute_at),
        (f"live counts equal a full recompute (drift {len(drift)} rows)", not drift),
        ("no request failed", errors == 0),
    ]
    if replica_url:
        served_there = bench_api.replica_transactions(replica_url) - replica_before
        say(
            f"replica: {served_there:,} transactions served; caught up "
            f"{bench_api.wait_caught_up(args.database_url, replica_url):.2f} s after the check"
        )
        compared = bench_api.compare_with_replica(args.database_url, replica_url)
        for table, rows, same in compared:
            say(f"  {'same' if same else 'DIFFERENT'} on the replica: {table} ({rows:,} rows)")
        checks += [
            ("the replica served the dashboard's reads", served_there > 0),
            ("the replica holds the same logs and counts once caught up", all(same for _t, _r, same in compared)),
        ]
    for label, met in checks:
        say(f"  {'PASS' if met else 'FAIL'}  {label}")
    sys.exit(0 if all(met for _label, met in checks) else 1)


if __name__ == "__main__":
    main()
