"""The client's address: the trusted proxy count everywhere, and a malformed header never breaks a write.

``X-Forwarded-For`` is written by the client unless a proxy replaces it; only the ``NUM_PROXIES``
rightmost entries are ours. Every reader of the address — the audit trail (django-auditlog's
middleware and fieldteam's own entries, the one-statement log on PostgreSQL), DRF's throttles, the
rate-limit middleware, django-axes — must get the same trusted, valid address, whatever the client
sends. A non-address value used to reach the trail's ``inet`` column and make PostgreSQL refuse the
whole log.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from axes.helpers import get_client_ip_address
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle

from fieldteam.audit import AuditMiddleware, entry_context
from fieldteam.client_address import ClientAddressMiddleware, client_address, client_port
from fieldteam.models import AssistanceLog, AuditEntry
from fieldteam.ratelimit import PageThrottle
from fieldteam.rollup import fastlog
from tests.api.conftest import World
from tests.factories import TEST_PASSWORD

REMOTE = "10.0.0.2"  # the proxy (or, with no proxy, the client itself)
CLIENT = "203.0.113.7"  # the client, as our one proxy saw it

# (NUM_PROXIES, X-Forwarded-For as received) -> the address every reader must see.
CASES = [
    (0, f"198.51.100.1, {CLIENT}", REMOTE),  # no proxy: the header is the client's own words
    (0, "not-an-ip", REMOTE),
    (1, CLIENT, CLIENT),  # nginx replaced the header
    (1, f"198.51.100.1, {CLIENT}", CLIENT),  # a proxy that appends: the forged left part is ignored
    (1, f"{CLIENT}, 198.51.100.1, 2001:db8::1", "2001:db8::1"),
    (2, f"198.51.100.1, {CLIENT}, 10.0.0.9", CLIENT),
    (2, CLIENT, CLIENT),  # fewer entries than proxies: the leftmost
    (1, "not-an-ip", REMOTE),  # malformed: REMOTE_ADDR, never an exception
    (1, "203.0.113.7:443", REMOTE),
    (1, "[2001:db8::1]:443", REMOTE),
    (1, "fe80::1%eth0", REMOTE),  # a zone: PostgreSQL's inet refuses it
    (1, "999.1.1.1", REMOTE),
    (1, "1.2.3.4, <script>", REMOTE),
    (1, "", REMOTE),
    (1, ",,,", REMOTE),
    (1, "1.2.3.4 " + "x" * 5000, REMOTE),
    (1, "\u00e9\u0000", REMOTE),
]
CASE_IDS = [f"{n} proxies, {header[:30]!r}" for n, header, _ in CASES]
BAD_PORTS = ["99999999999", "-1", "65536", "abc", "٣", "1e3", ""]


@pytest.mark.parametrize(("proxies", "header", "expected"), CASES, ids=CASE_IDS)
def test_the_helper_trusts_exactly_the_proxies_and_falls_back_on_a_malformed_value(
    settings, proxies: int, header: str, expected: str
) -> None:
    settings.NUM_PROXIES = proxies
    request = RequestFactory().get("/", REMOTE_ADDR=REMOTE, HTTP_X_FORWARDED_FOR=header)

    assert client_address(request) == expected


@pytest.mark.parametrize("port", BAD_PORTS)
def test_a_malformed_forwarded_port_is_no_port(settings, port: str) -> None:
    settings.NUM_PROXIES = 1
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PORT=port)
    assert client_port(request) is None
    request = RequestFactory().get("/", HTTP_X_FORWARDED_PORT="51234")
    assert client_port(request) == 51234


def _readers(request) -> dict[str, object]:
    """The address as each reader of the code base reads it, inside the request."""
    throttle = AnonRateThrottle()
    return {
        "audit trail (middleware context)": entry_context()[1],
        "DRF throttles": throttle.get_ident(Request(request)),
        "rate-limit middleware": PageThrottle("login", by_user=False).get_ident(request),
        "django-axes": get_client_ip_address(request),
        "REMOTE_ADDR": request.META["REMOTE_ADDR"],
        "X-Forwarded-For left": request.META.get("HTTP_X_FORWARDED_FOR"),
    }


@pytest.mark.parametrize(("proxies", "header", "expected"), CASES, ids=CASE_IDS)
def test_every_reader_sees_the_trusted_address(settings, proxies: int, header: str, expected: str) -> None:
    settings.NUM_PROXIES = proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}
    seen: dict[str, object] = {}

    def view(request):
        seen.update(_readers(request))
        return HttpResponse()

    request = RequestFactory().get(
        "/", REMOTE_ADDR=REMOTE, HTTP_X_FORWARDED_FOR=header, HTTP_X_FORWARDED_PORT="99999999999"
    )
    ClientAddressMiddleware(AuditMiddleware(view))(request)

    assert seen == {
        "audit trail (middleware context)": expected,
        "DRF throttles": expected,
        "rate-limit middleware": expected,
        "django-axes": expected,
        "REMOTE_ADDR": expected,
        "X-Forwarded-For left": None,
    }


def _log_item(world: World) -> dict[str, object]:
    return {
        "kind": "assistance_log",
        "client_id": str(uuid.uuid4()),
        "data": {
            "team": world.places["V1"].team.pk,
            "resident": world.places["V1"].resident.pk,
            "occurred_at": (timezone.now() - dt.timedelta(hours=1)).isoformat(),
            "channel": "home_visit",
            "items": [{"capability": "basic_digital_skills", "outcome": "done"}],
        },
    }


# A transaction of its own, as a request runs it: on PostgreSQL the trail's entries of a synced log
# are written by the one statement (``log_statement``), casting the address to ``inet``.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("proxies", "header", "expected"), CASES, ids=CASE_IDS)
def test_a_log_written_with_a_forged_or_malformed_header_is_saved_with_the_trusted_address(
    world: World, client_for, settings, proxies: int, header: str, expected: str
) -> None:
    settings.NUM_PROXIES = proxies
    client = client_for(world.member)
    client.raise_request_exception = False
    item = _log_item(world)
    fastlog.USE.reset()

    response = client.post(
        "/api/v1/sync/",
        {"items": [item]},
        format="json",
        REMOTE_ADDR=REMOTE,
        HTTP_X_FORWARDED_FOR=header,
        HTTP_X_FORWARDED_PORT="99999999999",
    )

    assert response.status_code == 200, response.content
    assert response.json()["results"][0]["status"] == "created", response.json()
    if fastlog.enabled():
        assert fastlog.USE.written == 1, fastlog.USE
    log = AssistanceLog.objects.get(pk=item["client_id"])
    entries = AuditEntry.objects.filter(
        content_type__model__in=["assistancelog", "assistanceitem"],
        object_pk__in=[str(log.pk), *(str(i.pk) for i in log.items.all())],
    )
    assert entries.exists()
    assert set(entries.values_list("remote_addr", "remote_port")) == {(expected, None)}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("header", ["not-an-ip", "fe80::1%eth0", f"{CLIENT}, x"])
def test_a_single_save_with_a_malformed_header_is_saved(world: World, client_for, settings, header: str) -> None:
    """The signal path of django-auditlog (a resident's change), not only the bulk and statement ones."""
    settings.NUM_PROXIES = 1
    client = client_for(world.member)
    resident = world.places["V1"].resident

    response = client.patch(
        f"/api/v1/residents/{resident.pk}/",
        {"full_name": "Siu H'Ben"},
        format="json",
        REMOTE_ADDR=REMOTE,
        HTTP_X_FORWARDED_FOR=header,
    )

    assert response.status_code == 200, response.content
    entry = AuditEntry.objects.filter(content_type__model="resident", object_pk=str(resident.pk)).latest("pk")
    assert entry.remote_addr == REMOTE


@pytest.fixture
def low_login_rate(settings, monkeypatch):
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "login": "2/min", "anon": "1000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)


@pytest.mark.django_db
@pytest.mark.parametrize("proxies", [0, 1])
def test_a_new_forged_address_per_request_does_not_escape_the_sign_in_limits(
    world: World, settings, low_login_rate, proxies: int
) -> None:
    settings.NUM_PROXIES = proxies
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": proxies}

    def forged(n: int, client: str) -> dict[str, str]:
        # The proxy's address (or, without one, the client's) is REMOTE_ADDR; the left part is forged.
        chain = f"198.51.100.{n}, {client}" if proxies else f"198.51.100.{n}"
        return {"REMOTE_ADDR": "10.0.0.3" if proxies else client, "HTTP_X_FORWARDED_FOR": chain}

    api = APIClient()
    token = [
        api.post("/api/v1/auth/token/", {"username": f"guess{n}", "password": "x"}, format="json", **forged(n, CLIENT))
        for n in range(3)
    ]
    assert [r.status_code for r in token] == [400, 400, 429]
    # The pages' sign-in forms (the same counter per address: another client here).
    page = Client()
    other = "203.0.113.8"
    form = [
        page.post(reverse("web:login"), {"username": f"g{n}", "password": "x"}, **forged(n, other)) for n in range(3)
    ]
    assert [r.status_code for r in form] == [200, 200, 429]


@pytest.mark.django_db
def test_a_new_forged_address_per_attempt_does_not_escape_the_lockout(world: World, settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2
    settings.NUM_PROXIES = 1
    username = world.member.username
    client = Client()
    for n in range(2):
        client.post(
            reverse("web:login"),
            {"username": username, "password": "wrong"},
            REMOTE_ADDR=REMOTE,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, {CLIENT}",
        )
    locked = client.post(
        reverse("web:login"),
        {"username": username, "password": TEST_PASSWORD},
        REMOTE_ADDR=REMOTE,
        HTTP_X_FORWARDED_FOR=f"198.51.100.99, {CLIENT}",
    )
    assert locked.status_code == 429
