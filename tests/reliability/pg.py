"""Helpers of the PostgreSQL fault tests: URLs of the test database, a connection of their own."""

from __future__ import annotations

from typing import Any

from django.db import connection


def database_url(name: str | None = None) -> str:
    """A ``postgres://`` URL of the test database (or of ``name`` on the same server)."""
    settings: dict[str, Any] = connection.settings_dict
    auth = settings["USER"] + (f":{settings['PASSWORD']}" if settings["PASSWORD"] else "")
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{auth}@{host}:{settings['PORT'] or 5432}/{name or settings['NAME']}"


def admin_connection():
    """An autocommit connection to the ``postgres`` database, beside the one the test uses."""
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)
