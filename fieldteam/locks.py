"""Lock helpers. Every lock the services take is taken here, so their order is one decision.

- ``province_counts_shared``: taken by every write that adjusts village counts. Writers share it
  (they never wait for each other); the full recompute takes it exclusively, so it reads and
  rewrites the counts of a province without a concurrent delta slipping between the two.
  PostgreSQL: transaction-scoped advisory locks (no row is written, so no hot spot).
  SQLite: writers are serialised by the database itself; the recompute writes first so it holds
  the write lock before it reads.
- ``job_guard`` / ``job_held``: a background job's runner holds a session advisory lock on
  PostgreSQL while it works, so the stalled-job sweep can tell a long silent step (an import's
  write transaction) from a dead worker: the lock goes with the dead worker's connection.
- ``recompute_guard``: one recompute per province at a time across workers. PostgreSQL: a
  session advisory lock, so a worker killed in the middle (SIGKILL, OOM, a lost machine) leaves
  no lock behind: it goes with the dead connection and the redelivered task can run at once. (A
  Redis lock with a timeout would block the rerun for the whole timeout, and would make the
  recompute depend on Redis.) SQLite (the embedded default, one machine): a file lock, released
  by the kernel when the process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

ADVISORY_NAMESPACE_COUNTS = 71_001
ADVISORY_NAMESPACE_RECOMPUTE = 71_002
ADVISORY_NAMESPACE_JOB = 71_003
ADVISORY_NAMESPACE_SIGN_OFF = 71_004


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


def _session_connection() -> BaseDatabaseWrapper:
    # A session lock belongs to one server connection: behind pgbouncer in transaction mode it is
    # taken through the "direct" alias (DATABASE_DIRECT_URL, straight to PostgreSQL) when set.
    return connections["direct"] if "direct" in settings.DATABASES else connection


class AlreadyRunning(Exception):
    """Another recompute of the same province holds the guard."""


@contextlib.contextmanager
def recompute_guard(province_id: int, *, wait_seconds: float = 5.0) -> Iterator[None]:
    """Hold the one-recompute-per-province guard, or raise ``AlreadyRunning``.

    Take it outside any transaction: on PostgreSQL it belongs to the connection, not to a
    transaction, and is released on leaving the block or when the connection ends. There it is
    tried for up to ``wait_seconds``: a holder killed a moment ago may not be noticed yet by
    PostgreSQL when its redelivered task asks (a running recompute is still reported at once on
    SQLite, and after the wait on PostgreSQL).
    """
    name = f"fieldteam:recompute:{province_id}"
    if connection.vendor == "postgresql":
        session = _session_connection()
        key = [ADVISORY_NAMESPACE_RECOMPUTE, province_id]
        deadline = time.monotonic() + wait_seconds
        with session.cursor() as cursor:
            while True:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
                if cursor.fetchone()[0]:
                    break
                if time.monotonic() >= deadline:
                    raise AlreadyRunning(name)
                time.sleep(0.25)
        try:
            yield
        finally:
            # A connection lost meanwhile took the lock with it.
            with contextlib.suppress(DatabaseError), session.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
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


def _job_key(job_id: object) -> list[int]:
    # The two-int form of the advisory lock: a namespace and a 32-bit digest of the job's id (a
    # collision only makes the sweep wait for the other job).
    return [ADVISORY_NAMESPACE_JOB, zlib.crc32(str(job_id).encode()) - 2**31]


@contextlib.contextmanager
def job_guard(job_id: object) -> Iterator[None]:
    """Hold the job's "a worker is on it" lock while the block runs (PostgreSQL; nothing elsewhere)."""
    if connection.vendor != "postgresql":
        yield
        return
    key = _job_key(job_id)
    session = _session_connection()
    with session.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s, %s)", key)
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), session.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)


def job_held(job_id: object) -> bool:
    """Whether a live worker holds the job's lock (always ``False`` off PostgreSQL)."""
    if connection.vendor != "postgresql":
        return False
    key = _job_key(job_id)
    with _session_connection().cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        if not cursor.fetchone()[0]:
            return True
        cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
    return False


def _sign_off_key(province_id: int, month_index: int) -> list[int]:
    # A collision between two (province, month) pairs only makes one wait for the other.
    return [ADVISORY_NAMESPACE_SIGN_OFF, zlib.crc32(f"{province_id}:{month_index}".encode()) - 2**31]


def month_values_shared(province_id: int, month_index: int) -> None:
    """Join the writers of a month's values in a province (inside the caller's transaction), so that a
    sign-off decision (``month_values_exclusive``) waits for them and they wait for it (PostgreSQL;
    SQLite serialises writers itself)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", _sign_off_key(province_id, month_index))


def month_values_exclusive(province_id: int, month_index: int) -> None:
    """Wait for the writers of a month's values in a province to finish and keep new ones out until commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", _sign_off_key(province_id, month_index))
