"""Hardening: deploy checks, the Content-Security-Policy header, rate limits, exact-only identifier search.

- ``manage.py check --deploy`` under the production settings reports nothing (and those settings
  refuse to start without their secrets);
- every page answers with a strict Content-Security-Policy, and the templates hold no inline
  script, style or event handler for it to refuse;
- sign-in forms and searches are refused with 429 past their rate (rates set low here), and a
  locked-out sign-in gets a translated answer;
- a prefix or part of a CCCD or phone number finds no one, in the API, the mobile web and the admin.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from fieldteam.models import User
from tests.factories import TEST_PASSWORD
from tests.web.conftest import WebWorld, web_world  # noqa: F401 (fixture)

ROOT = Path(django_settings.BASE_DIR)

# --- deploy checks ---------------------------------------------------------------------------------

PRODUCTION_SECRETS = {
    "SECRET_KEY": "x" * 20 + "-production-like-secret-key-of-enough-length-and-variety-0123456789",
    "IDENTIFIER_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "IDENTIFIER_HASH_KEY": "a-hash-key-of-its-own",
    "ALLOWED_HOSTS": "fieldteam.example.vn",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION_SECRETS and not k.startswith("DJANGO_")}
    return subprocess.run(  # noqa: S603 (our own manage.py, fixed arguments)
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "backend.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_under_the_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_SECRETS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["SECRET_KEY", "IDENTIFIER_ENCRYPTION_KEYS", "IDENTIFIER_HASH_KEY"])
def test_the_production_settings_refuse_to_start_without_a_secret(missing: str) -> None:
    env = {k: v for k, v in PRODUCTION_SECRETS.items() if k != missing}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert f"Set the {missing} environment variable" in result.stderr


# --- the Content-Security-Policy header -----------------------------------------------------------


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_pages_answer_with_a_strict_content_security_policy(web_world: WebWorld, superuser: User) -> None:  # noqa: F811
    member = Client()
    member.force_login(web_world.member)
    admin = Client()
    admin.force_login(superuser)
    responses = [
        Client().get(reverse("web:login")),
        member.get(reverse("web:home")),
        member.get(reverse("web:resident", args=[web_world.residents[0].pk])),
        admin.get(reverse("dashboards:area", args=[web_world.village.pk])),
        admin.get(reverse("admin:index")),
        Client().get(reverse("admin:login")),
    ]
    for response in responses:
        assert response.status_code == 200
        policy = _policy(response)
        assert policy["default-src"] == ["'self'"]
        assert policy["object-src"] == ["'none'"]
        assert policy["frame-ancestors"] == ["'none'"]
        for directive in ("script-src", "style-src"):
            # Only this server, plus a per-response nonce when a template asks for one.
            assert all(v == "'self'" or v.startswith("'nonce-") for v in policy.get(directive, ["'self'"]))
        assert not [v for values in policy.values() for v in values if "unsafe" in v or v.startswith("http")]


TEMPLATE_DIR = ROOT / "fieldteam" / "templates"
INLINE = {
    "inline style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "inline event handler": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "style element": re.compile(r"<style[\s>]", re.IGNORECASE),
    # A <script> is fine with a src, as a JSON data block, or with the nonce.
    "inline script": re.compile(r"<script(?![^>]*\b(src|nonce)=)(?![^>]*application/(ld\+)?json)[^>]*>", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_the_page_templates_hold_nothing_inline_the_policy_would_refuse() -> None:
    found = []
    for path in sorted(TEMPLATE_DIR.rglob("*.html")):
        text = path.read_text()
        found += [f"{path.relative_to(ROOT)}: {what}" for what, pattern in INLINE.items() if pattern.search(text)]
    assert found == []


# --- rate limits ---------------------------------------------------------------------------------


@pytest.fixture
def low_rates(settings, monkeypatch):
    """Two requests a minute for sign-in and each search. DRF copies its rates at import, so the
    copy every throttle reads is replaced too."""
    rates = {**api_settings.DEFAULT_THROTTLE_RATES, "login": "2/min", "search": "2/min", "identifier_search": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
    return rates


@pytest.mark.django_db
@pytest.mark.parametrize("login_url", ["web:login", "dashboards:login", "admin:login"])
def test_a_sign_in_form_refuses_the_third_attempt_a_minute_from_one_address(
    web_world: WebWorld,  # noqa: F811
    low_rates,
    login_url: str,
) -> None:
    client = Client(REMOTE_ADDR="10.20.30.40")
    url = reverse(login_url)
    # Different user names: the address is what is counted (axes counts failures per user name).
    statuses = [client.post(url, {"username": f"guess{n}", "password": "wrong"}).status_code for n in range(3)]
    assert statuses[:2] == [200, 200]
    assert statuses[2] == 429
    refused = client.post(url, {"username": web_world.member.username, "password": TEST_PASSWORD})
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    # Another address is not slowed down (the admin answers a member's sign-in with the form again).
    other = Client(REMOTE_ADDR="10.99.99.99")
    assert other.post(url, {"username": web_world.member.username, "password": TEST_PASSWORD}).status_code in (200, 302)


@pytest.mark.django_db
def test_the_mobile_web_search_is_rate_limited_per_user(web_world: WebWorld, low_rates) -> None:  # noqa: F811
    member = Client()
    member.force_login(web_world.member)
    search = reverse("web:search")
    assert [member.post(search, {"q": "Hoa"}).status_code for _ in range(3)] == [200, 200, 429]
    # Identifier searches have a budget of their own ...
    assert member.post(search, {"q": "0912345678"}).status_code == 200
    # ... which the API's exact search shares: no second allowance through another door.
    api = APIClient()
    api.force_authenticate(web_world.member)
    assert api.post("/api/v1/residents/search/", {"phone": "0912345678"}, format="json").status_code == 200
    assert member.post(search, {"q": "0912 345 678"}).status_code == 429
    refused = api.post("/api/v1/residents/search/", {"phone": "0912345678"}, format="json")
    assert refused.status_code == 429
    assert refused.json()["codes"] == {"detail": ["throttled"]}
    # Browsing is not a search: the pages still open.
    assert member.get(reverse("web:home")).status_code == 200


@pytest.mark.django_db
def test_the_api_name_search_is_rate_limited_per_user(web_world: WebWorld, low_rates) -> None:  # noqa: F811
    api = APIClient()
    api.force_authenticate(web_world.member)
    statuses = [api.get("/api/v1/residents/", {"q": "Hoa"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert api.get("/api/v1/residents/", {"q": "Hoa"}).json()["codes"] == {"detail": ["throttled"]}
    assert api.get("/api/v1/residents/").status_code == 200  # a list without a search is not counted


@pytest.mark.django_db
def test_the_admin_search_is_rate_limited_per_user(web_world: WebWorld, superuser: User, low_rates) -> None:  # noqa: F811
    admin = Client()
    admin.force_login(superuser)
    changelist = reverse("admin:fieldteam_resident_changelist")
    assert [admin.get(changelist, {"q": "Hoa"}).status_code for _ in range(3)] == [200, 200, 429]
    assert admin.get(changelist).status_code == 200
    # A number typed in the search box counts against the identifier budget.
    first = admin.get(changelist, {"q": "0912345678"})
    assert first.status_code in (200, 302)
    admin.get(changelist, {"q": "091234"})
    assert admin.get(changelist, {"q": "0912 345 678"}).status_code == 429


def _vi(message: str) -> str:
    with translation.override("vi"):
        return translation.gettext(message)


@pytest.mark.django_db
def test_a_locked_out_sign_in_gets_a_translated_429_page(web_world: WebWorld, settings) -> None:  # noqa: F811
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 2
    client = Client(REMOTE_ADDR="10.5.5.5")
    username = web_world.member.username
    for _attempt in range(2):
        client.post(reverse("web:login"), {"username": username, "password": "wrong"})
    locked = client.post(reverse("web:login"), {"username": username, "password": TEST_PASSWORD})
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    body = locked.content.decode()
    assert "Account locked" not in body  # not django-axes' English sentence
    assert _vi("Too many attempts") in body
    assert int(locked["Retry-After"]) == 15 * 60  # AXES_COOLOFF_HOURS 0.25
    # The API's token sign-in answers in the API's error shape.
    api = APIClient(REMOTE_ADDR="10.5.5.5")
    refused = api.post("/api/v1/auth/token/", {"username": username, "password": TEST_PASSWORD}, format="json")
    assert refused.status_code == 429
    assert refused.json()["codes"] == {"detail": ["locked_out"]}


# --- identifiers are found whole or not at all ------------------------------------------------------

CCCD_PARTS = ("001090", "424242", "0010904242", "00109042424")  # prefixes, a suffix, one digit short
PHONE_PARTS = ("0912", "091234567", "345678", "678", "912345678x")


@pytest.fixture
def binh(web_world: WebWorld):  # type: ignore[no-untyped-def]  # noqa: F811
    resident = web_world.residents[2]  # CCCD 001090424242, phone 0912345678
    return resident


@pytest.mark.django_db
def test_the_api_finds_an_identifier_only_whole(web_world: WebWorld, binh) -> None:  # noqa: F811
    api = APIClient()
    api.force_authenticate(web_world.member)
    search = "/api/v1/residents/search/"
    assert [r["id"] for r in api.post(search, {"citizen_id": "001090424242"}, format="json").json()] == [binh.pk]
    assert [r["id"] for r in api.post(search, {"phone": "0912345678"}, format="json").json()] == [binh.pk]
    for part in CCCD_PARTS:
        response = api.post(search, {"citizen_id": part}, format="json")
        assert response.status_code == 400, part
        assert list(response.json()["errors"]) == ["citizen_id"]
    for part in PHONE_PARTS:
        response = api.post(search, {"phone": part}, format="json")
        assert response.status_code == 400, part
        assert list(response.json()["errors"]) == ["phone"]
    # Nor does the name search look at identifiers.
    for part in (*CCCD_PARTS, *PHONE_PARTS, "001090424242", "0912345678"):
        assert api.get("/api/v1/residents/", {"q": part}).json()["results"] == [], part


@pytest.mark.django_db
def test_the_mobile_web_finds_an_identifier_only_whole(web_world: WebWorld, binh) -> None:  # noqa: F811
    member = Client()
    member.force_login(web_world.member)
    search = reverse("web:search")
    assert binh.full_name in member.post(search, {"q": "001090424242"}).content.decode()
    assert binh.full_name in member.post(search, {"q": "0912345678"}).content.decode()
    for part in (*CCCD_PARTS, *PHONE_PARTS):
        page = member.post(search, {"q": part}).content.decode()
        assert binh.full_name not in page, part


@pytest.mark.django_db
def test_the_admin_finds_an_identifier_only_whole(web_world: WebWorld, binh, superuser: User) -> None:  # noqa: F811
    admin = Client()
    admin.force_login(superuser)
    changelist = reverse("admin:fieldteam_resident_changelist")
    assert binh.full_name in admin.get(changelist, {"q": "001090424242"}, follow=True).content.decode()
    assert binh.full_name in admin.get(changelist, {"q": "0912345678"}, follow=True).content.decode()
    for part in (*CCCD_PARTS, *PHONE_PARTS):
        page = admin.get(changelist, {"q": part}, follow=True).content.decode()
        assert binh.full_name not in page, part
