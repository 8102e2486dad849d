"""Fixtures of the fault tests: a Redis server of their own, the app pointed at it, a small world.

The machine's shared Redis is never stopped: each test that needs Redis starts its own
``redis-server`` (no persistence, so a restart loses everything, as a crashed Redis would) on a
free port from 6390 up, and stops and restarts that one. Tests needing it are skipped where
``redis-server`` is not installed.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kombu.pools
import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fieldteam.models import Area, Capability, Indicator, Resident, Team, User
from tests.conftest import AreaTree
from tests.factories import CapabilityFactory, HouseholdFactory, IndicatorFactory, ResidentFactory

REDIS_SERVER = shutil.which("redis-server")
FIRST_PORT = 6390
LOGS = "/api/v1/assistance-logs/"
SYNC = "/api/v1/sync/"


class OwnRedis:
    """A ``redis-server`` child process on ``port``, without persistence; stop and start at will."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> bool:
        """Start the server; ``False`` if it did not come up (e.g. the port was taken meanwhile)."""
        if _answers_ping(self.port):  # someone else's: never stop or flush it
            return False
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603 (our own command line)
            [*command, "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            if _answers_ping(self.port):
                return True
            time.sleep(0.05)
        self.stop()
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_taken(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A Redis of this test's own (ports from 6390, one per xdist worker, skipping taken ones)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0
    for port in range(FIRST_PORT + offset, FIRST_PORT + 40, 8):
        if _port_taken(port):
            continue
        server = OwnRedis(port, tmp_path)
        if server.start():
            break
    else:
        pytest.skip("no free port for a redis-server of the test's own")
    yield server
    server.stop()


@pytest.fixture
def redis_runtime(own_redis: OwnRedis, settings) -> Iterator[OwnRedis]:
    """Settings, cache and Celery pointed at ``own_redis``, tasks sent to it (not run eagerly)."""
    from backend.celery import app

    settings.REDIS_URL = own_redis.url
    settings.CACHES = {
        "default": {
            "BACKEND": "fieldteam.cache.FailOpenRedisCache",
            "LOCATION": own_redis.url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            "KEY_PREFIX": f"test:{uuid.uuid4().hex[:12]}",
        }
    }
    saved = (app.conf.broker_url, app.conf.task_always_eager)
    _reset_producers(app)
    app.conf.broker_url = own_redis.url
    app.conf.task_always_eager = False
    yield own_redis
    _reset_producers(app)
    app.conf.broker_url, app.conf.task_always_eager = saved


def _reset_producers(app) -> None:
    # Connections are pooled per broker URL, process-wide: drop them all, so the next message
    # opens a connection to the URL now configured.
    kombu.pools.reset()
    app._after_fork()


# --- a small world: a village of residents, two capabilities and their indicators ----------------


@dataclass
class Village:
    tree: AreaTree
    team: Team
    member: User
    residents: list[Resident]
    smartphone: Capability
    skills: Capability
    smartphone_indicator: Indicator
    skills_indicator: Indicator

    @property
    def province(self) -> Area:
        return self.tree.province

    def client(self) -> APIClient:
        """The member's API client, signed in by token (so throttles count per user)."""
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=self.member)[0].key}")
        return client

    def log_body(self, number: int) -> dict:
        """An online log with a client-made id about the ``number``-th resident (round robin)."""
        resident = self.residents[number % len(self.residents)]
        # Each resident in turn gets a smartphone, then basic skills, and so on.
        capability = "smartphone" if (number // len(self.residents)) % 2 == 0 else "basic_digital_skills"
        return {
            "id": str(uuid.uuid4()),
            "team": self.team.pk,
            "resident": resident.pk,
            "occurred_at": (timezone.now() - dt.timedelta(minutes=5 + number)).isoformat(),
            "channel": "home_visit",
            "items": [{"capability": capability, "outcome": "done"}],
        }

    def sync_item(self, number: int) -> dict:
        body = self.log_body(number)
        return {"kind": "assistance_log", "client_id": body.pop("id"), "data": body}


@pytest.fixture
def village(area_tree: AreaTree, team: Team, member: User) -> Village:
    smartphone = CapabilityFactory(code="smartphone", name="Smartphone")
    skills = CapabilityFactory(code="basic_digital_skills", name="Basic digital skills")
    # Indicators first: the live counts follow the residents registered from then on.
    smartphone_indicator = IndicatorFactory(code="adults-smartphone", capability=smartphone, min_age=18)
    skills_indicator = IndicatorFactory(code="adults-skills", capability=skills, min_age=15)
    residents = []
    for number in range(4):
        household = HouseholdFactory(village=area_tree.village)
        residents += [ResidentFactory(household=household, birth_year=1960 + 10 * number + k) for k in range(3)]
    return Village(area_tree, team, member, residents, smartphone, skills, smartphone_indicator, skills_indicator)
