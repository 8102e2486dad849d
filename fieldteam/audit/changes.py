"""The changes of an audit entry, as django-auditlog's diff writes them, for rows written in bulk.

``fieldteam.audit.record_bulk`` and ``record_created`` write one entry per row without a model
instance's signals: what each entry records is read once per model from the library's registry
(``plan``), then applied to every row (``Plan.diff``), giving what ``model_instance_diff`` would.
Personal values are masked whole (``hide``), never half-starred.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

from auditlog.diff import get_field_value, get_mask_function, track_field
from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.encoding import smart_str

HIDDEN = "***"


def hide(value: str) -> str:
    """django-auditlog's mask callable: a personal value is replaced whole, not half-starred."""
    return HIDDEN


_PRIMITIVE = (type(None), bool, int, float, str, list, tuple, dict, set)  # auditlog.diff.is_primitive's
_PLAIN = frozenset({str, int, bool})  # the primitives most values are, checked first


@dataclass(frozen=True)
class Logged:
    """A field a model's entries record, and how ``get_field_value`` reads it (``kind``)."""

    name: str
    attname: str
    field: Any
    kind: str  # "value", "fk", "datetime", "json", "related" (same for every row: ``constant``) or "library"
    masked: bool
    constant: Any = None


@dataclass(frozen=True)
class Plan:
    """What the entries of one model record, read once from django-auditlog's registry and settings."""

    logged: tuple[Logged, ...]
    mask: Callable[[str], str]
    # The masked pair of any value when the mask ignores the value (``hide``): built once.
    hidden: tuple[str, str] | None

    def diff(self, values: Sequence[Any]) -> dict[str, Any] | None:
        """``model_instance_diff(None, row)``, given the row's values of ``logged`` (in order).

        Run for every row of a bulk write: the common values (ints, text, aware times) take the
        short way to what ``_field_value`` would give; anything else goes through it.
        """
        changes: dict[str, Any] = {}
        hidden, use_tz = self.hidden, settings.USE_TZ
        for logged, value in zip(self.logged, values, strict=True):
            kind = logged.kind
            if value is None and kind != "related":
                continue  # the diff keeps a field whose value differs from the old None
            if kind == "value" or (kind == "fk" and value.__class__ is int):
                pass  # as read (an int key stays an int)
            elif kind == "datetime" and value.__class__ is datetime and value.utcoffset() is not None and use_tz:
                value = _naive_utc_text(value)
            else:
                value = _field_value(logged, value)
                if value is None:
                    continue
            if logged.masked:
                changes[logged.name] = hidden or (self.mask(smart_str(None)), self.mask(smart_str(value)))
            elif value.__class__ in _PLAIN or isinstance(value, _PRIMITIVE):
                changes[logged.name] = (None, value)
            else:
                changes[logged.name] = (None, smart_str(value))
        return changes or None


@functools.lru_cache(maxsize=256)
def _naive_utc_text(moment: datetime) -> str:
    """An aware time as the diff writes it (``make_naive`` to UTC, then ``str``); a bulk write's rows share one."""
    return str(moment.astimezone(UTC).replace(tzinfo=None))


@functools.lru_cache(maxsize=256)
def _time_text(moment: datetime) -> str:
    """A time of a ``DateTimeField`` as the diff writes it with ``USE_TZ``: an aware one in UTC, a naive one as is."""
    return _naive_utc_text(moment) if moment.utcoffset() is not None else str(moment)


def _field_value(logged: Logged, value: Any) -> Any:
    """``auditlog.diff.get_field_value`` (JSON changes) of a field whose attribute holds ``value``."""
    kind = logged.kind
    if kind == "fk":
        return smart_str(value, strings_only=True)
    if kind == "datetime":
        try:
            value = logged.field.to_python(value)
        except TypeError:
            return value
        if value is not None and settings.USE_TZ and not timezone.is_naive(value):  # as ``_naive_utc_text``
            value = timezone.make_naive(value, timezone=UTC)
        return value
    if kind == "json":
        return logged.field.to_python(value)
    if kind == "related":
        return logged.constant
    return value  # "value"; "library" values come already read


_plans: dict[tuple[type[models.Model], frozenset[str] | None], Plan] = {}


def plan(model: type[models.Model], fields: Iterable[str] | None) -> Plan:
    key = (model, frozenset(fields) if fields else None)
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _build_plan(model, key[1])
    return plan


def _build_plan(model: type[models.Model], fields_to_check: frozenset[str] | None) -> Plan:
    """The fields ``model_instance_diff`` compares for ``model`` (its selection, filters and masks)."""
    model_fields = auditlog.get_model_fields(model)
    include, exclude = model_fields["include_fields"], model_fields["exclude_fields"]
    mask = get_mask_function(model_fields.get("mask_callable"))
    fk_as_text = settings.AUDITLOG_USE_FK_STRING_REPRESENTATION
    probe = None
    logged = []
    for field in model._meta.get_fields():
        if not track_field(field):
            continue
        if fields_to_check and not (
            (isinstance(field, models.ForeignKey) and field.attname in fields_to_check) or field.name in fields_to_check
        ):
            continue
        if (include and field.name not in include) or field.name in exclude:
            continue
        constant = None
        if isinstance(field, models.DateTimeField):
            kind = "datetime"
        elif isinstance(field, models.JSONField):
            kind = "json"
        elif field.concrete and (field.one_to_one or field.many_to_one) and hasattr(field, "rel_class"):
            kind = "library" if fk_as_text else "fk"
        elif field.concrete and not field.is_relation:
            kind = "value"
        elif field.one_to_many and not field.concrete:
            # A reverse foreign key: the library writes its related manager's name, the same for
            # every row (read once, from a blank row with a key, which queries nothing).
            probe = probe if probe is not None else model(pk=0)
            value = get_field_value(probe, field, True)
            kind, constant = "related", (None if value is None else smart_str(value))
        else:
            kind = "library"
        attname = getattr(field, "attname", None) or field.name
        logged.append(Logged(field.name, attname, field, kind, field.name in model_fields["mask_fields"], constant))
    hidden = (HIDDEN, HIDDEN) if mask is hide else None
    return Plan(tuple(logged), mask, hidden)


# How ``json_writer`` writes a field of a row.
_CONSTANT, _HIDDEN, _PLAIN_VALUE, _AWARE_TIME, _ANY = range(5)
# The JSON of the plain values most columns hold, by exact class, each by a C function:
# ``json.dumps``'s escaping of text, a date as ``smart_str`` writes it.
_PLAIN_JSON: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii,
    int: int.__repr__,
    bool: {True: "true", False: "false"}.__getitem__,
    date: '"%s"'.__mod__,
}


class _Skipped(Exception):
    """A value the diff leaves out although it is not ``None``."""


def json_writer(plan: Plan, position: dict[str, int]) -> Callable[[Sequence[Any]], str | None]:
    """A function giving, from a row of values, ``plan.diff`` of the row as JSON text (``None`` for no changes).

    For the bulk writes' trail (``fieldteam.audit.record_created``), which would otherwise build a
    dict per entry and have ``json.dumps`` encode it: the text is written here directly, with
    ``json.dumps``'s own string escaping (ASCII), for the values most columns hold (text, ints,
    booleans, dates, times and masked values); any other value goes through the plan of its field
    alone (``Plan.diff``) and ``json.dumps``. The same JSON value as ``json.dumps(plan.diff(...))``
    (``tests/privacy/test_audit_bulk.py`` holds them equal), which is what the database stores.
    """
    if any(logged.kind == "library" for logged in plan.logged):
        raise ValueError("a field read through the library needs the model instance")
    steps = tuple(step for logged in plan.logged if (step := _step(plan, logged, position)) is not None)

    def write(row: Sequence[Any]) -> str | None:
        parts = []
        for index, key, how, extra in steps:
            if how == _CONSTANT:
                parts.append(extra)
                continue
            value = row[index]
            if value is None:
                continue  # as ``diff``: not recorded (a "related" field is the only exception)
            if how == _HIDDEN:
                parts.append(extra)
                continue
            plain = _PLAIN_JSON.get(value.__class__) if how == _PLAIN_VALUE else None
            if plain is not None:
                parts.append(f"{key}[null, {plain(value)}]")
            elif how == _AWARE_TIME and value.__class__ is datetime:
                parts.append(f'{key}[null, "{_time_text(value)}"]')
            else:
                try:
                    parts.append(key + _pair(how, extra, value))
                except _Skipped:
                    continue
        return "{" + ", ".join(parts) + "}" if parts else None

    return write


def _pair(how: int, alone: Plan, value: Any) -> str:
    """The ``[null, …]`` JSON of a value (not ``None``) of the field ``alone`` plans; ``_Skipped``: not recorded."""
    if how == _PLAIN_VALUE and isinstance(value, str):  # a choice: text to ``json.dumps``
        return f"[null, {encode_basestring_ascii(value)}]"
    changes = alone.diff((value,))
    if changes is None:
        raise _Skipped
    return json.dumps(changes[alone.logged[0].name])


def _step(plan: Plan, logged: Logged, position: dict[str, int]) -> tuple[int, str, int, Any] | None:
    """How ``json_writer`` writes ``logged``: (index in the row, ``"name": ``, how, what with); ``None``: never.

    "What with" is the whole ``"name": [...]`` text for a constant or masked value, else the plan
    of the field alone (the general way).
    """
    alone = Plan((logged,), plan.mask, plan.hidden)
    key = f"{json.dumps(logged.name)}: "
    if logged.kind == "related":  # the same for every row
        changes = alone.diff((None,))
        return None if changes is None else (0, key, _CONSTANT, key + json.dumps(changes[logged.name]))
    index = position[logged.attname]
    if logged.masked:
        if plan.hidden is not None and logged.kind == "value":
            return (index, key, _HIDDEN, key + json.dumps(plan.hidden))
        return (index, key, _ANY, alone)
    if logged.kind in ("value", "fk"):
        return (index, key, _PLAIN_VALUE, alone)
    if logged.kind == "datetime" and settings.USE_TZ:
        return (index, key, _AWARE_TIME, alone)
    return (index, key, _ANY, alone)
