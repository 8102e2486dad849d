"""Rate limits of sign-in and search outside the API's own views, and the translated lockout answer.

The API already throttles per view (``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``: ``login`` for
token sign-in, ``identifier_search`` for the exact search, ``sync``). This module adds, with the
same rates, counters and cache:

- ``SearchRateThrottle``: a name search in the API (``?q=`` on a list) counts against ``search``;
- ``RateLimitMiddleware``: the sign-in forms of the mobile web, the dashboards and the admin count
  against ``login`` per address (django-axes locks a user name out after repeated failures; this
  stops one address trying many names), and the searches of the mobile web and the admin count
  against ``search``, or ``identifier_search`` when a phone number or CCCD is searched — the same
  counter as the API's exact search, so no channel gives a second allowance for enumerating numbers;
- ``take_identifier_check``: each citizen ID a registration or correction checks against the
  register counts against ``identifier_check``, per user, on every route (the people services call
  it, so the API, each item of a sync batch and the admin all count);
- ``lockout_response``: django-axes' answer to a locked-out sign-in, translated (axes' own is an
  English sentence).

Rates are read once, as DRF reads them (``SimpleRateThrottle.THROTTLE_RATES``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from axes.helpers import get_cool_off
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import exceptions
from rest_framework.throttling import SimpleRateThrottle

API_PREFIX = "/api/"
LOGIN_SCOPE = "login"
SEARCH_SCOPE = "search"
IDENTIFIER_SEARCH_SCOPE = "identifier_search"
IDENTIFIER_CHECK_SCOPE = "identifier_check"
IDENTIFIER_THROTTLED_CODE = "throttled"
LOGIN_URL_NAMES = ("web:login", "dashboards:login", "admin:login")


def _looks_like_identifier(text: str) -> bool:
    """Digits only (with the separators and ``+`` people type): counted as an identifier search.

    Wider than the pages' own rule on purpose: a short run of digits finds no one (identifiers
    match only whole), but trying them is what enumerating numbers looks like.
    """
    compact = re.sub(r"[\s.\-()+]", "", text)
    return compact.isascii() and compact.isdigit()


class PageThrottle(SimpleRateThrottle):
    """A DRF throttle for a plain Django request: a scope and who is counted (user or address)."""

    def __init__(self, scope: str, *, by_user: bool) -> None:
        self.scope = scope
        self.by_user = by_user
        super().__init__()

    def allow_request(self, request: Any, view: Any) -> bool:
        # Typed for what it is given: a plain Django request and no view (the middleware).
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user = getattr(request, "user", None)
        ident = user.pk if self.by_user and user is not None and user.is_authenticated else self.get_ident(request)
        # DRF's key format: the mobile web and the API share one counter per scope and user.
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SearchRateThrottle(SimpleRateThrottle):
    """A name search in the API (a list with ``?q=``) counts against the ``search`` rate, per user."""

    scope = SEARCH_SCOPE

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        if request.method != "GET" or not request.query_params.get("q", "").strip():
            return None
        user = request.user
        ident = user.pk if user is not None and user.is_authenticated else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class IdentifierCheckThrottle(SimpleRateThrottle):
    """Citizen IDs checked against the register by one user (``identifier_check``): each number a
    registration or correction would store counts once, whatever the route (API, each item of a
    sync batch, admin). Called by ``fieldteam.services.people``, not by a view, so no route is missed.
    """

    scope = IDENTIFIER_CHECK_SCOPE

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        super().__init__()

    def allow_request(self, request: Any, view: Any) -> bool:
        # Typed for what it is given: no request and no view (a service counts, not a view).
        return super().allow_request(request, view)

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.user_id}


def take_identifier_check(user: Any) -> None:
    """Count one identifier check for ``user``; over the rate, a ``ValidationError`` on ``citizen_id``.

    Code ``throttled``: the API answers it with 429, a sync batch rejects just that item. The
    system itself (``user`` None) is not limited.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return
    throttle = IdentifierCheckThrottle(user.pk)
    if throttle.allow_request(None, None):
        return
    wait = throttle.wait()
    minutes = max(1, math.ceil((wait or 60) / 60))
    raise ValidationError(
        {
            "citizen_id": [
                ValidationError(
                    _("Too many citizen IDs checked in a short time. Try again in %(minutes)s minutes."),
                    code=IDENTIFIER_THROTTLED_CODE,
                    params={"minutes": minutes},
                )
            ]
        }
    )


def _page_scope(request: HttpRequest) -> tuple[str, bool] | None:
    """The scope a page request counts against (and whether per user), or None if it is not limited."""
    path = request.path_info
    if path.startswith(API_PREFIX):
        return None  # the API's views throttle themselves
    if request.method == "POST" and path in {reverse(name) for name in LOGIN_URL_NAMES}:
        return LOGIN_SCOPE, False
    if request.method == "POST" and path == reverse("web:search"):
        query = request.POST.get("q", "").strip()
    elif request.method == "GET" and path.startswith(reverse("admin:index")):
        query = request.GET.get("q", "").strip()  # an admin list's search box
    else:
        return None
    if not query:
        return None
    return (IDENTIFIER_SEARCH_SCOPE if _looks_like_identifier(query) else SEARCH_SCOPE), True


def too_many_requests(request: HttpRequest, *, message: str, retry_after: float | None, code: str) -> HttpResponse:
    """429, as JSON in the API's error shape for API requests, else as a small page."""
    if request.path_info.startswith(API_PREFIX):
        response: HttpResponse = JsonResponse(
            {"errors": {"detail": [message]}, "codes": {"detail": [code]}}, status=429
        )
    else:
        response = render(request, "web/too_many_requests.html", {"message": message}, status=429)
    if retry_after:
        response["Retry-After"] = str(math.ceil(retry_after))
    return response


class RateLimitMiddleware:
    """Refuses with 429 a sign-in or search request over its rate (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        scope = _page_scope(request)
        if scope is not None:
            throttle = PageThrottle(scope[0], by_user=scope[1])
            if not throttle.allow_request(request, None):
                wait = throttle.wait()
                return too_many_requests(
                    request, message=str(exceptions.Throttled(wait).detail), retry_after=wait, code="throttled"
                )
        return self.get_response(request)


def lockout_response(request: HttpRequest, original_response: HttpResponse | None, credentials: Any) -> HttpResponse:
    """django-axes' ``AXES_LOCKOUT_CALLABLE``: a translated 429 saying how long the lockout lasts."""
    cool_off = get_cool_off(request)
    minutes = max(1, math.ceil(cool_off.total_seconds() / 60)) if cool_off else 0
    if minutes:
        message = _(
            "Too many failed sign-ins with this user name. Try again in %(minutes)s minutes, "
            "or ask your commune officer to unlock the account."
        ) % {"minutes": minutes}
    else:
        message = _("Too many failed sign-ins with this user name. Ask your commune officer to unlock the account.")
    return too_many_requests(request, message=message, retry_after=minutes * 60, code="locked_out")
