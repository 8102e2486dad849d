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

``--replica-url`` (a streaming replica of the server ``--database-url`` is on; its database name
is taken from ``--database-url`` when the URL gives none) runs another bench instead (issue 18):
logging on the primary while a replica serves the dashboards. The app runs with
``DATABASE_REPLICA_URLS`` set, as two gunicorns (2 workers each, as two web hosts would): one
for the loggers, one for ``--dashboard-clients`` province officers loading the province and
commune dashboards as fast as answers come (their reads go to the replica, who is signed in is
read from the primary). ``--rounds`` times, in alternating order: logs alone, dashboards alone,
both at once. It prints logs/s, p50/p99 and CPU per log (the logging gunicorn and its primary
backends, told apart by ``application_name``) without and with the dashboards, the dashboards'
requests/s, p50/p99 and CPU (gunicorn, primary, replica), the replica's lag during the run and at
the end (``pg_stat_replication``), and checks that every log answered 201 exists once, the counts
equal a full recompute, and the replica holds the same logs and counts as the primary once caught up.

    .venv/bin/python bench/api.py --database-url postgres://postgres@127.0.0.1:5436/ftbench_rep \\
        --replica-url postgres://postgres@127.0.0.1:5437/ --seconds 20
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
def start_server(
    url: str, port: int, worker_class: str, threads: int, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, str]:
    site = tempfile.mkdtemp(prefix="ft-bench-")
    Path(site, "ft_bench_settings.py").write_text(textwrap.dedent(BENCH_SETTINGS))
    Path(site, "ft_bench_urls.py").write_text(textwrap.dedent(BENCH_URLS))
    env = {**os.environ, **SERVER_ENV, **(extra_env or {}), "DATABASE_URL": url, "PYTHONPATH": f"{site}:{ROOT}"}
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


def _postgres_backends(url: str, application: str | None = None) -> dict[int, str]:
    """The database's PostgreSQL processes and their kind ("client backend", "autovacuum worker", ...).

    With ``application``, only the client backends of that ``application_name`` (and the background workers).
    """
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    admin_url = urlunsplit(urlsplit(url)._replace(path="/postgres", query=""))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
            " AND (%s::text IS NULL OR application_name = %s OR backend_type <> 'client backend')",
            [name, application, application],
        ).fetchall()
    return dict(rows)


class CpuMeter:
    """CPU seconds spent by the gunicorn workers and by the database's PostgreSQL backends."""

    def __init__(self, server: subprocess.Popen, url: str, application: str | None = None) -> None:
        self.server, self.url, self.application = server, url, application
        self.background: set[int] = set()  # autovacuum workers seen (their CPU is reported apart)

    def sample(self) -> tuple[dict[int, float], dict[int, float]]:
        app = {pid: _cpu_of(pid) for pid in [self.server.pid, *_children(self.server.pid)]}
        backends = _postgres_backends(self.url, self.application)
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
    headers = {"Authorization": f"Token {client.get('token')}", "Content-Type": "application/json"}
    if kind == "dashboard":  # a signed-in officer (a session cookie), no token
        headers = {"Cookie": f"sessionid={client['session']}"}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    created: list[str] = []
    while time.perf_counter() < until:
        if kind == "floor":
            method, path, body = "GET", "/bench/floor/", None
        elif kind == "dashboard":
            method, path, body = "GET", rng.choice(client["paths"]), None
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
    return run_groups([(port, clients, kind, processes)], seconds)[0]


def run_groups(groups: list[tuple[int, list[dict], str, int]], seconds: float) -> list[dict]:
    """Several groups of clients at once, each ``(port, clients, kind, processes)``; a result per group."""
    context = multiprocessing.get_context("fork")
    start_at = time.time() + 0.5
    running = []
    for number, (port, clients, kind, processes) in enumerate(groups):
        queue = context.Queue()
        workers = [
            context.Process(
                target=_client_process,
                args=(port, clients[n::processes], kind, start_at, seconds, number * 100 + n + 1, queue),
            )
            for n in range(processes)
        ]
        for worker in workers:
            worker.start()
        running.append((kind, queue, workers))
    results = []
    for kind, queue, workers in running:
        parts = [queue.get() for _ in workers]
        for worker in workers:
            worker.join()
        results.append(_phase_result(kind, parts, seconds))
    return results


def _phase_result(kind: str, parts: list, seconds: float) -> dict:
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
        "latencies": latencies,
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


# --- with a replica (--replica-url) ------------------------------------------------------------------------
def replica_database_url(replica_url: str, database_url: str) -> str:
    """The replica's URL of the bench database: ``--database-url``'s name when ``replica_url`` gives none."""
    parts = urlsplit(replica_url)
    if parts.path.strip("/"):
        return replica_url
    return urlunsplit(parts._replace(path=urlsplit(database_url).path))


def with_application_name(url: str, name: str) -> str:
    """The URL with ``?application_name=name`` (Django passes it to psycopg): whose backends are whose."""
    return urlunsplit(urlsplit(url)._replace(query=f"application_name={name}"))


def replication_state(url: str) -> tuple[float | None, int | None]:
    """The primary's view of its replica: replay lag in seconds (None when idle) and bytes not yet replayed."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT EXTRACT(EPOCH FROM replay_lag)::float8, pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint"
            " FROM pg_stat_replication ORDER BY replay_lsn LIMIT 1"
        ).fetchone()
    if row is None:
        raise SystemExit("the primary has no replica in pg_stat_replication")
    return row[0], row[1]


def wait_caught_up(url: str, replica_url: str, timeout: float = 300) -> float:
    """Seconds until the replica has replayed everything the primary wrote so far."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as primary:
        target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    with psycopg.connect(replica_url, autocommit=True) as replica:
        while not replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]:
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"the replica did not catch up within {timeout:.0f} s")
            time.sleep(0.05)
    return time.perf_counter() - started


def replica_transactions(replica_url: str) -> int:
    """Transactions the replica has served in the bench database (its own statistics: reads only)."""
    import psycopg

    with psycopg.connect(replica_url, autocommit=True) as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]


def compare_with_replica(url: str, replica_url: str) -> list[tuple[str, int, bool]]:
    """Each logs and counts table: its rows on the primary, and whether the replica holds exactly the same."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as primary, psycopg.connect(replica_url, autocommit=True) as replica:
        tables = [
            row[0]
            for row in primary.execute(
                r"SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND (tablename LIKE 'fieldteam\_%count'"
                " OR tablename IN ('fieldteam_assistancelog', 'fieldteam_assistanceitem', 'fieldteam_adoption',"
                " 'fieldteam_resident', 'fieldteam_syncreceipt')) ORDER BY tablename"
            )
        ]
        compared = []
        for table in tables:
            # Every row, in a fixed order, as one digest: equal digests, equal tables.
            digest = f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {table} t"
            here, there = primary.execute(digest).fetchone(), replica.execute(digest).fetchone()
            compared.append((table, here[0], here == there))
    return compared


class LagWatch:
    """Samples the replica's lag on the primary twice a second, the largest seen kept per phase label."""

    def __init__(self, url: str) -> None:
        self.url, self.label = url, ""
        self.worst: dict[str, tuple[float, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            if not self.label:
                continue
            seconds, behind = replication_state(self.url)
            old = self.worst.get(self.label, (0.0, 0))
            self.worst[self.label] = (max(old[0], seconds or 0.0), max(old[1], behind or 0))


def officer_sessions(province_id: int, count: int) -> list[str]:
    """Signed-in sessions of ``count`` province officers (sessions live in the database)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from fieldteam.choices import AreaRoleKind
    from fieldteam.models import AreaRole, User

    keys = []
    for number in range(count):
        user = User.objects.create_user(username=f"bench-officer-{number}", password=uuid.uuid4().hex)
        AreaRole.objects.create(user=user, area_id=province_id, role=AreaRoleKind.PROVINCE_OFFICER)
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    return keys


def dashboard_paths(world: dict) -> list[str]:
    """The province's dashboard as often as all its communes' (those with the bench's villages) together."""
    from fieldteam.models import Area

    villages = Area.objects.filter(pk__in=[v["id"] for v in world["villages"]])
    parents = {village.path[: -Area.steplen] for village in villages}  # materialized paths: the parent's prefix
    communes = sorted(Area.objects.filter(path__in=parents).values_list("pk", flat=True))
    return [f"/dashboards/areas/{world['province_id']}/"] * len(communes) + [
        f"/dashboards/areas/{commune}/" for commune in communes
    ]


def _merge(phases: list[dict], seconds: float) -> dict:
    latencies = sorted(lat for phase in phases for lat in phase["latencies"])
    app = sum(phase["cpu"][0] for phase in phases)
    database = sum(phase["cpu"][1] for phase in phases)
    replica = sum(phase.get("replica_cpu", 0.0) for phase in phases)
    count = max(len(latencies), 1)
    return {
        "per_second": sum(phase["ok"] for phase in phases) / (seconds * len(phases)),
        "p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan"),
        "app_ms": app * 1000 / count,
        "db_ms": database * 1000 / count,
        "replica_ms": replica * 1000 / count,
        "replica_transactions": sum(phase.get("replica_transactions", 0) for phase in phases) / count,
    }


def run_with_replica(args: argparse.Namespace, world: dict) -> None:
    """Logging on the primary without and with officers loading dashboards from the replica (issue 18)."""
    url = args.database_url
    replica_url = replica_database_url(args.replica_url, url)
    say(f"replica {replica_url}: caught up with the loaded data in {wait_caught_up(url, replica_url):.1f} s")
    sessions = officer_sessions(world["province_id"], args.dashboard_clients)
    paths = dashboard_paths(world)
    officers = [{"session": key, "paths": paths} for key in sessions]
    extra = {"DATABASE_REPLICA_URLS": replica_url}
    logs_server, _site = start_server(
        with_application_name(url, "bench-logs"), args.port, args.worker_class, args.threads, extra
    )
    dashboard_port = free_port()
    try:
        dashboards_server, _site = start_server(
            with_application_name(url, "bench-dashboards"), dashboard_port, args.worker_class, args.threads, extra
        )
    except BaseException:
        logs_server.terminate()
        raise
    watch = LagWatch(url)
    watch.start()
    phases: dict[str, list[dict]] = {"logs alone": [], "dashboards alone": [], "logs": [], "dashboards": []}
    created: list[str] = []
    try:
        say(
            f"gunicorn: 2 {args.worker_class} workers for {args.clients} loggers on :{args.port}, 2 for "
            f"{args.dashboard_clients} officers on "
            f":{dashboard_port}, both with DATABASE_REPLICA_URLS; warming up ..."
        )
        logs_group = (args.port, world["clients"], "logs", args.client_processes)
        dashboards_group = (dashboard_port, officers, "dashboard", 1)
        warm = run_groups([logs_group, dashboards_group], 3)
        created += warm[0]["created"]
        if warm[1]["statuses"].keys() != {200}:
            raise SystemExit(f"the dashboards answered {warm[1]['statuses']}")
        analyze(url)
        log_meter = CpuMeter(logs_server, url, "bench-logs")
        dashboard_meter = CpuMeter(dashboards_server, url, "bench-dashboards")
        replica_meter = CpuMeter(dashboards_server, replica_url)  # its backends: the dashboards' reads
        runs = [("logs alone", [logs_group]), ("dashboards alone", [dashboards_group])]
        runs.append(("logs + dashboards", [logs_group, dashboards_group]))
        for number in range(args.rounds):
            for label, groups in runs if number % 2 == 0 else runs[::-1]:
                say(f"round {number + 1}: {label}, {args.seconds:.0f} s")
                watch.label = label
                before = (log_meter.sample(), dashboard_meter.sample(), replica_meter.sample())
                transactions = replica_transactions(replica_url)
                results = run_groups(groups, args.seconds)
                transactions = replica_transactions(replica_url) - transactions
                after = (log_meter.sample(), dashboard_meter.sample(), replica_meter.sample())
                watch.label = ""
                for group, result in zip(groups, results, strict=True):
                    if group[2] == "logs":
                        result["cpu"] = CpuMeter.spent(before[0], after[0])
                        created += result["created"]
                        key = "logs alone" if len(groups) == 1 else "logs"
                    else:
                        result["cpu"] = CpuMeter.spent(before[1], after[1])
                        result["replica_cpu"] = CpuMeter.spent(before[2], after[2])[1]
                        result["replica_transactions"] = transactions
                        key = "dashboards alone" if len(groups) == 1 else "dashboards"
                    phases[key].append(result)
                    unit = "logs/s" if group[2] == "logs" else "req/s "
                    say(
                        f"  {group[2]:9s} {result['per_second']:8.1f} {unit}  p50 {result['p50_ms']:6.1f} ms   "
                        f"p99 {result['p99_ms']:6.1f} ms   {result['statuses']}"
                    )
                with open("/proc/loadavg") as handle:
                    say(f"  load average: {handle.read().split()[0]}")
    finally:
        watch.stop()
        for server in (logs_server, dashboards_server):
            server.terminate()
            server.wait(timeout=30)

    say("")
    say(f"summary over {args.rounds} rounds of {args.seconds:.0f} s (CPU: gunicorn + the primary's backends it used)")
    merged = {label: _merge(results, args.seconds) for label, results in phases.items()}
    for label in ("logs alone", "logs"):
        m = merged[label]
        name = "logs, dashboards loading" if label == "logs" else "logs alone"
        say(
            f"  {name:26s} {m['per_second']:7.1f} logs/s  p50 {m['p50_ms']:6.1f} ms  p99 {m['p99_ms']:6.1f} ms  "
            f"CPU per log {m['app_ms'] + m['db_ms']:5.2f} ms (gunicorn {m['app_ms']:5.2f} + primary {m['db_ms']:5.2f})"
        )
    for label in ("dashboards alone", "dashboards"):
        m = merged[label]
        name = "dashboards, logs writing" if label == "dashboards" else "dashboards alone"
        say(
            f"  {name:26s} {m['per_second']:7.1f} req/s   p50 {m['p50_ms']:6.1f} ms  p99 {m['p99_ms']:6.1f} ms  "
            f"CPU per page {m['app_ms'] + m['db_ms'] + m['replica_ms']:5.1f} ms (gunicorn {m['app_ms']:5.1f} + "
            f"primary {m['db_ms']:4.2f} + replica {m['replica_ms']:5.1f}); "
            f"{m['replica_transactions']:.1f} replica transactions per page"
        )
    for label, (seconds, behind) in sorted(watch.worst.items()):
        say(f"  replica lag, the most seen during '{label}': replay_lag {seconds * 1000:6.1f} ms, {behind:,} bytes")
    seconds, behind = replication_state(url)
    lag_text = "none (caught up, idle)" if seconds is None else f"{seconds * 1000:.1f} ms"
    say(f"  replica lag at the end: replay_lag {lag_text}, {behind:,} bytes behind")
    alone, loaded = merged["logs alone"], merged["logs"]
    say(f"ratio logs/s with/without dashboards: {loaded['per_second'] / alone['per_second']:.2f}")
    say(
        "ratio CPU per log with/without dashboards: "
        f"{(loaded['app_ms'] + loaded['db_ms']) / (alone['app_ms'] + alone['db_ms']):.2f}"
    )

    from fieldteam.models import AssistanceLog
    from fieldteam.rollup import recompute

    found = AssistanceLog.objects.filter(pk__in=created).count()
    drift = recompute.recompute_province(province_id=world["province_id"]).drift
    say(f"check: {found} of {len(created)} logs answered 201 exist; drift after a full recompute: {len(drift)} rows")
    say(f"check: the replica caught up in {wait_caught_up(url, replica_url):.2f} s after the run")
    compared = compare_with_replica(url, replica_url)
    for table, rows, same in compared:
        say(f"  {'same' if same else 'DIFFERENT'} on the replica: {table} ({rows:,} rows)")
    checks = [
        ("every created log stored once, counts equal the recompute", found == len(created) and not drift),
        ("the replica served the dashboards' reads", merged["dashboards"]["replica_transactions"] >= 1),
        ("the replica holds the same logs and counts once caught up", all(same for _t, _r, same in compared)),
    ]
    for label, met in checks:
        say(f"  {'PASS' if met else 'FAIL'}  {label}")
    if not all(met for _label, met in checks):
        raise SystemExit(1)


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
    parser.add_argument("--replica-url", help="a streaming replica of --database-url's server: the replica bench")
    parser.add_argument("--dashboard-clients", type=int, default=2, help="with --replica-url: officers reading")
    parser.add_argument("--rounds", type=int, default=2, help="with --replica-url: rounds of the three phases")
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
    if args.replica_url:
        run_with_replica(args, world)
        return

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
