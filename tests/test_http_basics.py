"""What every visitor and operator meets first: compressed pages, a favicon, HEAD, quiet logs."""

from __future__ import annotations

import gzip
import io
import logging
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from fieldteam.models import User
from tests.conftest import AreaTree

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def test_the_dashboard_is_sent_compressed_to_a_browser_that_accepts_gzip(
    client: Client, area_tree: AreaTree, commune_officer: User
) -> None:
    client.force_login(commune_officer)
    url = reverse("dashboards:area", kwargs={"area_id": area_tree.commune.pk})

    plain = client.get(url)
    compressed = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate, br")

    assert plain.status_code == compressed.status_code == 200
    assert "Content-Encoding" not in plain.headers
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in compressed.headers["Vary"]
    html = gzip.decompress(compressed.content).decode()
    assert area_tree.commune.name in html
    assert len(compressed.content) < len(plain.content) / 2


def test_the_mobile_home_page_is_sent_compressed(client: Client, member: User) -> None:
    client.force_login(member)

    response = client.get(reverse("web:home"), HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "gzip"
    assert "<main>" in gzip.decompress(response.content).decode()


@pytest.mark.parametrize("method", ["get", "head"])
def test_favicon_is_the_apps_icon(client: Client, method: str) -> None:
    response = getattr(client, method)("/favicon.ico")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/x-icon"
    assert "max-age" in response.headers["Cache-Control"]
    if method == "get":
        body = response.content
        assert body[:4] == b"\x00\x00\x01\x00"  # an icon resource
        first = struct.unpack_from("<I", body, 18)[0]  # the first entry's offset
        assert body[first : first + 4] == b"\x89PNG"  # its first image, a PNG


def test_head_answers_as_get_does_signed_out_and_in(client: Client, member: User, area_tree: AreaTree) -> None:
    assert client.head("/").status_code == client.get("/").status_code == 302  # to the sign-in page
    assert client.head(reverse("dashboards:login")).status_code == 200
    client.force_login(member)
    for url in (
        reverse("web:home"),
        reverse("web:search"),
        reverse("web:history"),
        reverse("web:manifest"),
        reverse("dashboards:area", kwargs={"area_id": area_tree.village.pk}),
    ):
        head = client.head(url)
        assert head.status_code == 200, url
        assert head.headers["Content-Type"] == client.get(url).headers["Content-Type"], url
    assert client.head("/health/").status_code != 405


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """What the configured console handler (LOGGING in backend/settings/base.py) writes."""
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "name", "") == "console")
    assert isinstance(handler, logging.StreamHandler)
    out = io.StringIO()
    previous = handler.setStream(out)
    try:
        yield out
    finally:
        handler.setStream(previous)


def test_a_403_is_one_log_line_without_a_traceback(client: Client, commune_officer: User, console) -> None:
    client.force_login(commune_officer)

    response = client.get(reverse("admin:fieldteam_syncreceipt_changelist"))

    assert response.status_code == 403
    written = console.getvalue()
    assert "Forbidden (Permission denied): /admin/fieldteam/syncreceipt/" in written
    assert "Traceback" not in written


def test_a_500_keeps_its_traceback(console) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("django.request").exception("Internal Server Error: /x/", extra={"status_code": 500})

    assert "Traceback" in console.getvalue()
    assert "ValueError: boom" in console.getvalue()


@pytest.mark.slow
def test_a_management_command_prints_no_axes_banner() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "backend.settings.local"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "AXES" not in result.stdout + result.stderr
    assert result.stderr == ""
