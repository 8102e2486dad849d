"""Values read from a province's rows, cached under a version of the province its writers move.

A ``ProvinceCache`` keeps what is costly to read and seldom written (a province's resolved
official figures; the first month and the pace month of every series of its month snapshots) in
Django's cache (Redis in production, local memory on the embedded default) and, once read, in the
process. Every writer of the rows says so inside its transaction (``changed``): the province's
version moves when the transaction commits, so every process reads from the committed rows next,
and until then the writing connection's own reads bypass the cache (they see rows no other process
may be served).

The version lives in the cache, beside the entries it names: Redis is shared by every process, so a
version moved on commit is what every process reads next, and no migration is needed. A version is a
new random token each time (never a counter an evicted or flushed key could repeat), entries expire
after ``ENTRY_SECONDS`` (the bound on a version move lost while Redis was unreachable), and without a
cache (Redis down: ``FailOpenRedisCache`` misses) every call reads the database.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from django.apps import apps
from django.core.cache import cache
from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

T = TypeVar("T")

# Seconds an entry lives: the bound on a stale read if a version move was lost (Redis unreachable at
# the writer's commit); any move that reaches the cache invalidates at once.
ENTRY_SECONDS = 15 * 60


def _database(alias: str) -> str:
    """The database behind ``alias``, shortly (a test database or a rebuilt one never shares entries)."""
    name = f"{alias}:{connections[alias].settings_dict['NAME']}"
    return hashlib.blake2b(name.encode(), digest_size=8).hexdigest()


class ProvinceCache(Generic[T]):
    """Entries of one kind (``name``), per province and key, valid while the province's version holds.

    ``model``: the label of a model whose rows the entries are read from (this module sits below the
    models); its primary database (``db_for_write``) is where they are read and whose transactions
    ``changed`` follows. Entries are filled from the primary, never a replica, so that a version
    moved on commit is never paired with a replica's older rows; the version is read before the
    rows, so rows read before a commit are stored under the version that commit replaces.
    """

    def __init__(self, name: str, *, model: str, local_size: int = 32) -> None:
        self.name, self.model, self.local_size = name, model, local_size
        # Entries already unpickled in this process, by (database, province, key, version): a hit then
        # costs one cache read (the version) instead of a read and an unpickling.
        self._local: OrderedDict[tuple[str, int, Hashable, str], Any] = OrderedDict()
        self._lock = threading.Lock()  # a threaded server's requests share it
        # Provinces whose rows the connection's open transaction has written: its reads bypass the cache.
        self._changed: weakref.WeakKeyDictionary[BaseDatabaseWrapper, set[int]] = weakref.WeakKeyDictionary()

    def _version_key(self, database: str, province_id: int) -> str:
        return f"fieldteam:{self.name}:{database}:{province_id}"

    def changed(self, *province_ids: int | None) -> None:
        """Say, inside the writing transaction, that these provinces' rows change.

        The versions move when the transaction commits (``transaction.on_commit``); until then this
        connection's own reads of those provinces bypass the cache. Outside a transaction they move at once.
        """
        ids = frozenset(pk for pk in province_ids if pk is not None)
        if not ids:
            return
        using = router.db_for_write(apps.get_model(self.model))
        connection, database = connections[using], _database(using)
        if connection.in_atomic_block:
            self._changed.setdefault(connection, set()).update(ids)

        def move() -> None:
            cache.set_many({self._version_key(database, pk): uuid.uuid4().hex for pk in ids}, None)

        # Registered each time (not once per transaction): a savepoint rolled back drops its callbacks.
        # Robust: the write is committed by then, and a cache that fails must not fail its request.
        transaction.on_commit(move, using=using, robust=True)

    def get(self, province_id: int, key: Hashable, read: Callable[[str], T]) -> T | None:
        """The entry of ``province_id`` and ``key``: from this process, else the shared cache, else
        ``read(using)`` from the primary database (then stored). ``None`` when the cache may not serve
        it: a province written by this connection's open transaction, or no cache at all; the
        caller then reads as it would without a cache.

        ``key`` must name everything the entry depends on besides the province's rows (a period, the
        areas and indicators read), in a form whose ``str`` is stable across processes.
        """
        using = router.db_for_write(apps.get_model(self.model))
        connection = connections[using]
        if not connection.in_atomic_block:
            self._changed.pop(connection, None)  # its transaction ended: committed (version moved) or rolled back
        elif province_id in self._changed.get(connection, ()):
            return None
        database = _database(using)
        version_key = self._version_key(database, province_id)
        version = cache.get(version_key)
        if version is None:
            cache.add(version_key, uuid.uuid4().hex, None)
            version = cache.get(version_key)
            if version is None:  # no cache (Redis unreachable): read from the database
                return None
        local_key = (database, province_id, key, version)
        with self._lock:
            if local_key in self._local:
                self._local.move_to_end(local_key)
                return self._local[local_key]
        digest = hashlib.blake2b(str(key).encode(), digest_size=12).hexdigest()  # a key may name 135 areas
        entry_key = f"{version_key}:{digest}:{version}"
        entry = cache.get(entry_key)
        if entry is None:
            entry = read(using)
            cache.set(entry_key, entry, ENTRY_SECONDS)
        with self._lock:
            self._local[local_key] = entry
            while len(self._local) > self.local_size:
                self._local.popitem(last=False)
        return entry

    def clear(self) -> None:
        """Forget the entries this process holds, and which provinces open transactions wrote (tests,
        between transactions; the shared cache is keyed by version)."""
        with self._lock:
            self._local.clear()
        self._changed.clear()


# A province's resolved official figures per year (``fieldteam.selectors.population``): moved by every
# writer of official populations and of areas.
OFFICIAL_FIGURES: ProvinceCache[Any] = ProvinceCache("official-figures", model="fieldteam.Area")
# The first month and the pace's month of a province's snapshot series (``fieldteam.selectors.indicators``):
# moved by every writer of indicator values (a month's close, a reported value).
MONTH_HISTORY: ProvinceCache[Any] = ProvinceCache("month-history", model="fieldteam.IndicatorValue")
