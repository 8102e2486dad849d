"""The cache backend of production: Django's Redis cache, failing open when Redis is away.

Nothing the cache holds must outlive Redis: DRF's throttle counters, the "message sent" markers
of ``fieldteam.tasks`` and the beat heartbeat. So when Redis is down or unreachable, a read is a
miss and a write is dropped (a warning is logged at most once a minute per process) instead of
failing the request: a team member's log is accepted and stored while Redis restarts, and the
throttles simply do not count for that while (they fail open). Keep the socket timeouts short in
``OPTIONS`` so an unreachable Redis costs a request milliseconds, not seconds.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

T = TypeVar("T")
WARN_EVERY_SECONDS = 60.0
_UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
_last_warning = 0.0


def _failing_open(fallback: Callable[..., Any]) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Answer ``fallback(*args)`` instead of raising when Redis cannot be reached."""

    def decorate(method: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(method)
        def wrapper(self: RedisCache, *args: Any, **kwargs: Any) -> T:
            try:
                return method(self, *args, **kwargs)
            except _UNAVAILABLE as exc:
                _warn(method.__name__, exc)
                return fallback(*args, **kwargs)

        return wrapper

    return decorate


def _warn(operation: str, exc: BaseException) -> None:
    global _last_warning  # one rate limit per process
    now = time.monotonic()
    if now - _last_warning >= WARN_EVERY_SECONDS:
        _last_warning = now
        logger.warning("cache unavailable (%s: %s); failing open until Redis is back", operation, exc)


def _default(key: str, default: Any = None, *_rest: Any, **_kwargs: Any) -> Any:
    return default


def _false(*_args: Any, **_kwargs: Any) -> bool:
    return False


def _none(*_args: Any, **_kwargs: Any) -> None:
    return None


def _empty_dict(*_args: Any, **_kwargs: Any) -> dict:
    return {}


def _all_keys_failed(data: dict, *_args: Any, **_kwargs: Any) -> list:
    return list(data)


class FailOpenRedisCache(RedisCache):
    """``RedisCache`` whose reads miss and whose writes are dropped while Redis is unreachable.

    ``incr`` and ``clear`` still raise: callers of those expect to know.
    """

    get = _failing_open(_default)(RedisCache.get)
    get_many = _failing_open(_empty_dict)(RedisCache.get_many)
    has_key = _failing_open(_false)(RedisCache.has_key)
    set = _failing_open(_none)(RedisCache.set)
    set_many = _failing_open(_all_keys_failed)(RedisCache.set_many)
    add = _failing_open(_false)(RedisCache.add)
    touch = _failing_open(_false)(RedisCache.touch)
    delete = _failing_open(_false)(RedisCache.delete)
    delete_many = _failing_open(_none)(RedisCache.delete_many)
