"""Lock helpers. Every lock the services take is taken here, so their order is one decision.

- ``province_counts_shared``: taken by every write that adjusts village counts. Writers share it
  (they never wait for each other); the full recompute takes it exclusively, so it reads and
  rewrites the counts of a province without a concurrent delta slipping between the two.
  PostgreSQL: transaction-scoped advisory locks (no row is written, so no hot spot).
  SQLite: writers are serialised by the database itself; the recompute writes first so it holds
  the write lock before it reads.
- ``recompute_guard``: one recompute per province at a time across workers: a Redis lock when
  Redis is configured, otherwise a file lock on this machine (the embedded default).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import connection

ADVISORY_NAMESPACE_COUNTS = 71_001


def province_counts_shared(province_id: int, *, also: str = "", params: tuple = ()) -> tuple | None:
    """Join the writers of ``province_id``'s counts (inside the caller's transaction).

    ``also``: more columns (scalar subqueries, PostgreSQL only) read in the same round trip once
    the lock is held; returned as a tuple (``None`` when not on PostgreSQL).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            extra = f", {also}" if also else ""
            cursor.execute(
                f"SELECT pg_advisory_xact_lock_shared(%s, %s){extra}",
                [ADVISORY_NAMESPACE_COUNTS, province_id, *params],
            )
            return tuple(cursor.fetchone()[1:])
    return None


def province_counts_exclusive(province_id: int) -> None:
    """Wait for the writers of ``province_id``'s counts to finish and keep new ones out until commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ADVISORY_NAMESPACE_COUNTS, province_id])


class AlreadyRunning(Exception):
    """Another recompute of the same province holds the guard."""


@contextlib.contextmanager
def recompute_guard(province_id: int, *, timeout_seconds: int = 3600) -> Iterator[None]:
    """Hold the one-recompute-per-province guard, or raise ``AlreadyRunning`` at once."""
    name = f"fieldteam:recompute:{province_id}"
    if settings.REDIS_URL:
        import redis

        client = redis.Redis.from_url(settings.REDIS_URL)
        lock = client.lock(name, timeout=timeout_seconds, blocking=False)
        if not lock.acquire():
            raise AlreadyRunning(name)
        try:
            yield
        finally:
            with contextlib.suppress(redis.exceptions.LockError):
                lock.release()
        return
    lock_dir = Path(settings.MEDIA_ROOT).parent / "locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"recompute-{province_id}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning(name) from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
