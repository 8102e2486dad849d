"""The replica router and its middleware without a replica (the real one: tests/reliability/test_replicas.py).

Which requests may read from a replica, who is pinned to the primary after a write, and that
nothing changes without replicas."""

from __future__ import annotations

from unittest import mock

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from backend import db_routing
from fieldteam.models import Area, AssistanceLog, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def with_replica(settings):
    settings.DATABASE_REPLICAS = ["replica1"]
    settings.READ_YOUR_WRITES_SECONDS = 30
    # The test's own transaction would keep every read on the primary (as a service's does).
    with (
        mock.patch.object(db_routing, "healthy_replica", return_value="replica1"),
        mock.patch.object(db_routing.connections["default"], "in_atomic_block", False),
    ):
        yield


def _through_middleware(request) -> tuple[HttpResponse, list[str]]:
    """Run the middleware; the view records where a read of a log would go."""
    seen: list[str] = []

    def view(_request) -> HttpResponse:
        seen.append(db_routing.ReplicaRouter().db_for_read(AssistanceLog))
        return HttpResponse("ok")

    return db_routing.ReplicaReadsMiddleware(view)(request), seen


def test_without_replicas_everything_reads_the_primary(settings) -> None:
    settings.DATABASE_REPLICAS = []
    response, seen = _through_middleware(RequestFactory().get("/dashboards/"))
    assert seen == ["default"]
    assert db_routing.PIN_COOKIE not in response.cookies
    response, _ = _through_middleware(RequestFactory().post("/api/v1/sync/"))
    assert db_routing.PIN_COOKIE not in response.cookies


@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("get", "/dashboards/areas/1/", "replica1"),
        ("get", "/api/v1/assistance-logs/", "replica1"),
        ("head", "/api/v1/areas/", "replica1"),
        ("get", "/admin/", "default"),  # the admin reads what it is about to change
        ("get", "/", "default"),  # the mobile pages: a member's own recent work
        ("post", "/api/v1/sync/", "default"),
    ],
)
def test_only_read_only_requests_of_read_paths_use_the_replica(with_replica, method, path, where) -> None:
    _, seen = _through_middleware(getattr(RequestFactory(), method)(path))
    assert seen == [where]


def test_a_write_pins_its_sender_to_the_primary(with_replica) -> None:
    token = "Token abc"
    response, seen = _through_middleware(RequestFactory().post("/api/v1/sync/", HTTP_AUTHORIZATION=token))
    assert seen == ["default"]
    cookie = response.cookies[db_routing.PIN_COOKIE]
    assert cookie["max-age"] == 30 and cookie["httponly"]

    # The same API client, without cookies: pinned by its credentials (cache key).
    _, seen = _through_middleware(RequestFactory().get("/api/v1/assistance-logs/", HTTP_AUTHORIZATION=token))
    assert seen == ["default"]
    # A browser keeping the signed cookie: pinned by it.
    browser = RequestFactory().get("/dashboards/")
    browser.COOKIES[db_routing.PIN_COOKIE] = cookie.value
    _, seen = _through_middleware(browser)
    assert seen == ["default"]
    # Someone else, or a forged cookie: the replica.
    _, seen = _through_middleware(RequestFactory().get("/api/v1/assistance-logs/", HTTP_AUTHORIZATION="Token other"))
    assert seen == ["replica1"]
    forged = RequestFactory().get("/dashboards/")
    forged.COOKIES[db_routing.PIN_COOKIE] = "1"
    _, seen = _through_middleware(forged)
    assert seen == ["replica1"]


def test_transactions_sign_in_and_writes_stay_on_the_primary(with_replica) -> None:
    router = db_routing.ReplicaRouter()
    with db_routing.replica_reads():
        assert router.db_for_read(Area) == "replica1"
        assert router.db_for_read(User) == "default"  # who is signed in: always the primary
        assert router.db_for_write(Area) == "default"
        with mock.patch.object(db_routing.connections["default"], "in_atomic_block", True):
            assert router.db_for_read(Area) == "default"  # a service's reads
    assert router.db_for_read(Area) == "default"  # outside a request: tasks, commands
    assert router.allow_migrate("replica1", "fieldteam") is False
    assert router.allow_migrate("default", "fieldteam") is True


def test_a_replica_too_far_behind_or_unreachable_is_skipped(settings) -> None:
    settings.DATABASE_REPLICAS = ["replica1", "replica2"]
    settings.REPLICA_MAX_LAG_SECONDS = 10
    settings.REPLICA_CHECK_SECONDS = 60
    db_routing.forget_replica_health()
    lags = {"replica1": 30.0, "replica2": 2.0}
    with mock.patch.object(db_routing, "measure_lag", side_effect=lags.get) as measure:
        assert db_routing.healthy_replica() == "replica2"
        assert db_routing.healthy_replica() == "replica2"
        assert measure.call_count == 2  # cached: measured once per replica
    db_routing.forget_replica_health()
    with mock.patch.object(db_routing, "measure_lag", return_value=None):
        assert db_routing.healthy_replica() is None
    db_routing.forget_replica_health()
