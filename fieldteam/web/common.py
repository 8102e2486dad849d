"""What every mobile page shares: Vietnamese by default, login, gzip, asset versions, the JS texts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.template.loader import get_template
from django.templatetags.static import static
from django.utils import translation
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.gzip import gzip_page

from fieldteam.web.strings import js_strings

LOGIN_URL = "web:login"
SYNC_URL = "/api/v1/sync/"  # issue 3's offline batch sync endpoint; the one write path of these pages
# The files the service worker caches up front; their content makes the version of the app shell.
STATIC_ASSETS = ("web/app.css", "web/app.js", "web/icons/icon.svg", "web/icons/icon-192.png")
VERSIONED_TEMPLATES = ("web/sw.js",)


def page_language(request: HttpRequest) -> str:
    """Vietnamese unless the user chose another language (the language cookie).

    A phone set to English still gets Vietnamese: the working language of the teams is
    Vietnamese, and the browser's Accept-Language says little about the person holding it.
    """
    chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
    available = {code for code, _name in settings.LANGUAGES}
    return chosen if chosen in available else settings.LANGUAGE_CODE


_Response = TypeVar("_Response", bound=HttpResponseBase)


def vietnamese_by_default(view: Callable[..., _Response]) -> Callable[..., _Response]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> _Response:
        language = page_language(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = view(request, *args, **kwargs)
        response.headers.setdefault("Content-Language", language)
        return response

    return wrapper


def web_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A signed-in page of the mobile web: language, login, gzip (3G), never cached by proxies."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        # Pages hold personal data: only the service worker (same user, same phone) keeps copies.
        response.headers.setdefault("Cache-Control", "private, no-cache")
        return response

    # The CSRF cookie is what the JavaScript sends to the sync endpoint: every page makes sure of it.
    return vietnamese_by_default(gzip_page(login_required(login_url=LOGIN_URL)(ensure_csrf_cookie(wrapper))))


def _asset_digest() -> str:
    digest = hashlib.sha256()
    for name in STATIC_ASSETS:
        path = finders.find(name)
        if path:
            with open(path, "rb") as handle:
                digest.update(handle.read())
    for name in VERSIONED_TEMPLATES:
        template = get_template(name)
        digest.update(template.template.source.encode())  # type: ignore[attr-defined]  # Django's backend template wraps the engine's, which has source
    return digest.hexdigest()[:12]


@lru_cache(maxsize=1)
def _cached_digest() -> str:
    return _asset_digest()


def asset_version() -> str:
    """A short hash of the app shell's files: a new one makes phones fetch the new shell."""
    return _asset_digest() if settings.DEBUG else _cached_digest()


def asset_url(name: str) -> str:
    return f"{static(name)}?v={asset_version()}"


def render_page(
    request: HttpRequest, template: str, context: dict[str, Any] | None = None, **kwargs: Any
) -> HttpResponse:
    """Render a mobile page with the shared context: asset URLs and the JavaScript's texts."""
    shared = {
        "web": {
            "css": asset_url("web/app.css"),
            "js": asset_url("web/app.js"),
            "strings": js_strings(),
            "sync_url": SYNC_URL,
        }
    }
    return render(request, template, {**shared, **(context or {})}, **kwargs)
