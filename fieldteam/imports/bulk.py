"""Bulk inserts: binary ``COPY`` on PostgreSQL (ids from the sequence first), ``bulk_create`` elsewhere;
an audit entry per row for the models the trail covers.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from auditlog.registry import auditlog
from django.db import connection
from django.db.models import Value
from django.utils import timezone
from psycopg.types.json import Jsonb

from fieldteam import audit
from fieldteam.copying import copy_in
from fieldteam.models import (
    AuditEntry,
)

# Rows per INSERT of the bulk writes.
INSERT_BATCH = 2000


def _reserve_ids(model: type[Any], count: int) -> list[int]:
    """``count`` fresh primary keys from the table's sequence (PostgreSQL)."""
    with connection.cursor() as cursor:
        # The sequence's name first: given as a constant, ``nextval`` costs the server a seventh of
        # what it costs with the name looked up again for every row.
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [model._meta.db_table, model._meta.pk.column])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s::regclass) FROM generate_series(1, %s)", [sequence, count])
        return [row[0] for row in cursor.fetchall()]


def bulk_insert(
    model: type[Any],
    fields: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    villages: dict[tuple[str, int], int] | None = None,
) -> list[int]:
    """``_insert_rows``, and an audit entry per row for the models the trail covers (no signal fires).

    The entries are the ones a save of each row would write, built from the values inserted
    (``audit.record_created``; no model instance per row) and copied in with the rows.
    ``villages``: the village of rows the same write inserted before, by (relation, id) (as
    ``audit.record_created`` takes it), so that the trail need not read them back.
    """
    return _insert_rows(model, fields, rows, audited=auditlog.contains(model), villages=villages)


def _insert_rows(
    model: type[Any],
    fields: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    audited: bool = False,
    villages: dict[tuple[str, int], int] | None = None,
) -> list[int]:
    """Insert ``rows`` (values of ``fields``, by attname; the model's other fields take their defaults)
    and return their ids, in order; ``audited``: with a creation entry in the trail for each.

    PostgreSQL: ids are taken from the table's sequence first and the rows go in through binary
    ``COPY``, the database's own bulk load (an order of magnitude faster than multi-row INSERTs);
    constraints and foreign keys are checked as for any insert. Elsewhere: ``bulk_create`` in
    batches. Values are plain Python values (str, int, date, aware datetime, None).
    """
    if not rows:
        return []
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(fields, row, strict=True))) for row in rows]
        model.objects.bulk_create(objects, batch_size=INSERT_BATCH)
        if audited:  # the rows as saved (creation times set): what a save's signal would see
            audit.record_bulk(objects, action=AuditEntry.Action.CREATE)
        return [o.pk for o in objects]
    ids = _reserve_ids(model, len(rows))
    now = timezone.now()
    meta = model._meta
    given = [meta.get_field(name) for name in fields]
    rest = [f for f in meta.concrete_fields if not f.primary_key and f not in given]
    tail = tuple(_default_of(f, now) for f in rest)
    columns = [meta.pk, *given, *rest]
    names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
    types = [_copy_type(f) for f in columns]
    binary = COPY_BINARY and None not in types
    statement = f"COPY {connection.ops.quote_name(meta.db_table)} ({names}) FROM STDIN"
    if binary:
        statement += " (FORMAT BINARY)"
    copied = [(pk, *row, *tail) for pk, row in zip(ids, rows, strict=True)]
    # Text COPY would write a list as an array: JSON values go as the field's encoder writes them.
    as_json = {} if binary else {i: f.encoder for i, f in enumerate(columns) if f.get_internal_type() == "JSONField"}

    def fill(copy: Any) -> None:
        if binary:
            copy.set_types(types)
        write = copy.write_row
        for values in copied:
            if as_json:
                values = tuple(
                    Jsonb(v, dumps=functools.partial(json.dumps, cls=as_json[i]))
                    if i in as_json and v is not None
                    else v
                    for i, v in enumerate(values)
                )
            write(values)

    copy_in(statement, fill)
    if audited:
        audit.record_created(model, columns=[f.attname for f in columns], rows=copied, villages=villages)
    return ids


def _default_of(field: Any, now: datetime) -> Any:
    """What a new row holds in ``field`` when not given: as a save stores it (and the trail records it)."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    if field.has_default() or not field.has_db_default():
        return field.get_default()
    constant = field.db_default  # a constant the database would fill in (as given, or as an expression)
    if not hasattr(constant, "resolve_expression"):
        return constant
    if isinstance(constant, Value):
        return constant.value
    raise ValueError(f"bulk_insert cannot compute the database default of {field}: give its value")


COPY_BINARY = True
_COPY_TYPES = {
    "jsonb": "jsonb",  # from Python values, as the JSONField stores them (json.dumps)
    "bigint": "int8",
    "integer": "int4",
    "smallint": "int2",
    "boolean": "bool",
    "date": "date",
    "timestamp with time zone": "timestamptz",
    "text": "text",
    "varchar": "varchar",
}


def _copy_type(field: Any) -> str | None:
    """The PostgreSQL type name binary COPY needs for a column (``None``: not one we map)."""
    if field.get_internal_type() == "JSONField" and field.encoder is not None:
        return None  # binary COPY would dump it without the field's encoder
    db_type = (field.db_type(connection) or "").split("(")[0].strip().lower()
    return _COPY_TYPES.get(db_type)
