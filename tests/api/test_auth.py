"""Authentication (session with CSRF, token), sign-in lockout, throttling, the schema and its UI."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from fieldteam.models import Household
from tests.api.conftest import World
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db


def test_without_credentials_the_api_answers_401(world: World) -> None:
    response = APIClient().get("/api/v1/residents/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert list(response.json()["errors"]) == ["detail"]
    assert APIClient().post("/api/v1/sync/", {"items": []}, format="json").status_code == 401


def test_token_authentication_works_and_needs_no_csrf(world: World) -> None:
    token = Token.objects.create(user=world.member)
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/me/").json()["username"] == world.member.username
    created = client.post("/api/v1/households/", {"village": world.tree.village.pk}, format="json")
    assert created.status_code == 201
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/me/").status_code == 401


def test_a_session_post_needs_the_csrf_token(world: World) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(world.member)
    assert client.get("/api/v1/me/").status_code == 200
    body = {"village": world.tree.village.pk, "head_name": "Nay Y Moan"}
    refused = client.post("/api/v1/households/", body, format="json")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["errors"]["detail"][0]
    refused_sync = client.post("/api/v1/sync/", {"items": []}, format="json")
    assert refused_sync.status_code == 403
    assert not Household.objects.filter(head_name="Nay Y Moan").exists()
    # With the CSRF cookie and header, as the mobile web sends them, it goes through
    client.get("/admin/login/")  # any page that sets the CSRF cookie
    csrf = client.cookies["csrftoken"].value
    accepted = client.post("/api/v1/households/", body, format="json", HTTP_X_CSRFTOKEN=csrf)
    assert accepted.status_code == 201, accepted.json()


def test_a_token_is_obtained_with_the_password_and_revoked(world: World) -> None:
    client = APIClient()
    wrong = client.post("/api/v1/auth/token/", {"username": world.member.username, "password": "nope"}, format="json")
    assert wrong.status_code == 400
    assert list(wrong.json()["errors"]) == ["password"]
    response = client.post(
        "/api/v1/auth/token/", {"username": world.member.username, "password": TEST_PASSWORD}, format="json"
    )
    assert response.status_code == 200
    key = response.json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/me/").status_code == 200
    assert client.delete("/api/v1/auth/token/").status_code == 204
    assert client.get("/api/v1/me/").status_code == 401


def test_repeated_failures_lock_the_user_name_and_address_out(world: World, settings) -> None:
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    client = APIClient(REMOTE_ADDR="10.1.2.3")
    username = world.member.username
    for _attempt in range(2):
        response = client.post("/api/v1/auth/token/", {"username": username, "password": "wrong"}, format="json")
        assert response.status_code == 400
    locked = client.post("/api/v1/auth/token/", {"username": username, "password": "wrong"}, format="json")
    assert (
        locked.status_code == settings.AXES_HTTP_RESPONSE_CODE if hasattr(settings, "AXES_HTTP_RESPONSE_CODE") else 429
    )
    assert locked.status_code in (403, 429)
    # The right password does not help while locked
    again = client.post("/api/v1/auth/token/", {"username": username, "password": TEST_PASSWORD}, format="json")
    assert again.status_code == 429
    assert not Token.objects.filter(user=world.member).exists()
    # Another address (another phone on another carrier) may still sign in as the same user
    other = APIClient(REMOTE_ADDR="10.9.9.9")
    ok = other.post("/api/v1/auth/token/", {"username": username, "password": TEST_PASSWORD}, format="json")
    assert ok.status_code == 200


@pytest.fixture
def low_rates(monkeypatch):
    """Rates small enough to reach in a test (DRF reads them once, at import)."""
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "user": "5/min", "identifier_search": "2/min", "sync": "2/min"}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


def test_requests_are_throttled_per_user(world: World, client_for, low_rates) -> None:
    member = client_for(world.member)
    statuses = [member.get("/api/v1/me/").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    throttled = member.get("/api/v1/me/")
    assert throttled.json()["codes"] == {"detail": ["throttled"]}
    assert int(throttled["Retry-After"]) > 0
    # Another user is not slowed down by the first
    assert client_for(world.users["leader"]).get("/api/v1/me/").status_code == 200


def test_identifier_search_and_sync_have_tighter_rates(world: World, client_for, low_rates) -> None:
    client = client_for(world.member)
    searches = [
        client.post("/api/v1/residents/search/", {"phone": "0912345678"}, format="json").status_code for _ in range(3)
    ]
    assert searches == [200, 200, 429]
    syncs = [client.post("/api/v1/sync/", {"items": []}, format="json").status_code for _ in range(3)]
    assert syncs == [200, 200, 429]


def test_the_schema_and_its_ui_are_served_locally(world: World) -> None:
    client = APIClient()
    schema = client.get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/v1/sync/", "/api/v1/assistance-logs/", "/api/v1/residents/search/", "/api/v1/me/"):
        assert path in paths
    ui = client.get("/api/v1/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in ui
    # Every script and style it loads is this server's own (no CDN: the machines reach none). Read
    # from the attributes, not the whole text, which holds a random CSRF token.
    loaded = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", ui)
    assert loaded
    assert [url for url in loaded if not url.startswith("/") or url.startswith("//")] == []


def test_errors_and_times_use_the_requests_language_and_zone(world: World, client_for) -> None:
    client = client_for(world.member)
    when = (timezone.now() + dt.timedelta(days=1)).isoformat()
    body = {
        "team": world.places["V1"].team.pk,
        "resident": world.places["V1"].resident.pk,
        "occurred_at": when,
        "channel": "home_visit",
        "items": [{"capability": "smartphone", "outcome": "done"}],
    }
    english = client.post("/api/v1/assistance-logs/", body, format="json", HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["errors"] == {"occurred_at": ["The time is in the future."]}
    assert english["codes"] == {"occurred_at": ["future"]}
