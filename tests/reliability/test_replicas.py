"""A real streaming replica (issue 18): the router reads from it, writers read their own writes, a
lagging replica is skipped, and the replica answers the same numbers as the primary once caught up.

Needs a replica of the test server (``tools/pg_cluster.sh start``; ``.ci/run`` does it) given as
``REPLICA_DATABASE_URL`` and configured as ``DATABASE_REPLICA_URLS`` (the alias ``replica1`` mirrors
``default`` in tests: its NAME becomes the test database's, which the replica receives by
streaming). Skipped otherwise.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from backend import db_routing
from fieldteam.choices import AreaRoleKind
from fieldteam.models import VillageCount
from tests.factories import AreaRoleFactory
from tests.reliability.conftest import LOGS, Village

REPLICA_URL = os.environ.get("REPLICA_DATABASE_URL", "")
pytestmark = [
    pytest.mark.replica,
    pytest.mark.skipif(
        not REPLICA_URL or not getattr(django_settings, "DATABASE_REPLICAS", None),
        reason="needs REPLICA_DATABASE_URL and DATABASE_REPLICA_URLS (tools/pg_cluster.sh)",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", "replica1"]),
]


def _replica() -> psycopg.Connection:
    """A connection of the test's own to the replica's copy of the test database."""
    url = urlsplit(REPLICA_URL)
    return psycopg.connect(url._replace(path="/" + connection.settings_dict["NAME"]).geturl(), autocommit=True)


def _wait_caught_up(timeout: float = 60.0) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()")
        target = cursor.fetchone()[0]
    deadline = time.monotonic() + timeout
    with _replica() as replica:
        while time.monotonic() < deadline:
            if replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [target]).fetchone()[0]:
                return
            time.sleep(0.1)
    pytest.fail("the replica did not catch up within a minute")


@pytest.fixture
def paused_replica() -> Iterator[None]:
    """Replay paused on the replica for the test (what a lagging replica looks like), resumed after."""
    _wait_caught_up()
    with _replica() as replica:
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")


@pytest.fixture(autouse=True)
def _fresh_health(settings) -> Iterator[None]:
    settings.REPLICA_CHECK_SECONDS = 0  # measure at every read: the tests change the lag on purpose
    db_routing.forget_replica_health()
    cache.clear()
    yield
    db_routing.forget_replica_health()


def _client(village: Village) -> APIClient:
    """The member's API client without cookies (a fresh one has no read-your-writes pin)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=village.member)[0].key}")
    return client


def _log_ids(client: APIClient) -> set[str]:
    response = client.get(LOGS)
    assert response.status_code == 200, response.content
    return {str(row["id"]) for row in response.json()["results"]}


def test_writer_reads_own_write_at_once_while_others_read_the_replica(
    village: Village, settings, paused_replica
) -> None:
    settings.REPLICA_MAX_LAG_SECONDS = 3600  # the paused replica still counts as healthy here
    writer = _client(village)
    body = village.log_body(0)
    assert writer.post(LOGS, body, format="json").status_code == 201

    with CaptureQueriesContext(connections["replica1"]) as on_replica:
        assert body["id"] in _log_ids(writer)  # pinned to the primary by the write
    assert not [q for q in on_replica.captured_queries if "assistance" in q["sql"]]

    cache.clear()  # the pin gone (as after READ_YOUR_WRITES_SECONDS): the replica answers, without the log
    with CaptureQueriesContext(connections["replica1"]) as on_replica:
        assert body["id"] not in _log_ids(_client(village))
    assert [q for q in on_replica.captured_queries if "assistance" in q["sql"]]


def test_lagging_replica_is_skipped(village: Village, settings, paused_replica) -> None:
    settings.REPLICA_MAX_LAG_SECONDS = 0.5
    body = village.log_body(1)
    assert _client(village).post(LOGS, body, format="json").status_code == 201
    cache.clear()
    time.sleep(1.0)  # replay paused with WAL received: the replica falls behind by the second

    lag = db_routing.measure_lag("replica1")
    assert lag is not None and lag > 0.5
    with CaptureQueriesContext(connections["replica1"]) as on_replica:
        assert body["id"] in _log_ids(_client(village))  # read from the primary
    assert not [q for q in on_replica.captured_queries if "assistance" in q["sql"]]


def test_same_numbers_on_primary_and_replica_once_caught_up(village: Village, settings) -> None:
    client = _client(village)
    for number in range(6):
        assert client.post(LOGS, village.log_body(number), format="json").status_code == 201
    _wait_caught_up()
    lag = db_routing.measure_lag("replica1")  # the shared primary is never idle: small, not zero
    assert lag is not None and lag < settings.REPLICA_MAX_LAG_SECONDS
    cache.clear()

    url = f"/api/v1/areas/{village.tree.village.pk}/breakdowns/"
    with CaptureQueriesContext(connections["replica1"]) as on_replica:
        from_replica = _client(village).get(url)
    assert on_replica.captured_queries, "the read did not go to the replica"
    settings.DATABASE_REPLICAS = []  # the same request, all on the primary
    from_primary = _client(village).get(url)
    assert from_replica.status_code == from_primary.status_code == 200
    assert from_replica.json() == from_primary.json()

    counts = ("village_id", "indicator_id", "numerator", "denominator")
    primary_rows = list(VillageCount.objects.using("default").order_by("pk").values_list(*counts))
    assert primary_rows
    assert list(VillageCount.objects.using("replica1").order_by("pk").values_list(*counts)) == primary_rows


def test_dashboards_read_their_figures_from_the_replica(village: Village, settings) -> None:
    """The province and commune dashboards read all their figures from the replica, the selectors
    written in SQL included (the ranking's sums, team coverage, breakdowns, open reasons): the primary
    answers only who is signed in and what they may see (session, user, roles), and fills the
    caches of the official figures and of the month history on a miss (``fieldteam/province_cache.py``:
    never from a replica)."""
    client = _client(village)
    for number in range(3):
        assert client.post(LOGS, village.log_body(number), format="json").status_code == 201
    _wait_caught_up()
    officer = AreaRoleFactory(area=village.province, role=AreaRoleKind.PROVINCE_OFFICER).user
    browser = Client()
    browser.force_login(officer)
    cache.clear()
    primary_only = ("django_session", "fieldteam_user", "fieldteam_arearole", "fieldteam_officialpopulation")

    def history_fill(sql: str) -> bool:
        """The month history's two reads (each series' first month, then those months' rows)."""
        return "fieldteam_indicatorvalue" in sql and ("MIN(v.period_start)" in sql or '"value" IS NOT NULL' in sql)
    for area in (village.province, village.tree.commune):
        with (
            CaptureQueriesContext(connection) as on_primary,
            CaptureQueriesContext(connections["replica1"]) as on_replica,
        ):
            assert browser.get(f"/dashboards/areas/{area.pk}/").status_code == 200
        # The live counts (a province's and a commune's from the stored commune sums, a commune's
        # villages from their own rows) come from the replica.
        assert [q for q in on_replica.captured_queries if "fieldteam_communecount" in q["sql"]]
        if area == village.tree.commune:
            assert [q for q in on_replica.captured_queries if "fieldteam_villagecount" in q["sql"]]
        on_primary_sql = [q["sql"] for q in on_primary.captured_queries]
        assert [sql for sql in on_primary_sql if not any(t in sql for t in primary_only) and not history_fill(sql)] == []
