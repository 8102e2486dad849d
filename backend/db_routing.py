"""Read replicas (optional): which database a query goes to.

Without ``DATABASE_REPLICA_URLS`` nothing here is installed and every query goes to ``default``.
With it, the settings add one alias per replica (``replica1``, ``replica2``, ...), this router and
``ReplicaReadsMiddleware``:

- Only the reads of a read-only request may go to a replica: GET/HEAD on the dashboards, reports,
  exports and the API (``REPLICA_READ_PATHS``). The middleware marks such a request; everything
  else (writes, the admin, Celery tasks, management commands, a read inside a transaction, so
  every service) stays on the primary. The selectors do not know about it.
- Read your own writes: every write request (any other method) pins its sender to the primary for
  ``READ_YOUR_WRITES_SECONDS``, by a signed cookie and by a cache key named after its credentials
  (an API client may not keep cookies), so the next page it reads shows what it just wrote.
- A replica more than ``REPLICA_MAX_LAG_SECONDS`` behind is skipped. Its lag is measured on the
  replica itself, cached for ``REPLICA_CHECK_SECONDS``: none when it replayed all it received
  (an idle primary leaves the replay timestamp old, so that timestamp alone would mean nothing),
  else the age of the last replayed transaction. A replica that cannot be reached is skipped.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

PIN_COOKIE = "ft_primary"
PIN_CACHE_PREFIX = "fieldteam:primary-pin:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)
# alias -> (checked at, monotonic; lag in seconds, None when unreachable)
_health: dict[str, tuple[float, float | None]] = {}

LAG_SQL = """
SELECT pg_is_in_recovery(),
       COALESCE(pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn(), TRUE),
       EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
"""


def replica_aliases() -> list[str]:
    """The aliases of the configured replicas, in order (empty without replicas)."""
    return list(getattr(settings, "DATABASE_REPLICAS", []))


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Let the reads of the block go to a healthy replica (what the middleware does per request)."""
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def forget_replica_health() -> None:
    """Drop the cached lag of every replica (tests; the next read measures again)."""
    _health.clear()


def measure_lag(alias: str) -> float | None:
    """The replica's lag in seconds (0 when caught up or not in recovery), ``None`` if unreachable."""
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            in_recovery, caught_up, seconds = cursor.fetchone()
    except DatabaseError:
        logger.warning("replica %s unreachable: reads go to the primary", alias, exc_info=True)
        with contextlib.suppress(DatabaseError):
            connections[alias].close()
        return None
    if not in_recovery or caught_up:
        return 0.0
    return float(seconds) if seconds is not None else None


def replica_lag(alias: str) -> float | None:
    """``measure_lag``, cached for ``REPLICA_CHECK_SECONDS``."""
    now = time.monotonic()
    cached = _health.get(alias)
    if cached is not None and now - cached[0] < settings.REPLICA_CHECK_SECONDS:
        return cached[1]
    lag = measure_lag(alias)
    _health[alias] = (now, lag)
    return lag


def healthy_replica() -> str | None:
    """The first replica within the allowed lag, or ``None``."""
    for alias in replica_aliases():
        lag = replica_lag(alias)
        if lag is not None and lag <= settings.REPLICA_MAX_LAG_SECONDS:
            return alias
    return None


# Who is signed in is always read from the primary: a token or session made a moment ago must
# work at once, and a deactivated user or a revoked token must stop at once (small indexed reads).
PRIMARY_ONLY_APPS = frozenset({"authtoken", "sessions", "axes", "auth", "contenttypes"})


def _primary_only(model: type) -> bool:
    meta = getattr(model, "_meta", None)
    if meta is None:
        return True
    return meta.app_label in PRIMARY_ONLY_APPS or meta.label == settings.AUTH_USER_MODEL


class ReplicaRouter:
    """Reads of a marked request to a healthy replica; everything else to ``default``."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        if not _replica_reads.get() or connections["default"].in_atomic_block:
            return "default"
        if _primary_only(model):
            return "default"
        return healthy_replica() or "default"

    def db_for_write(self, model: type, **hints: Any) -> str:
        return "default"

    def allow_relation(self, obj1: object, obj2: object, **hints: Any) -> bool:
        return True  # the replicas hold the primary's rows

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool:
        return db == "default"


def _credential_key(request: HttpRequest) -> str | None:
    # Who is asking, without a query: the API token or the session cookie (hashed: never stored).
    return _credential_key_of(
        request.META.get("HTTP_AUTHORIZATION") or request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    )


def _credential_key_of(credential: str | None) -> str | None:
    return PIN_CACHE_PREFIX + hashlib.sha256(credential.encode()).hexdigest() if credential else None


def pinned_to_primary(request: HttpRequest) -> bool:
    """Whether the sender wrote within ``READ_YOUR_WRITES_SECONDS`` (cookie or cache key)."""
    if request.get_signed_cookie(PIN_COOKIE, default=None, max_age=settings.READ_YOUR_WRITES_SECONDS):
        return True
    key = _credential_key(request)
    return key is not None and bool(cache.get(key))


def may_read_replica(request: HttpRequest) -> bool:
    """A read-only request of a replica-read path whose sender did not write just now."""
    if request.method not in ("GET", "HEAD"):
        return False
    if not any(request.path.startswith(prefix) for prefix in settings.REPLICA_READ_PATHS):
        return False
    return not pinned_to_primary(request)


class ReplicaReadsMiddleware:
    """Marks read-only requests for the replicas and pins writers to the primary (no-op without replicas)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not replica_aliases():
            return self.get_response(request)
        if request.method not in SAFE_METHODS:
            # The credential as sent: a sign-out or sign-in in this request changes it.
            key = _credential_key(request)
            response = self.get_response(request)
            seconds = settings.READ_YOUR_WRITES_SECONDS
            response.set_signed_cookie(
                PIN_COOKIE, "1", max_age=seconds, httponly=True, samesite="Lax", secure=settings.SESSION_COOKIE_SECURE
            )
            # A sign-in answers with a new session cookie or token: pin that one as well.
            new_session = response.cookies.get(settings.SESSION_COOKIE_NAME)
            keys = {key, _credential_key_of(new_session.value if new_session else None)}
            cache.set_many({k: 1 for k in keys if k}, timeout=seconds)
            return response
        if not may_read_replica(request):
            return self.get_response(request)
        with replica_reads():
            return self.get_response(request)
