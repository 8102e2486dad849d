"""The installable web app: manifest, service worker (served at the site root) and the offline roster."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified, JsonResponse
from django.template.loader import render_to_string
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from fieldteam.http import SignedInRequest
from fieldteam.selectors import web as selectors
from fieldteam.web.common import STATIC_ASSETS, asset_url, asset_version, vietnamese_by_default, web_page

THEME_COLOR = "#0b6e4f"
BACKGROUND_COLOR = "#f4f6f5"
# Pages cached at install, so that they open without a connection even if never visited.
PRECACHED_PAGES = (
    "web:home",
    "web:search",
    "web:register",
    "web:training",
    "web:history",
    "web:outbox",
    "web:resident_shell",
    "web:household_shell",
    "web:offline",
)
# Pages that are never cached: they are about the session itself.
UNCACHED_PREFIXES = ("/admin/", "/api/", "/dashboards/", "/login/", "/logout/", "/i18n/")


@require_safe
@vietnamese_by_default
def manifest(request: HttpRequest) -> HttpResponse:
    data = {
        "name": _("Community digital-technology team"),
        "short_name": _("Digital team"),
        "description": _("Log the help you give residents, online or offline."),
        "lang": request.LANGUAGE_CODE,
        "start_url": reverse("web:home"),
        "scope": "/",
        "display": "standalone",
        "orientation": "portrait",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": [
            {"src": static("web/icons/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("web/icons/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": static("web/icons/maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": static("web/icons/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    response = HttpResponse(json.dumps(data, ensure_ascii=False), content_type="application/manifest+json")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


# The app's icon (16, 32 and 48 px; ``tools/make_icons.py``), for browsers that ask the site root.
FAVICON = (Path(__file__).resolve().parent.parent / "static" / "web" / "icons" / "favicon.ico").read_bytes()


@require_safe
def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``: the app's icon, answered here so that it is never a 404 in the logs."""
    response = HttpResponse(FAVICON, content_type="image/x-icon")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


@require_safe
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, from the site root so that its scope is the whole app.

    Its text carries the app shell's version: when a static file changes, the browser sees a new
    worker, which caches the new shell and drops the old one.
    """
    context = {
        "version": asset_version(),
        "static_assets": json.dumps([asset_url(name) for name in STATIC_ASSETS]),
        "pages": json.dumps([reverse(name) for name in PRECACHED_PAGES]),
        "roster_url": json.dumps(reverse("web:roster")),
        "offline_url": json.dumps(reverse("web:offline")),
        "resident_shell": json.dumps(reverse("web:resident_shell")),
        "household_shell": json.dumps(reverse("web:household_shell")),
        "uncached": json.dumps(UNCACHED_PREFIXES),
        "static_prefix": json.dumps(static("")),
    }
    response = HttpResponse(render_to_string("web/sw.js", context), content_type="text/javascript; charset=utf-8")
    # Always asked again (browsers cap a worker's HTTP caching at 24 h anyway).
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@require_safe
@web_page
def roster(request: SignedInRequest) -> HttpResponse:
    """The member's villages' people (masked identifiers only), cached by the service worker.

    Answered with an ETag of its content, so a phone that already holds the same list gets a
    304 and transfers nothing.
    """
    data = selectors.roster(user=request.user)
    stable = {key: value for key, value in data.items() if key != "generated_at"}
    etag = '"' + hashlib.sha256(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:32] + '"'
    if etag in request.headers.get("If-None-Match", ""):
        response: HttpResponse = HttpResponseNotModified()
    else:
        response = JsonResponse(data, json_dumps_params={"ensure_ascii": False, "separators": (",", ":")})
    response.headers["ETag"] = etag
    return response
