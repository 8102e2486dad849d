#!/usr/bin/env python
"""Field work API benchmark (issue 4). Run by hand, not in CI; PostgreSQL only.

Serves the project with gunicorn (2 workers) on a dedicated PostgreSQL database holding a real
province (Gia Lai, from ``load_reference``), ``--villages`` villages with a team each, and
``--residents`` residents per village registered through the services. Then, in one run, with
``--clients`` concurrent clients (each a team member with an API token, working in their
team's village) sending as fast as answers come for ``--seconds`` each:

1. the floor: a bare authenticated DRF GET (token authentication, throttles, JSON rendering;
   no query of its own), served by the same workers through a URL added for the run;
2. assistance logs: ``POST /api/v1/assistance-logs/`` with a client-made id, one to three items on
   a random resident of the village, as the mobile web sends them online;
3. one offline batch of 500 items (``POST /api/v1/sync/``: 50 households, 150 residents referring
   to them, 300 logs referring to those), then the same batch again (all "already received");

and checks afterwards that every log answered 201 exists once and that the live counts equal a
full recompute. It prints requests per second, p50/p99 latency, the ratios and the goals:
at least 300 logs/s and half the floor's requests/s, p99 under 100 ms, a 500-item batch under 2 s.

    .venv/bin/python bench/api.py                    # 8 clients, 20 s per phase
    .venv/bin/python bench/api.py --clients 16 --seconds 30 --worker-class gthread --threads 4

``--database-url`` (default ``postgres://postgres@127.0.0.1:5432/ft_api_bench``) is dropped and
created again each run. The server runs with ``DEBUG=false``, ``CONN_MAX_AGE=600`` (persistent
connections, as in production) and throttling on (rates raised so the clients are never refused;
the throttle's cache work is still done).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ft_api_bench"
PROVINCE_CODE = "52"  # Gia Lai
GOAL_LOGS_PER_SECOND = 300
GOAL_FLOOR_SHARE = 0.5
GOAL_P99_MS = 100
GOAL_BATCH_SECONDS = 2.0
BATCH_SIZE = 500
RESIDENT_CAPABILITIES = [
    "smartphone",
    "payment_account",
    "vneid_level2",
    "online_public_services",
    "basic_digital_skills",
]

SERVER_ENV = {
    "DJANGO_SETTINGS_MODULE": "ft_bench_settings",
    "DEBUG": "false",
    "CONN_MAX_AGE": "600",
    "LOG_LEVEL": "WARNING",
    "API_THROTTLE_USER": "1000000/min",
    "API_THROTTLE_SYNC": "1000000/min",
}
# The run's own settings and URLs (written to a temporary directory): the project's, plus the floor.
BENCH_SETTINGS = """
from backend.settings.base import *  # noqa: F403

ROOT_URLCONF = "ft_bench_urls"
"""
BENCH_URLS = '''
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from backend.urls import urlpatterns as project


class Floor(APIView):
    """A bare authenticated DRF GET: authentication, permission, throttles, JSON; nothing else."""

    def get(self, request):
        return Response({"ok": True})


urlpatterns = [path("bench/floor/", Floor.as_view()), *project]
'''


def say(message: str) -> None:
    print(message, flush=True)


# --- database and data -------------------------------------------------------------------------------
def recreate_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "backend.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


def build_world(villages: int, residents: int, clients: int, rng: random.Random) -> dict:
    """Villages with a team each, residents registered by the services, one member per client."""
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from fieldteam.choices import AreaKind, MembershipRole, Sex
    from fieldteam.models import Area, Capability, Membership, Team, User
    from fieldteam.services import adoption, areas, people
    from fieldteam.services.reference import load_reference

    call_command("migrate", verbosity=0)
    load_reference()
    province = Area.objects.get(code=PROVINCE_CODE)
    communes = list(Area.objects.filter(path__startswith=province.path, depth=province.depth + 1).order_by("path"))
    world: dict = {"province_id": province.pk, "villages": [], "clients": []}
    capabilities = list(Capability.objects.filter(code__in=RESIDENT_CAPABILITIES))
    for index in range(villages):
        commune = communes[index % len(communes)]
        village = areas.create_village(
            actor=None, commune=commune, code=f"{commune.code}B{index:03d}", name=f"Thôn {index + 1}", kind=AreaKind.THON
        )
        team = Team.objects.create(
            name=f"Tổ công nghệ số cộng đồng thôn {index + 1}",
            province=province,
            founded_on=datetime(2023, 3, 1, tzinfo=UTC).date(),
        )
        team.areas.add(village)
        resident_ids = []
        for number in range(residents):
            if number % 4 == 0:
                household = people.register_household(actor=None, village=village, code=f"H{number:05d}")
            sex = rng.choice([Sex.MALE, Sex.FEMALE])
            resident = people.register_resident(
                actor=None,
                household=household,
                full_name=f"Người {index}-{number}",
                sex=sex,
                birth_year=rng.randint(1950, 2008),
            )
            resident_ids.append(resident.pk)
            # A province some way into its plan: about half its residents already hold something.
            held = rng.sample(capabilities, rng.choice([0, 0, 1, 1, 2, 3]))
            if held:
                adoption.set_adoptions(
                    actor=None,
                    subject=resident,
                    capabilities=held,
                    since=date(2025, rng.randint(1, 12), 1),
                    source="survey",
                )
        world["villages"].append({"id": village.pk, "team": team.pk, "residents": resident_ids})
    for number in range(clients):
        village = world["villages"][number % villages]
        user = User.objects.create_user(username=f"bench-member-{number}", password=uuid.uuid4().hex)
        Membership.objects.create(
            team_id=village["team"],
            user=user,
            role=MembershipRole.MEMBER,
            started_on=datetime(2024, 1, 1, tzinfo=UTC).date(),
        )
        world["clients"].append({"token": Token.objects.create(user=user).key, "village": village})
    return world


# --- the server ----------------------------------------------------------------------------------------
def start_server(url: str, port: int, worker_class: str, threads: int) -> tuple[subprocess.Popen, str]:
    site = tempfile.mkdtemp(prefix="ft-bench-")
    Path(site, "ft_bench_settings.py").write_text(textwrap.dedent(BENCH_SETTINGS))
    Path(site, "ft_bench_urls.py").write_text(textwrap.dedent(BENCH_URLS))
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": url, "PYTHONPATH": f"{site}:{ROOT}"}
    env.pop("REDIS_URL", None)
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "backend.wsgi:application",
        "--workers",
        "2",
        "--worker-class",
        worker_class,
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--log-level",
        "warning",
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, cwd=ROOT, env=env)  # noqa: S603 (our own command line)
    for _attempt in range(100):
        time.sleep(0.2)
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with {server.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/bench/floor/")  # only our server has this URL (401 without a token)
            if connection.getresponse().status == 401:
                return server, site
        except OSError:
            continue
    server.kill()
    raise SystemExit("gunicorn did not start")


def analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- CPU accounting: what each request costs, whatever else the machine is doing ----------------------
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _postgres_backends(url: str) -> dict[int, str]:
    """The database's PostgreSQL processes and their kind ("client backend", "autovacuum worker", ...)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", [name]
        ).fetchall()
    return dict(rows)


class CpuMeter:
    """CPU seconds spent by the gunicorn workers and by the database's PostgreSQL backends."""

    def __init__(self, server: subprocess.Popen, url: str) -> None:
        self.server, self.url = server, url
        self.background: set[int] = set()  # autovacuum workers seen (their CPU is reported apart)

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        app = {pid: _cpu_of(pid) for pid in [self.server.pid, *_children(self.server.pid)]}
        backends = _postgres_backends(self.url)
        self.background |= {pid for pid, kind in backends.items() if kind != "client backend"}
        database = {pid: _cpu_of(pid) for pid in backends}
        return app, database

    def background_share(self, before: tuple[dict, dict], after: tuple[dict, dict]) -> float:
        """CPU seconds of the database's background workers (autovacuum) between two samples, as far as seen."""
        return sum(value - before[1].get(pid, 0.0) for pid, value in after[1].items() if pid in self.background)

    @staticmethod
    def spent(before: tuple[dict, dict], after: tuple[dict, dict]) -> tuple[float, float]:
        def diff(b: dict[int, float], a: dict[int, float]) -> float:
            return sum(value - b.get(pid, 0.0) for pid, value in a.items())

        return diff(before[0], after[0]), diff(before[1], after[1])


# --- the clients ------------------------------------------------------------------------------------------
def log_body(village: dict, rng: random.Random) -> dict:
    capabilities = rng.sample(RESIDENT_CAPABILITIES, rng.randint(1, 3))
    items = []
    for code in capabilities:
        if rng.random() < 0.8:
            items.append({"capability": code, "outcome": "done"})
        else:
            items.append({"capability": code, "outcome": "not_done", "reason": "no_device"})
    return {
        "id": str(uuid.uuid4()),
        "team": village["team"],
        "resident": rng.choice(village["residents"]),
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=rng.randint(1, 600))).isoformat(),
        "channel": rng.choice(["home_visit", "home_visit", "phone"]),
        "items": items,
    }


def _client_thread(port: int, client: dict, kind: str, until: float, seed: int, out: list) -> None:
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Token {client['token']}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    created: list[str] = []
    while time.perf_counter() < until:
        if kind == "floor":
            method, path, body = "GET", "/bench/floor/", None
        else:
            payload = log_body(client["village"], rng)
            method, path, body = "POST", "/api/v1/assistance-logs/", json.dumps(payload)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            statuses[-1] = statuses.get(-1, 0) + 1
            continue
        latencies.append(time.perf_counter() - started)
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if kind == "logs" and response.status == 201:
            created.append(payload["id"])
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
    out.append((latencies, statuses, created))


def _client_process(
    port: int, clients: list[dict], kind: str, start_at: float, seconds: float, seed: int, queue
) -> None:
    while time.time() < start_at:
        time.sleep(0.001)
    until = time.perf_counter() + seconds
    out: list = []
    threads = [
        threading.Thread(target=_client_thread, args=(port, client, kind, until, seed * 1000 + n, out))
        for n, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies = [lat for part in out for lat in part[0]]
    statuses: dict[int, int] = {}
    for part in out:
        for status, count in part[1].items():
            statuses[status] = statuses.get(status, 0) + count
    queue.put((latencies, statuses, [log_id for part in out for log_id in part[2]]))


def run_phase(port: int, clients: list[dict], kind: str, seconds: float, processes: int) -> dict:
    """``clients`` concurrent clients for ``seconds``, spread over ``processes`` client processes."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.time() + 0.5
    workers = [
        context.Process(
            target=_client_process, args=(port, clients[n::processes], kind, start_at, seconds, n + 1, queue)
        )
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    parts = [queue.get() for _ in workers]
    for worker in workers:
        worker.join()
    latencies = sorted(lat for part in parts for lat in part[0])
    statuses: dict[int, int] = {}
    for part in parts:
        for status, count in part[1].items():
            statuses[status] = statuses.get(status, 0) + count
    ok = statuses.get(201 if kind == "logs" else 200, 0)
    return {
        "requests": len(latencies),
        "ok": ok,
        "per_second": ok / seconds,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "statuses": statuses,
        "created": [log_id for part in parts for log_id in part[2]],
    }


def sync_batch_items(client: dict, rng: random.Random) -> list[dict]:
    """500 items as a phone queues them offline: households, their residents, logs about them."""
    village = client["village"]
    items: list[dict] = []
    residents: list[str] = []
    households = BATCH_SIZE // 10
    for number in range(households):
        household = str(uuid.uuid4())
        items.append(
            {
                "kind": "household",
                "client_id": household,
                "data": {"village": village["id"], "code": f"S{number}-{household[:8]}"},
            }
        )
        for member in range(3):
            resident = str(uuid.uuid4())
            residents.append(resident)
            items.append(
                {
                    "kind": "resident",
                    "client_id": resident,
                    "data": {
                        "household": household,
                        "full_name": f"Người mới {number}-{member}",
                        "sex": rng.choice(["male", "female"]),
                        "birth_year": rng.randint(1950, 2005),
                    },
                }
            )
    while len(items) < BATCH_SIZE:
        body = log_body(village, rng)
        log_id = body.pop("id")
        body["resident"] = rng.choice(residents)
        items.append({"kind": "assistance_log", "client_id": log_id, "data": body})
    return items


def queries_per_log(client: dict, rng: random.Random, count: int = 50) -> float:
    """Statements sent to PostgreSQL per logged assistance (BEGIN and COMMIT included), in this process."""
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from fieldteam.rollup import fastlog

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    browser = Client(HTTP_AUTHORIZATION=f"Token {client['token']}")
    # The one-statement log runs on a psycopg cursor of its own, which Django does not see: count it.
    executed = []
    execute = fastlog._execute

    def counted(statement, params):
        executed.append(statement.name)
        return execute(statement, params)

    fastlog._execute = counted
    fastlog.USE.reset()
    try:
        with CaptureQueriesContext(connection) as captured:
            for _ in range(count):
                body = json.dumps(log_body(client["village"], rng))
                response = browser.post("/api/v1/assistance-logs/", data=body, content_type="application/json")
                if response.status_code != 201:
                    raise SystemExit(f"log answered {response.status_code}: {response.content[:500]!r}")
    finally:
        fastlog._execute = execute
    if fastlog.enabled() and fastlog.USE.written != count:
        # The figures would measure the ORM path: say so rather than report them as the statement's.
        raise SystemExit(f"only {fastlog.USE.written} of {count} logs took the one statement: {fastlog.USE}")
    return (len(captured.captured_queries) + len(executed)) / count


def post_batch(port: int, token: str, items: list[dict]) -> tuple[float, dict[str, int]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    body = json.dumps({"items": items})
    started = time.perf_counter()
    connection.request(
        "POST",
        "/api/v1/sync/",
        body=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    response = connection.getresponse()
    payload = response.read()
    elapsed = time.perf_counter() - started
    if response.status != 200:
        raise SystemExit(f"sync answered {response.status}: {payload[:500]!r}")
    statuses: dict[str, int] = {}
    for result in json.loads(payload)["results"]:
        statuses[result["status"]] = statuses.get(result["status"], 0) + 1
    return elapsed, statuses


# --- main ------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--villages", type=int, default=8)
    parser.add_argument("--residents", type=int, default=200, help="residents per village")
    parser.add_argument("--port", type=int, default=0, help="default: a free port")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="threads per gthread worker")
    args = parser.parse_args()
    rng = random.Random(2026)
    args.port = args.port or free_port()

    say(f"database {args.database_url}: creating and loading ...")
    recreate_database(args.database_url)
    setup_django(args.database_url)
    started = time.perf_counter()
    world = build_world(args.villages, args.residents, args.clients + 1, rng)
    say(
        f"  {args.villages} villages x {args.residents} residents, {args.clients} clients "
        f"({time.perf_counter() - started:.1f} s)"
    )
    batch_client = world["clients"].pop()

    server, _site = start_server(args.database_url, args.port, args.worker_class, args.threads)
    try:
        say(f"gunicorn: 2 {args.worker_class} workers on 127.0.0.1:{args.port}; warming up ...")
        run_phase(args.port, world["clients"], "floor", 2, args.client_processes)
        run_phase(args.port, world["clients"], "logs", 2, args.client_processes)
        # With the logs of the warm-up in the tables, as autovacuum would on a database in use: a
        # plan made for an empty table (the workers' foreign-key checks among them) scans it whole.
        analyze(args.database_url)

        meter = CpuMeter(server, args.database_url)
        say(f"floor: bare authenticated DRF GET, {args.clients} clients, {args.seconds:.0f} s")
        before = meter.sample()
        floor = run_phase(args.port, world["clients"], "floor", args.seconds, args.client_processes)
        floor["cpu"] = CpuMeter.spent(before, meter.sample())
        say(
            f"  {floor['per_second']:8.1f} req/s   p50 {floor['p50_ms']:6.1f} ms   p99 {floor['p99_ms']:6.1f} ms   "
            f"{floor['statuses']}"
        )
        say(f"logs: POST /api/v1/assistance-logs/, {args.clients} clients, {args.seconds:.0f} s")
        before = meter.sample()
        logs = run_phase(args.port, world["clients"], "logs", args.seconds, args.client_processes)
        after = meter.sample()
        logs["cpu"] = CpuMeter.spent(before, after)
        logs["background_ms"] = meter.background_share(before, after) * 1000 / max(logs["requests"], 1)
        say(
            f"  {logs['per_second']:8.1f} logs/s  p50 {logs['p50_ms']:6.1f} ms   p99 {logs['p99_ms']:6.1f} ms   "
            f"{logs['statuses']}"
        )
        for label, phase in (("floor", floor), ("log", logs)):
            count = max(phase["requests"], 1)
            app_ms, db_ms = (seconds * 1000 / count for seconds in phase["cpu"])
            say(
                f"  CPU per {label} request: {app_ms + db_ms:5.2f} ms (gunicorn {app_ms:5.2f} + PostgreSQL {db_ms:5.2f}); "
                f"at most {2000 / (app_ms + db_ms):6.0f}/s on 2 idle cores"
            )
        say(f"  (of PostgreSQL's CPU per log, autovacuum workers seen: {logs['background_ms']:4.2f} ms)")
        items = sync_batch_items(batch_client, rng)
        first, first_statuses = post_batch(args.port, batch_client["token"], items)
        again, again_statuses = post_batch(args.port, batch_client["token"], items)
        say(
            f"sync: one batch of {len(items)} items: {first:.2f} s {first_statuses}; sent again: {again:.2f} s {again_statuses}"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    from fieldteam.models import AssistanceLog
    from fieldteam.rollup import recompute

    found = AssistanceLog.objects.filter(pk__in=logs["created"]).count()
    drift = recompute.recompute_province(province_id=world["province_id"]).drift
    say(
        f"check: {found} of {len(logs['created'])} logs answered 201 exist; drift after a full recompute: {len(drift)} rows"
    )

    # After the check: these logs move the counts too.
    say(f"queries per log (in this process, after the run): {queries_per_log(world['clients'][0], rng):.1f}")

    share = logs["per_second"] / floor["per_second"] if floor["per_second"] else float("nan")
    with open("/proc/loadavg") as handle:
        say(f"load average during the run (other processes share the machine): {handle.read().split()[0]}")
    goals = [
        (f"logs/s >= {GOAL_LOGS_PER_SECOND}", logs["per_second"] >= GOAL_LOGS_PER_SECOND),
        (f"logs/s >= {GOAL_FLOOR_SHARE:.0%} of the floor's req/s", share >= GOAL_FLOOR_SHARE),
        (f"logs p99 < {GOAL_P99_MS} ms", logs["p99_ms"] < GOAL_P99_MS),
        (f"{BATCH_SIZE}-item batch < {GOAL_BATCH_SECONDS:.0f} s", first < GOAL_BATCH_SECONDS),
        ("every created log stored once, counts equal the recompute", found == len(logs["created"]) and not drift),
    ]
    for label, met in goals:
        say(f"  {'PASS' if met else 'MISS'}  {label}")
    say(f"ratio logs/floor: {share:.2f}")
    say(f"ratio batch/goal: {first / GOAL_BATCH_SECONDS:.2f}")
    say(f"ratio p99/goal: {logs['p99_ms'] / GOAL_P99_MS:.2f}")


if __name__ == "__main__":
    main()
