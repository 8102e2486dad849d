"""``GET /health/``: the database, Redis and the age of beat's last heartbeat."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fieldteam.health import run_checks
from fieldteam.logging import JsonFormatter
from fieldteam.tasks import BEAT_HEARTBEAT_KEY, beat_heartbeat

pytestmark = pytest.mark.django_db

HEALTH = "/health/"


def test_without_redis_only_the_database_is_checked(client, settings):
    settings.REDIS_URL = ""

    response = client.get(HEALTH)

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["database"]["ok"] is True
    assert response.json()["checks"]["redis"]["skipped"] is True
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.fault
def test_redis_and_beat_are_checked_and_a_load_balancer_can_ask_for_the_database_only(client, redis_runtime):
    never_ran = client.get(HEALTH)
    assert never_ran.status_code == 503
    assert never_ran.json()["checks"]["beat"] == {
        "ok": False,
        "last_run": None,
        "ms": never_ran.json()["checks"]["beat"]["ms"],
    }

    beat_heartbeat()  # as a worker runs it every minute
    healthy = client.get(HEALTH)
    assert healthy.status_code == 200, healthy.json()
    assert healthy.json()["checks"]["beat"]["age_seconds"] < 60

    cache.set(BEAT_HEARTBEAT_KEY, (timezone.now() - dt.timedelta(minutes=30)).isoformat(), timeout=None)
    stale = client.get(HEALTH)
    assert stale.status_code == 503
    assert stale.json()["checks"]["beat"]["ok"] is False

    redis_runtime.stop()
    down = client.get(HEALTH)
    assert down.status_code == 503
    assert down.json()["checks"]["redis"] == {
        "ok": False,
        "error": "ConnectionError",
        "ms": down.json()["checks"]["redis"]["ms"],
    }
    assert client.get(HEALTH, {"check": "database"}).status_code == 200


def test_json_logs_are_one_object_per_line_with_vietnamese_as_is():
    record = logging.LogRecord("fieldteam.sync", logging.WARNING, __file__, 1, "Xã %s: %d rows", ("Ia Grai", 3), None)
    record.job = "abc"

    line = JsonFormatter().format(record)

    assert "\n" not in line and "Ia Grai" in line and "Xã" in line
    fields = json.loads(line)
    assert (fields["level"], fields["logger"], fields["message"], fields["job"]) == (
        "WARNING",
        "fieldteam.sync",
        "Xã Ia Grai: 3 rows",
        "abc",
    )
    assert dt.datetime.fromisoformat(fields["time"]).utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "query",
    [
        "check=database&" * 260,
        "check=database&check=redis&check=beat&" * 90,
        "check=nope&" * 260,
        "",
    ],
    ids=["one check repeated", "every check repeated", "unknown checks repeated", "no query"],
)
def test_each_check_runs_once_per_request_whatever_the_query_string(client, settings, query):
    """A repeated ``?check=`` is not a way to make one unauthenticated request cost hundreds of queries."""
    settings.REDIS_URL = ""

    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{HEALTH}?{query}")

    assert response.status_code == 200
    assert len(queries) == 1  # the database check's SELECT 1, once
    assert set(response.json()["checks"]) <= {"database", "redis", "beat"}


def test_run_checks_runs_a_name_passed_twice_once(settings):
    settings.REDIS_URL = ""

    with CaptureQueriesContext(connection) as queries:
        results = run_checks(["database", "database", "database"])

    assert list(results) == ["database"]
    assert len(queries) == 1
