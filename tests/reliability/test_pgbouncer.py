"""Through a real pgbouncer in transaction mode (issue 18): logging (the one-statement function a
migration installed), a sync batch, an import, a dashboard, and the session locks.

``.ci/run`` starts pgbouncer (``tools/pg_cluster.sh``) and runs this file, with the suites of those
paths, with ``DATABASE_URL`` pointing at it (``PGBOUNCER=1``); the test database is made by the
migrations through pgbouncer. Skipped unless ``PGBOUNCER_DATABASE_URL`` is given.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from urllib.parse import urlsplit

import psycopg
import pytest
from django.conf import settings as django_settings
from django.db import connection, connections
from django.test import Client

from fieldteam.locks import AlreadyRunning, job_guard, job_held, recompute_guard
from fieldteam.models import AssistanceLog, VillageCount
from fieldteam.rollup import fastlog
from tests.factories import AreaRoleFactory
from tests.reliability.conftest import LOGS, SYNC, Village

PGBOUNCER_URL = os.environ.get("PGBOUNCER_DATABASE_URL", "")
pytestmark = [
    pytest.mark.pgbouncer,
    pytest.mark.skipif(not PGBOUNCER_URL, reason="needs PGBOUNCER_DATABASE_URL (tools/pg_cluster.sh)"),
]


def _bouncer_clients() -> list[tuple]:
    """pgbouncer's own view of its clients (its admin console)."""
    url = urlsplit(PGBOUNCER_URL)
    with psycopg.connect(
        host=url.hostname, port=url.port, user=url.username, dbname="pgbouncer", autocommit=True
    ) as admin:
        cursor = admin.cursor()
        cursor.execute("SHOW CLIENTS")
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_the_tests_talk_to_pgbouncer() -> None:
    assert int(connection.settings_dict["PORT"]) == urlsplit(PGBOUNCER_URL).port
    connection.ensure_connection()
    assert any(client["database"] == connection.settings_dict["NAME"] for client in _bouncer_clients())


@pytest.mark.django_db(transaction=True)
def test_logs_and_a_sync_batch_take_the_one_statement_function(village: Village) -> None:
    client = village.client()
    for number in range(3):
        assert client.post(LOGS, village.log_body(number), format="json").status_code == 201
    items = [village.sync_item(number) for number in range(3, 6)]
    response = client.post(SYNC, {"items": items}, format="json")
    assert response.status_code == 200, response.content
    assert fastlog.USE.written == 6 and fastlog.USE.by_orm == 0
    assert AssistanceLog.objects.count() == 6
    assert VillageCount.objects.filter(village=village.tree.village, numerator__gt=0).exists()


@pytest.mark.django_db(transaction=True)
def test_a_dashboard_through_pgbouncer(village: Village) -> None:
    officer = AreaRoleFactory(area=village.tree.commune).user
    browser = Client()
    browser.force_login(officer)
    response = browser.get(f"/dashboards/areas/{village.tree.commune.pk}/")
    assert response.status_code == 200


def _refused(province: int) -> bool:
    try:
        with recompute_guard(province, wait_seconds=0):
            return False
    except AlreadyRunning:
        return True


@pytest.mark.skipif("direct" not in django_settings.DATABASES, reason="needs DATABASE_DIRECT_URL")
@pytest.mark.django_db(transaction=True, databases=["default", "direct"])
def test_session_locks_hold_and_go_through_the_direct_connection(village: Village) -> None:
    province = village.province.pk
    with recompute_guard(province):
        # Another worker (a thread: connections of its own) is refused while it is held...
        assert _in_another_thread(lambda: _refused(province)) is True
    # ... and gets it once released, however pgbouncer hands out its server connections.
    with recompute_guard(province, wait_seconds=0):
        pass
    with job_guard("job-1"):
        assert _in_another_thread(lambda: job_held("job-1")) is True
    assert _in_another_thread(lambda: job_held("job-1")) is False


def _in_another_thread(check: Callable[[], bool]) -> bool:
    """``check()`` on connections of its own, as another worker would run it."""
    answer: list[bool] = []

    def run() -> None:
        try:
            answer.append(check())
        finally:
            for alias in connections:
                connections[alias].close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return answer[0]
