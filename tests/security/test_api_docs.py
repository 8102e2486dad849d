"""The API's schema and Swagger UI: public only where ``API_DOCS_PUBLIC`` says so (off in production)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from fieldteam.models import User
from tests.security.test_hardening import PRODUCTION_SECRETS, _manage

pytestmark = pytest.mark.django_db

DOCS = ["/api/v1/schema/", "/api/v1/schema/?format=json", "/api/v1/docs/"]


@pytest.mark.parametrize("url", DOCS)
def test_without_the_setting_the_docs_need_a_sign_in(settings, url: str, superuser: User) -> None:
    settings.API_DOCS_PUBLIC = False

    assert APIClient().get(url).status_code == 401
    assert Client().get(url).status_code == 401
    signed_in = Client()
    signed_in.force_login(superuser)
    assert signed_in.get(url).status_code == 200
    token = APIClient()
    token.force_authenticate(superuser)
    assert token.get(url).status_code == 200


@pytest.mark.parametrize("url", DOCS)
def test_with_the_setting_the_docs_are_public(settings, url: str) -> None:
    settings.API_DOCS_PUBLIC = True

    assert Client().get(url).status_code == 200


@pytest.mark.slow
def test_the_production_settings_keep_the_docs_private_and_trust_one_proxy() -> None:
    code = "from django.conf import settings as s; print(s.API_DOCS_PUBLIC, s.NUM_PROXIES, s.REST_FRAMEWORK['NUM_PROXIES'])"
    result = _manage("shell", "-v", "0", "-c", code, env=PRODUCTION_SECRETS)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "1", "1"]
    public = _manage(
        "shell", "-v", "0", "-c", code, env={**PRODUCTION_SECRETS, "API_DOCS_PUBLIC": "true", "NUM_PROXIES": "2"}
    )
    assert public.stdout.split() == ["True", "2", "2"]


def test_the_embedded_default_serves_the_docs_and_ignores_forwarded_addresses() -> None:
    from backend.settings import base

    assert base.API_DOCS_PUBLIC is True
    assert base.NUM_PROXIES == 0
    assert base.REST_FRAMEWORK["NUM_PROXIES"] == 0
