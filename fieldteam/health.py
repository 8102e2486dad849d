"""``GET /health/``: is this instance able to serve, and are its background parts alive?

Checks, each with its own short timeout:

- ``database``: ``SELECT 1`` on the default database;
- ``redis``: a ``PING`` to ``REDIS_URL`` (broker and cache); "skipped" without Redis;
- ``beat``: the age of beat's last heartbeat (``fieldteam.tasks.beat_heartbeat``, every minute,
  run by a worker), so it proves beat, the broker and at least one worker alive together; failing
  when older than ``FIELDTEAM_BEAT_MAX_AGE_SECONDS``; "skipped" without Redis (no beat then).

Answers 200 when every check passes, else 503, with ``{"status": "ok" | "failing", "checks":
{name: {"ok": bool, ...}}}``. ``?check=database`` runs only the named checks (repeatable; each
runs once per request, however often it is named): a load balancer should ask only for
``database``, since a Redis outage does not stop logging (see ``fieldteam/cache.py``) and must
not take every web server out of rotation at once. No authentication and no detail beyond an
error's class: the answer says what is down, not why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from fieldteam.tasks import BEAT_HEARTBEAT_KEY

logger = logging.getLogger(__name__)

Check = dict[str, Any]


def check_database() -> Check:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_redis() -> Check:
    if not settings.REDIS_URL:
        return {"ok": True, "skipped": True}
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    finally:
        client.close()
    return {"ok": True}


def check_beat() -> Check:
    if not settings.REDIS_URL:
        return {"ok": True, "skipped": True}
    last = cache.get(BEAT_HEARTBEAT_KEY)
    if last is None:
        return {"ok": False, "last_run": None}
    age = (timezone.now() - datetime.fromisoformat(last)).total_seconds()
    return {
        "ok": age <= settings.FIELDTEAM_BEAT_MAX_AGE_SECONDS,
        "last_run": last,
        "age_seconds": round(age),
        "max_age_seconds": settings.FIELDTEAM_BEAT_MAX_AGE_SECONDS,
    }


CHECKS: dict[str, Callable[[], Check]] = {"database": check_database, "redis": check_redis, "beat": check_beat}


def run_checks(names: list[str] | None = None) -> dict[str, Check]:
    """Run the named checks (all by default); a check that raises is reported as failing."""
    results: dict[str, Check] = {}
    for name in dict.fromkeys(names or CHECKS):  # each once, whatever the caller passed
        started = time.perf_counter()
        try:
            result = CHECKS[name]()
        except Exception as exc:  # noqa: BLE001 (any failure of a dependency is what we report)
            logger.warning("health check %s failed: %s: %s", name, type(exc).__name__, exc)
            result = {"ok": False, "error": type(exc).__name__}
        result["ms"] = round((time.perf_counter() - started) * 1000, 1)
        results[name] = result
    return results


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    # Each named check once, in the order of ``CHECKS``, however often the query string repeats it.
    asked = set(request.GET.getlist("check"))
    names = [name for name in CHECKS if name in asked] or None
    checks = run_checks(names)
    ok = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if ok else "failing", "checks": checks}, status=200 if ok else 503)


# Included at ``health/`` by ``backend.urls``.
urlpatterns = [path("", health, name="health")]
