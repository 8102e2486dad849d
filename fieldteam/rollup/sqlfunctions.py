"""Statements kept in PostgreSQL as PL/pgSQL functions: planned once per session, and unlike a
``PREPARE`` they survive a pooler in transaction mode (pgbouncer).

A statement is written with typed named parameters (``%(name)s::type``, ``[]`` for arrays); its
function takes them in the order they first appear. The function's name carries a digest of its
definition, so a process only ever calls the function of its own code: a changed statement is a new
function, installed by a new migration (``install``), and until then its callers take their other
way (a plain statement, or the ORM).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.backends.base.base import BaseDatabaseWrapper

# Every parameter carries its type: ``%(name)s::type`` (``[]`` for arrays).
_PARAMETER = re.compile(r"%\((?P<name>\w+)\)s::(?P<type>[a-z]+(?:\[\])?)")


@dataclass(frozen=True)
class SqlFunction:
    """A statement as a PL/pgSQL function: its name, its definition and how to call it."""

    name: str
    create_sql: str
    call_sql: str

    @classmethod
    def of(cls, prefix: str, sql: str, *, returns: str, body: str = "{statement};") -> SqlFunction:
        """The function ``prefix_<digest>`` running ``sql`` (placed in ``body``), returning ``returns``."""
        types: dict[str, str] = {}
        for match in _PARAMETER.finditer(sql):
            types.setdefault(match["name"], match["type"])
        numbers = {parameter: position for position, parameter in enumerate(types, start=1)}
        statement = _PARAMETER.sub(lambda match: f"${numbers[match['name']]}::{match['type']}", sql)
        declared = ", ".join(types.values())
        definition = (
            f"({declared}) RETURNS {returns} LANGUAGE plpgsql VOLATILE AS $function$\n"
            f"{body.format(statement=statement)}\n$function$"
        )
        name = f"{prefix}_{hashlib.sha256(definition.encode()).hexdigest()[:12]}"
        arguments = ", ".join(f"%({parameter})s::{sql_type}" for parameter, sql_type in types.items())
        call = f"SELECT * FROM {name}({arguments})"  # noqa: S608 (a name made here, values as parameters)
        return cls(name, f"CREATE OR REPLACE FUNCTION {name} {definition}", call)

    @property
    def digest(self) -> str:
        return self.name.rsplit("_", 1)[1]


def install(connection: BaseDatabaseWrapper, prefix: str, create_sql: Sequence[str]) -> None:
    """Run the ``create_sql`` (``SqlFunction.create_sql``) after dropping every function named ``prefix_*``; for migrations."""
    pattern = prefix.replace("_", "\\_") + "\\_%"  # LIKE: an underscore is any character unless escaped
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE %s "
            "AND p.pronamespace = 'public'::regnamespace",
            [pattern],
        )
        for (signature,) in cursor.fetchall():
            cursor.execute(f"DROP FUNCTION {signature}")
        for statement in create_sql:
            cursor.execute(statement)
