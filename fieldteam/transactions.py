"""Running a ``@transaction.atomic`` service inside a transaction its caller holds, without a savepoint.

Every service is one ``transaction.atomic``. Called on its own it commits or rolls back whole;
called inside another atomic block it is a savepoint, so a caller that catches its error (an admin
form, a test) carries on in a usable transaction. A caller that rolls its whole transaction back
on any error (sync's item, the log that ``create_log`` writes) needs no savepoint: two round trips
that guard nothing. It calls the service through ``in_callers_transaction`` instead. (Zulip puts
``transaction.atomic(savepoint=False)`` on such functions; here that would leave every caller that
recovers from the error inside its own transaction with a broken one.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.transaction import TransactionManagementError

Service = TypeVar("Service", bound=Callable[..., Any])


def in_callers_transaction(service: Service) -> Service:
    """``service`` (decorated with ``transaction.atomic``) run in the caller's open transaction, no savepoint.

    The caller must hold a transaction and roll all of it back if the service raises.
    """
    inner = getattr(service, "__wrapped__", None)
    if inner is None:
        raise TypeError(f"{service.__qualname__} is not decorated with transaction.atomic")

    @functools.wraps(inner)
    def run(*args: Any, **kwargs: Any) -> Any:
        if not connection.in_atomic_block:
            raise TransactionManagementError(f"{inner.__qualname__} runs in its caller's transaction: open one first")
        return inner(*args, **kwargs)

    return cast(Service, run)
