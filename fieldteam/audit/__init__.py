"""The audit trail's rules: what is recorded, where it is placed in the tree, and what is never written.

Single saves and deletes of the models registered in ``register_models`` are recorded by
django-auditlog's signals; the few bulk writes (a log's items, batched adoptions, bulk imports,
household splits) call ``record_bulk``; a look at an unmasked identifier calls ``record_access``.
Entries carry the acting user (django-auditlog's middleware for session users, ``bind_actor`` for
token users, ``acting_as`` for tasks and commands), the village or area the row belongs to and its
province, so that ``fieldteam.selectors.audit`` scopes the trail like everything else.

Personal values (names, birth dates, identifiers, addresses, free-text notes) are masked: the trail
says that a resident's name changed, when and by whom, never the name. Erasing a person therefore
leaves nothing of theirs in the trail.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast

from auditlog.cid import get_cid
from auditlog.context import auditlog_value, set_actor
from auditlog.diff import get_field_value
from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, models
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from psycopg.abc import Buffer
from psycopg.types.json import JsonbBinaryDumper

from fieldteam import models as m
from fieldteam.audit.changes import HIDDEN as HIDDEN
from fieldteam.audit.changes import hide, json_writer
from fieldteam.audit.changes import plan as changes_plan
from fieldteam.client_address import client_address, client_port, valid_address, valid_port
from fieldteam.copying import copy_in
from fieldteam.errors import field_error
from fieldteam.models import AuditEntry
from fieldteam.models.audit import EntryHooks, install_entry_hooks

P = ParamSpec("P")
R = TypeVar("R")

# A run of digits as long as a phone number or a citizen ID.
_IDENTIFIER_LIKE = re.compile(r"\d(?:[\s.\-]?\d){8,}")

# Models whose rows are about one person or household: their entries are described by model and id,
# never by ``str()`` (which shows the name).
PERSONAL_MODELS = (
    "Resident",
    "Household",
    "ConsentRecord",
    "Adoption",
    "AssistanceLog",
    "AssistanceItem",
    "TrainingAttendance",
)

# Derived or bookkeeping columns: recording them would only repeat what the other entries say.
# ``ethnic_group`` is derived from the ethnicity, which the trail masks: it must not say it either.
_NOT_RECORDED = ["capability_mask", "birth_month_index", "ethnic_group", "created_at", "updated_at"]


def register_models() -> None:
    """Put the models the trail covers under django-auditlog (called once, from the app config)."""
    install_entry_hooks(EntryHooks(place_of=place_of, describe=describe))
    person = {"mask_callable": f"{hide.__module__}.{hide.__qualname__}"}
    auditlog.register(
        m.Resident,
        exclude_fields=_NOT_RECORDED,
        mask_fields=["full_name", "search_name", "birth_date", "birth_year", "ethnicity", *m.Resident.IDENTIFIER_FIELDS],
        **person,
    )
    auditlog.register(m.Household, exclude_fields=_NOT_RECORDED, mask_fields=["head_name", "address", "code"], **person)
    auditlog.register(m.ConsentRecord)
    auditlog.register(m.Adoption, exclude_fields=["created_at", "updated_at"])
    auditlog.register(m.AssistanceLog, exclude_fields=["recorded_at"], mask_fields=["note"], **person)
    auditlog.register(m.AssistanceItem)
    auditlog.register(m.TrainingSession)
    auditlog.register(m.TrainingAttendance)
    auditlog.register(m.Target)
    auditlog.register(m.Plan)
    auditlog.register(m.PlanTarget)
    auditlog.register(m.IndicatorValue)
    auditlog.register(m.IndicatorPopulationBound)
    auditlog.register(m.FollowUpRule)
    auditlog.register(m.MonthApproval, mask_fields=["note", "comment", "unlock_reason"], **person)
    auditlog.register(m.OfficialPopulation, exclude_fields=["entered_at"])
    auditlog.register(m.ReportSubscription)
    auditlog.register(m.Team)
    auditlog.register(m.Membership)
    auditlog.register(m.AreaRole)
    auditlog.register(
        m.User,
        include_fields=["username", "is_active", "is_staff", "is_superuser", "groups", "user_permissions"],
        m2m_fields=["groups", "user_permissions"],
    )


def place_of(
    instance: models.Model, villages: dict[tuple[str, int], int] | None = None
) -> tuple[int | None, int | None]:
    """The (area id, province id) an entry about ``instance`` is filed under, for scoping the trail.

    Rows about people are filed under their village; targets, reported values and area roles under
    their area; teams and memberships under the province only (a team may serve several villages).
    ``villages`` maps (relation, id) to a village id, so that a bulk write need not load each
    related row (see ``_villages_of``).
    """
    name = type(instance).__name__
    province_id = getattr(instance, "province_id", None)
    if name in ("Resident", "Household", "AssistanceLog", "TrainingSession"):
        return instance.village_id, province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    relation = _VILLAGE_VIA.get(name)
    if relation is not None:
        if name == "Adoption" and not instance.resident_id:  # type: ignore[attr-defined]  # audited models are told apart by class name above
            relation = "household"
        key = (relation, getattr(instance, f"{relation}_id"))
        if villages is not None and key in villages:
            return villages[key], province_id
        return getattr(instance, relation).village_id, province_id
    if name in ("Plan", "IndicatorPopulationBound"):  # a province's plan, its own bounds: under the province
        return instance.province_id, instance.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    if name == "PlanTarget":
        province_id = instance.plan.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
        return province_id, province_id
    if name in ("OfficialPopulation", "MonthApproval"):  # an area's figure or sign-off: under the area
        return instance.area_id, province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    if name in ("Target", "IndicatorValue", "AreaRole", "ReportSubscription"):
        return instance.area_id, instance.area.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    if name == "BackgroundJob":  # a download of a job's file: filed under the job's area
        area = instance.area  # type: ignore[attr-defined]  # audited models are told apart by class name above
        return (area.pk, area.province_id) if area is not None else (None, None)
    if name == "Team":
        return None, province_id
    if name == "Membership":
        return None, instance.team.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    return None, None


# The relation through which a row reaches its village.
_VILLAGE_VIA = {
    "ConsentRecord": "resident",
    "TrainingAttendance": "session",
    "Adoption": "resident",
    "AssistanceItem": "log",
}


def _villages_of(instances: list[models.Model]) -> dict[tuple[str, int], int]:
    """The village of each related row the instances reach it through, in one query per relation.

    Rows whose relation is already loaded need nothing (``place_of`` reads it from the object).
    """
    wanted: dict[str, set[Any]] = {}
    related: dict[str, Any] = {}
    for instance in instances:
        relation = _VILLAGE_VIA.get(type(instance).__name__)
        if relation is None:
            continue
        if relation == "resident" and not instance.resident_id:  # type: ignore[attr-defined]  # audited models are told apart by class name above
            relation = "household"
        # Each relation named in _VILLAGE_VIA is a forward foreign key.
        field = cast("models.ForeignKey[Any, Any]", type(instance)._meta.get_field(relation))
        if field.is_cached(instance):
            continue
        wanted.setdefault(relation, set()).add(getattr(instance, f"{relation}_id"))
        related[relation] = field.related_model  # the instances may be of several models
    return _lookup_villages(wanted, related)


# Ids per lookup query: within SQLite's limit on parameters, and a short statement on PostgreSQL.
LOOKUP_CHUNK = 10_000


def _lookup_villages(wanted: dict[str, set[Any]], related: dict[str, Any]) -> dict[tuple[str, int], int]:
    """(relation, id) → village id of the wanted related rows, in one query per relation and chunk of ids."""
    found: dict[tuple[str, int], int] = {}
    for relation, id_set in wanted.items():
        ids = sorted(id_set)
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            for pk, village_id in related[relation].objects.filter(pk__in=chunk).values_list("pk", "village_id"):
                found[(relation, pk)] = village_id
    return found


def describe(instance: models.Model) -> str:
    """How an entry names its object: model and id for rows about a person, else the row's own name."""
    if type(instance).__name__ in PERSONAL_MODELS:
        return f"{instance._meta.verbose_name} #{instance.pk}"
    try:
        return str(instance)
    except ObjectDoesNotExist:  # a half-built row must not stop the write it describes
        return f"{instance._meta.verbose_name} #{instance.pk}"


# django-auditlog sets its context variable on entering a request and never resets it, so after a
# request it still names the last actor; this flag says whether a context is really open.
_context_open: ContextVar[bool] = ContextVar("fieldteam_audit_context_open", default=False)


class AuditMiddleware(AuditlogMiddleware):
    """django-auditlog's middleware, marking while its context is open (see ``current_actor``).

    The address and port are ``fieldteam.client_address``'s (the trusted proxy count applied, always
    valid or None), not django-auditlog's, which takes the first ``X-Forwarded-For`` entry as given.
    """

    @staticmethod
    def _get_remote_addr(request: HttpRequest) -> str | None:
        return client_address(request)

    @staticmethod
    def _get_remote_port(request: HttpRequest) -> int | None:
        return client_port(request)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _context_open.set(True)
        try:
            return super().__call__(request)
        finally:
            _context_open.reset(token)


def current_actor() -> Any:
    """The user the current request, task or command acts as (``None`` for the system)."""
    if not _context_open.get():
        return None
    try:
        return auditlog_value.get().get("actor")
    except LookupError:
        return None


def bind_actor(user: Any) -> None:
    """Name ``user`` as the actor of the current request's entries (token sign-in happens after the middleware)."""
    if not _context_open.get():
        return
    try:
        context = auditlog_value.get()
    except LookupError:
        return
    if context.get("actor") is None:
        context["actor"] = user


@contextlib.contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Record the entries made inside the block as ``user``'s (tasks and commands, which have no request)."""
    token = _context_open.set(True)
    try:
        with set_actor(user):
            yield
    finally:
        _context_open.reset(token)


# The entries of the open ``collected`` block, written together at its end (``None``: no block open).
_collected: ContextVar[list[Any] | None] = ContextVar("fieldteam_audit_collected", default=None)


@contextlib.contextmanager
def collected() -> Iterator[None]:
    """Hold the entries ``record_bulk`` makes inside the block and write them in one insert at its end.

    Open it inside the transaction of the writes it records (a log, its items and its adoptions
    then cost one insert into the trail, not one per kind): the entries are written before the
    block's end, in the same transaction, and dropped with it if the block raises. Nested blocks
    leave the writing to the outermost one. Only for blocks that succeed or fail whole: an error
    caught inside the block after its savepoint rolled back would leave the entries of rows that
    were never written.
    """
    if _collected.get() is not None:
        yield
        return
    entries: list[Any] = []
    token = _collected.set(entries)
    try:
        yield
    finally:
        _collected.reset(token)
    if entries:  # not reached when the block raised
        _write_entries(entries, len(entries))


def collecting(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` inside ``collected()``: the trail entries it records go in one insert."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with collected():
            return function(*args, **kwargs)

    return wrapper


def created_unsignalled(model: type[models.Model], **values: Any) -> Any:
    """Insert one new row as ``model.objects.create(**values)`` would, but without ``save()``'s signals.

    The caller records the row itself with ``record_bulk`` (in a ``collected`` block): the same
    single entry as django-auditlog's signal would write, without the signal's own diff and
    insert. Only for models whose saves have no other receivers.
    """
    instance = model(**values)
    model.objects.bulk_create([instance])  # type: ignore[attr-defined]  # any audited model: each has its default manager as objects
    return instance


def _request_address() -> tuple[Any, Any]:
    """The (address, port) django-auditlog's middleware put in its context, as its signal would record."""
    if not _context_open.get():
        return None, None
    try:
        context = auditlog_value.get()
    except LookupError:
        return None, None
    found = []
    for key in ("remote_addr", "remote_port"):
        value = context.get(key)
        found.append(value() if callable(value) else value)
    # Whatever put them there, an entry gets a valid address and port or none: a malformed one
    # would make the database refuse the write it records (the ``inet`` column on PostgreSQL).
    return valid_address(found[0]), valid_port(found[1])


def entry_context() -> tuple[Any, Any, Any, str | None]:
    """Whom and where entries written now come from: (actor, remote address, remote port, correlation id)."""
    remote_addr, remote_port = _request_address()
    return current_actor(), remote_addr, remote_port, get_cid()


def row_changes(instance: models.Model, *, fields: list[str] | None = None) -> dict[str, Any] | None:
    """The changes an entry records for a row written now, as django-auditlog's diff of a new row gives them.

    Old values are not at hand in a bulk write: an update (``fields``: the columns written) records
    the new ones. The one definition of an entry's changes for ``record_bulk`` and the one-statement
    log (``fieldteam.rollup.fastlog``), which adds there only what the database assigns.

    The same as ``model_instance_diff(None, instance, fields_to_check=fields,
    use_json_for_changes=True) or None``, but read through a plan made once per model from the
    library's registry (``changes.plan``), not by the library's diff on every row, which cost a bulk
    import most of its time; ``tests/privacy/test_audit_bulk.py`` holds the two equal for every
    registered model.
    """
    plan = changes_plan(type(instance), fields)
    values = []
    for logged in plan.logged:
        if logged.kind == "library":
            values.append(get_field_value(instance, logged.field, True))
        elif logged.kind == "related":
            values.append(None)
        else:
            values.append(getattr(instance, logged.attname))
    return plan.diff(values)


def record_bulk(instances: Iterable[models.Model], *, action: int, fields: list[str] | None = None) -> int:
    """Record a bulk write that fired no signals: one entry per row, the same as a single save would.

    ``action`` is ``AuditEntry.Action.CREATE`` or ``UPDATE``; for an update, ``fields`` names the
    columns written (their new values are recorded, masked where personal). Returns the number of
    entries recorded (written now, or at the end of the open ``collected`` block).

    Each entry's changes are those of django-auditlog's ``model_instance_diff(None, row)`` (for an
    update restricted to ``fields``), built by ``row_changes``.
    """
    instances = list(instances)
    if not instances:
        return 0
    context = _context_now()
    villages = _villages_of(instances)
    content_types = {model: ContentType.objects.get_for_model(model).pk for model in {type(i) for i in instances}}
    entries: list[tuple[Any, ...]] = []
    for instance in instances:
        pk = instance.pk
        area_id, province_id = place_of(instance, villages)
        entries.append(
            _entry(
                context,
                content_types[type(instance)],
                pk,
                describe(instance),
                action,
                row_changes(instance, fields=fields),
                area_id,
                province_id,
            )
        )
    _add_entries(entries, len(entries))
    return len(entries)


def record_created(
    model: type[models.Model],
    *,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    villages: dict[tuple[str, int], int] | None = None,
) -> int:
    """Record rows of ``model`` just inserted in bulk from plain values: one creation entry each, as a save writes it.

    ``columns`` names each value of a row by attname (the primary key among them) and must cover
    every concrete field: a row holds what the new row holds, defaults and creation times included
    (as ``fieldteam.imports.bulk._insert_rows`` writes them). The entries are those
    ``record_bulk`` writes for the same rows as model instances, built without making any instance
    (the import of a province writes hundreds of thousands of them). ``villages``: the village of
    related rows the caller just inserted, by (relation, id), as ``place_of`` takes it; the others
    are read. Returns the number recorded.
    """
    if not rows:
        return 0
    position = {name: index for index, name in enumerate(columns)}
    missing = [f.attname for f in model._meta.concrete_fields if f.attname not in position]
    if missing:
        raise ValueError(f"record_created needs every column of {model.__name__}; missing: {missing}")
    name = model.__name__
    if name not in PERSONAL_MODELS or not (name in _PLACED_BY_VILLAGE or name in _VILLAGE_VIA):
        # Described by ``str()`` or placed through a related area: those need the instance.
        return record_bulk([model(**dict(zip(columns, row, strict=True))) for row in rows], action=_CREATE, fields=None)
    changes_of = json_writer(changes_plan(model, None), position)  # the changes as JSON text, once per row
    pk_at = position[model._meta.pk.attname]
    province_at = position.get("province_id")
    places = _row_places(name, position, rows, villages or {})
    context = _context_now()
    content_type_id = ContentType.objects.get_for_model(model).pk
    prefix = f"{model._meta.verbose_name} #"  # as ``describe`` names a row about a person

    def entries() -> Iterator[tuple[Any, ...]]:
        # Made as they are written: the entries of a province's import are never all held at once.
        for row, area_id in zip(rows, places, strict=True):
            pk = row[pk_at]
            province_id = row[province_at] if province_at is not None else None
            yield _entry(context, content_type_id, pk, f"{prefix}{pk}", _CREATE, changes_of(row), area_id, province_id)

    _add_entries(entries(), len(rows))
    return len(rows)


# Models filed under their own village column (``place_of``).
_PLACED_BY_VILLAGE = ("Resident", "Household", "AssistanceLog", "TrainingSession")
_CREATE = 0  # AuditEntry.Action.CREATE (django-auditlog's value; the model is not importable here at load)


def _row_places(
    name: str, position: dict[str, int], rows: Sequence[Sequence[Any]], known: dict[tuple[str, int], int]
) -> list[Any]:
    """The area id each row's entry is filed under, as ``place_of`` finds it for the same row.

    ``known``: villages of related rows by (relation, id), not read again.
    """
    if name in _PLACED_BY_VILLAGE:
        village_at = position["village_id"]
        return [row[village_at] for row in rows]
    relation = _VILLAGE_VIA[name]
    via = [(relation, position[f"{relation}_id"])]
    if name == "Adoption":
        via.append(("household", position["household_id"]))
    keys: list[tuple[str, Any]] = []
    for row in rows:
        # An adoption is filed through its resident, or its household when it has no resident.
        chosen = via[0] if row[via[0][1]] or len(via) == 1 else via[1]
        keys.append((chosen[0], row[chosen[1]]))
    wanted: dict[str, set[Any]] = {}
    for key in keys:
        if key not in known:
            wanted.setdefault(key[0], set()).add(key[1])
    meta = apps.get_model("fieldteam", name)._meta
    villages = _lookup_villages(wanted, {r: meta.get_field(r).related_model for r in wanted}) if wanted else {}
    return [known[key] if key in known else villages[key] for key in keys]


@dataclass(frozen=True)
class _EntryContext:
    actor_id: Any
    actor_email: Any
    remote_addr: Any
    remote_port: Any
    cid: str | None
    timestamp: Any


def _context_now() -> _EntryContext:
    actor, remote_addr, remote_port, cid = entry_context()
    return _EntryContext(
        getattr(actor, "pk", None), getattr(actor, "email", None), remote_addr, remote_port, cid, timezone.now()
    )


# The columns of an entry as the bulk writer takes them, in the order ``_entry`` gives them.
_ENTRY_COLUMNS = (
    "content_type_id",
    "object_pk",
    "object_id",
    "object_repr",
    "action",
    "changes",
    "changes_text",
    "actor_id",
    "actor_email",
    "remote_addr",
    "remote_port",
    "cid",
    "timestamp",
    "area_id",
    "province_id",
)


def _entry(
    context: _EntryContext,
    content_type_id: int,
    pk: Any,
    object_repr: str,
    action: int,
    changes: dict[str, Any] | str | None,
    area_id: Any,
    province_id: Any,
) -> tuple[Any, ...]:
    """One entry's values, in ``_ENTRY_COLUMNS`` order (what ``log_create`` would set on the entry).

    ``changes``: a dict, or the JSON text of one (``record_created`` writes it directly).
    """
    return (
        content_type_id,
        str(pk),
        pk if isinstance(pk, int) else None,
        object_repr,
        action,
        changes,
        "",
        context.actor_id,
        context.actor_email,
        context.remote_addr,
        context.remote_port,
        context.cid,
        context.timestamp,
        area_id,
        province_id,
    )


def _add_entries(entries: Iterable[tuple[Any, ...]], count: int) -> None:
    """Write the ``count`` entries now, or hold them for the end of the open ``collected`` block.

    Written now, they are consumed as they go in: nothing else may use the connection meanwhile.
    """
    pending = _collected.get()
    if pending is not None:
        pending.extend(entries)
    elif count:
        _write_entries(entries, count)


# From this many entries PostgreSQL takes them through ``COPY`` (one more round trip than an INSERT,
# then several times faster per row); fewer go in one multi-row INSERT.
COPY_FROM = 200
INSERT_BATCH = 2000


# PostgreSQL's names of the trail's column types, for binary COPY.
_COPY_TYPES = {
    "integer": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "varchar": "varchar",
    "text": "text",
    "jsonb": "jsonb",
    "inet": "inet",
    "timestamp with time zone": "timestamptz",
}


@functools.lru_cache(maxsize=64)
def _ip_address(address: str) -> Any:
    return ipaddress.ip_address(address)


class _ChangesDumper(JsonbBinaryDumper):
    """An entry's changes for binary COPY: JSON text as it comes (``record_created``), a dict by ``json.dumps``."""

    def dump(self, obj: Any) -> Buffer | None:
        if obj.__class__ is str:
            return b"\x01" + obj.encode()  # jsonb's binary form: a version byte, then the text
        return super().dump(obj)


def _write_entries(entries: Iterable[tuple[Any, ...]], count: int) -> None:
    """Insert the ``count`` entries (``_ENTRY_COLUMNS`` values) into the trail, in the current transaction."""
    if connection.vendor == "postgresql" and count >= COPY_FROM:
        meta = AuditEntry._meta
        columns = [meta.get_field(name) for name in _ENTRY_COLUMNS]  # by attname
        names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        # Binary: psycopg's C dumpers write the ints and times; jsonb takes the changes as JSON text
        # (written once per entry, or by json.dumps: the field has no encoder) and inet an address object.
        types = [
            _COPY_TYPES[(f.target_field if f.is_relation else f).db_type(connection).split("(")[0]] for f in columns
        ]
        address_at = _ENTRY_COLUMNS.index("remote_addr")
        statement = f"COPY {connection.ops.quote_name(meta.db_table)} ({names}) FROM STDIN (FORMAT BINARY)"
        copy_in(
            statement,
            functools.partial(_copy_entries, types=types, address_at=address_at, entries=entries),
            prepare=_register_changes_dumper,
        )
        return
    # Elsewhere (and for a few entries) one INSERT run over the rows, each value prepared as the
    # field would prepare it for a save, but only where the database needs it (times, JSON).
    meta = AuditEntry._meta
    fields = [meta.get_field(name) for name in _ENTRY_COLUMNS]
    prepared = {i: f for i, f in enumerate(fields) if f.get_internal_type() in ("JSONField", "DateTimeField")}
    names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    statement = f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({names}) VALUES ({placeholders})"  # noqa: S608
    batch: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for entry in entries:
            batch.append(
                tuple(
                    prepared[i].get_db_prep_save(_as_json_value(value), connection) if i in prepared else value
                    for i, value in enumerate(entry)
                )
            )
            if len(batch) == INSERT_BATCH:
                cursor.executemany(statement, batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)


def _as_json_value(value: Any) -> Any:
    """A value as its field takes it: changes given as JSON text (``record_created``) read back into a dict."""
    return json.loads(value) if value.__class__ is str else value  # the only text among them is the changes'


def _register_changes_dumper(cursor: Any) -> None:
    # By type name only: used by this COPY (``set_types``), no other query of the cursor.
    cursor.adapters.register_dumper(None, _ChangesDumper)


def _copy_entries(copy: Any, types: list[str], address_at: int, entries: Iterable[tuple[Any, ...]]) -> None:
    """Write the entries into the trail's binary ``COPY``: the address as an address object, for ``inet``."""
    copy.set_types(types)
    write = copy.write_row
    for entry in entries:
        address = entry[address_at]
        if address is not None:
            entry = (*entry[:address_at], _ip_address(address), *entry[address_at + 1 :])
        write(entry)


def record_access(*, actor: Any, instance: models.Model, fields: list[str], purpose: str = "") -> None:
    """Record that ``actor`` saw the unmasked ``fields`` of ``instance`` (a resident's identifiers)."""
    _write_entry(actor, instance, AuditEntry.Action.ACCESS, {"fields": fields, "purpose": purpose})


def record_event(
    *, actor: Any, instance: models.Model, action: int, note: str, data: dict[str, Any] | None = None
) -> None:
    """Record an act on ``instance`` that is not a plain field change (an erasure, a data export)."""
    _write_entry(actor, instance, action, {"event": note, **(data or {})})


def _write_entry(actor: Any, instance: models.Model, action: int, additional_data: dict[str, Any]) -> None:
    area_id, province_id = place_of(instance)
    remote_addr, remote_port = _request_address()
    AuditEntry.objects.create(
        content_type=ContentType.objects.get_for_model(type(instance)),
        object_pk=str(instance.pk),
        object_id=instance.pk if isinstance(instance.pk, int) else None,
        object_repr=describe(instance),
        action=action,
        actor=actor,
        actor_email=getattr(actor, "email", None),
        remote_addr=remote_addr,
        remote_port=remote_port,
        cid=get_cid(),
        area_id=area_id,
        province_id=province_id,
        additional_data=additional_data,
    )


def check_free_text(*, field: str, text: str) -> None:
    """Refuse a reason or purpose written into the trail that holds a citizen ID or phone number.

    The trail is kept for good and never rewritten, so it must not take identifiers in free text.
    """
    if _IDENTIFIER_LIKE.search(text or ""):
        raise field_error(
            field,
            _("Do not write citizen IDs or phone numbers here: the audit trail keeps this text for good."),
            code="identifier_in_text",
        )
