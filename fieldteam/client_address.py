"""The client's address, the one way: the trusted proxy count applied, and always a valid address or None.

Behind ``NUM_PROXIES`` proxies (nginx in production: 1; the embedded server: 0), the client is the
``NUM_PROXIES``-th address from the right of ``X-Forwarded-For``: whatever a client writes to the
left of it is ignored, so it cannot choose its own address. With 0 the header is ignored.

A value that is not an IP address (``X-Forwarded-For: not-an-ip``, an IPv6 zone, a port) falls back
to ``REMOTE_ADDR``; nothing here raises, and nothing that is not an address reaches the audit
trail's ``inet`` column (``fieldteam.rollup.fastlog``'s ``%(remote_addr)s::inet``).

Readers: ``ClientAddressMiddleware`` (first in ``MIDDLEWARE``) replaces ``REMOTE_ADDR`` with the
client's address and drops ``X-Forwarded-For`` and ``X-Forwarded-Port``, so that every later reader
— DRF's throttles, the rate-limit middleware, django-auditlog — sees the same trusted address and
no forgeable header; the audit trail (``fieldteam.audit``) and django-axes
(``AXES_CLIENT_IP_CALLABLE``) call ``client_address`` themselves as well.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FORWARDED_FOR = "HTTP_X_FORWARDED_FOR"
FORWARDED_PORT = "HTTP_X_FORWARDED_PORT"
# Set by the middleware once REMOTE_ADDR/REMOTE_PORT hold the client's: later calls read them as is.
RESOLVED = "fieldteam.client_address_resolved"
# Long enough for any honest chain of proxies; a longer header is not parsed at all.
MAX_HEADER_LENGTH = 1000


def valid_address(value: object) -> str | None:
    """``value`` as a normalised IP address, or None if it is not one (zones and ports are not)."""
    if not isinstance(value, str) or not value or len(value) > 45:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if getattr(address, "scope_id", None):  # fe80::1%eth0: PostgreSQL's inet refuses zones
        return None
    return str(address)


def valid_port(value: object) -> int | None:
    """``value`` as a TCP port (0-65535), or None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= 65535 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 5:
        number = int(value)
        return number if number <= 65535 else None
    return None


def trusted_proxies() -> int:
    count = getattr(settings, "NUM_PROXIES", 0) or 0
    return max(0, int(count))


def client_address(request: HttpRequest) -> str | None:
    """The client's address (module docstring); ``REMOTE_ADDR`` when the forwarded one is missing or malformed."""
    remote = valid_address(request.META.get("REMOTE_ADDR"))
    proxies = trusted_proxies()
    forwarded = request.META.get(FORWARDED_FOR)
    if (
        request.META.get(RESOLVED)
        or not proxies
        or not isinstance(forwarded, str)
        or not forwarded
        or len(forwarded) > MAX_HEADER_LENGTH
    ):
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    # The rightmost ``proxies`` entries were written by our proxies; fewer entries than proxies
    # means a proxy wrote only its client, which is then the leftmost.
    return valid_address(hops[-min(proxies, len(hops))]) or remote


def client_port(request: HttpRequest) -> int | None:
    """The client's port: from ``X-Forwarded-Port`` behind proxies (which must set it), else ``REMOTE_PORT``."""
    if trusted_proxies() and not request.META.get(RESOLVED):
        return valid_port(request.META.get(FORWARDED_PORT))
    return valid_port(request.META.get("REMOTE_PORT"))


class ClientAddressMiddleware:
    """First in ``MIDDLEWARE``: ``REMOTE_ADDR`` becomes the client's address, the forwarded headers go."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        address, port = client_address(request), client_port(request)
        request.META["REMOTE_ADDR"] = address or ""
        if port is None:
            request.META.pop("REMOTE_PORT", None)
        else:
            request.META["REMOTE_PORT"] = str(port)
        request.META.pop(FORWARDED_FOR, None)
        request.META.pop(FORWARDED_PORT, None)
        request.META[RESOLVED] = True
        return self.get_response(request)
