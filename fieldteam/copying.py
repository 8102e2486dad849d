"""Binary ``COPY`` into PostgreSQL, in the current transaction: the bulk writes' one way in.

A bulk write (``fieldteam.imports.bulk``, the trail's ``fieldteam.audit``) hands its rows to
``copy_in``. The COPYs once ran in a worker thread of the same connection, overlapped with building
the next rows; measured on an idle 2-core machine (``bench/import.py``, 100,000 residents, two runs
each, interleaved) that was no faster (2,977 and 3,134 rows/s against 3,223 and 3,251 in turn), so
it was removed: one thread, one connection, the statements in the order written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import connection

# Writes the rows into a psycopg ``Copy`` (types set, ``write_row`` per row).
Fill = Callable[[Any], None]
# Readies the raw psycopg cursor before the COPY (a dumper to register).
Prepare = Callable[[Any], None]


def copy_in(statement: str, fill: Fill, *, prepare: Prepare | None = None) -> None:
    """Run ``COPY … FROM STDIN`` (``statement``) with the rows ``fill`` writes, in the current transaction."""
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if prepare is not None:
            prepare(raw)
        with raw.copy(statement) as copy:
            fill(copy)
