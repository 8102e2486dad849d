"""Hand-written SQL run as prepared statements on PostgreSQL: parsed and planned once per connection.

Django binds parameters on the client, so PostgreSQL parses and plans every statement it is sent
again. For the few statements every request runs (the caller's scope) that is most of their cost
on the database side; psycopg's server-side binding with ``prepare=True`` keeps them prepared on
the (persistent) connection instead. Elsewhere (SQLite) a plain cursor runs them.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
from django.db import connection


def fetch_all(sql: str, params: Sequence[object]) -> list[tuple]:
    """The rows of a read (``%s`` placeholders), prepared on the connection on PostgreSQL."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    connection.ensure_connection()
    # Django's own errors (OperationalError, ...), as its cursors raise them.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)  # type: ignore[arg-type]
        return cursor.fetchall()
