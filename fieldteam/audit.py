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
import operator
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

from auditlog.cid import get_cid
from auditlog.context import auditlog_value, set_actor
from auditlog.diff import get_field_value, get_mask_function, track_field
from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection, models
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.encoding import smart_str
from django.utils.translation import gettext_lazy as _

from fieldteam import models as m
from fieldteam.client_address import client_address, client_port, valid_address, valid_port
from fieldteam.errors import field_error
from fieldteam.models import AuditEntry
from fieldteam.models.audit import EntryHooks, install_entry_hooks

P = ParamSpec("P")
R = TypeVar("R")

HIDDEN = "***"
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
_NOT_RECORDED = ["capability_mask", "birth_month_index", "created_at", "updated_at"]


def hide(value: str) -> str:
    """django-auditlog's mask callable: a personal value is replaced whole, not half-starred."""
    return HIDDEN


def register_models() -> None:
    """Put the models the trail covers under django-auditlog (called once, from the app config)."""
    install_entry_hooks(EntryHooks(place_of=place_of, describe=describe))
    person = {"mask_callable": "fieldteam.audit.hide"}
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
    if name == "Plan":  # a province's plan, and its targets: filed under the province
        return instance.province_id, instance.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
    if name == "PlanTarget":
        province_id = instance.plan.province_id  # type: ignore[attr-defined]  # audited models are told apart by class name above
        return province_id, province_id
    if name in ("Target", "IndicatorValue", "AreaRole"):
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
        field = type(instance)._meta.get_field(relation)
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
    library's registry (``_plan``), not by the library's diff on every row, which cost a bulk
    import most of its time; ``tests/privacy/test_audit_bulk.py`` holds the two equal for every
    registered model.
    """
    plan = _plan(type(instance), fields)
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


def record_created(model: type[models.Model], *, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Record rows of ``model`` just inserted in bulk from plain values: one creation entry each, as a save writes it.

    ``columns`` names each value of a row by attname (the primary key among them) and must cover
    every concrete field: a row holds what the new row holds, defaults and creation times included
    (as ``fieldteam.imports.bulk._insert_rows`` writes them). The entries are those
    ``record_bulk`` writes for the same rows as model instances, built without making any instance
    (the import of a province writes hundreds of thousands of them). Returns the number recorded.
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
    plan = _plan(model, None)
    read = _row_reader(plan, position)
    pk_at = position[model._meta.pk.attname]
    province_at = position.get("province_id")
    places = _row_places(name, position, rows)
    context = _context_now()
    content_type_id = ContentType.objects.get_for_model(model).pk
    prefix = f"{model._meta.verbose_name} #"  # as ``describe`` names a row about a person
    diff = plan.diff

    def entries() -> Iterator[tuple[Any, ...]]:
        # Made as they are written: the entries of a province's import are never all held at once.
        for row, area_id in zip(rows, places, strict=True):
            pk = row[pk_at]
            province_id = row[province_at] if province_at is not None else None
            yield _entry(context, content_type_id, pk, f"{prefix}{pk}", _CREATE, diff(read(row)), area_id, province_id)

    _add_entries(entries(), len(rows))
    return len(rows)


# Models filed under their own village column (``place_of``).
_PLACED_BY_VILLAGE = ("Resident", "Household", "AssistanceLog", "TrainingSession")
_CREATE = 0  # AuditEntry.Action.CREATE (django-auditlog's value; the model is not importable here at load)


def _row_places(name: str, position: dict[str, int], rows: Sequence[Sequence[Any]]) -> list[Any]:
    """The area id each row's entry is filed under, as ``place_of`` finds it for the same row."""
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
    for relation_name, related_id in keys:
        wanted.setdefault(relation_name, set()).add(related_id)
    meta = apps.get_model("fieldteam", name)._meta
    villages = _lookup_villages(wanted, {r: meta.get_field(r).related_model for r in wanted})
    return [villages[key] for key in keys]


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
    changes: dict[str, Any] | None,
    area_id: Any,
    province_id: Any,
) -> tuple[Any, ...]:
    """One entry's values, in ``_ENTRY_COLUMNS`` order (what ``log_create`` would set on the entry)."""
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


def _write_entries(entries: Iterable[tuple[Any, ...]], count: int) -> None:
    """Insert the ``count`` entries (``_ENTRY_COLUMNS`` values) into the trail, in the current transaction."""
    if connection.vendor == "postgresql" and count >= COPY_FROM:
        meta = AuditEntry._meta
        columns = [meta.get_field(name) for name in _ENTRY_COLUMNS]  # by attname
        names = ", ".join(connection.ops.quote_name(f.column) for f in columns)
        # Binary: psycopg's C dumpers write the ints and times; jsonb takes the changes as json.dumps
        # writes them (the field has no encoder) and inet an address object.
        types = [
            _COPY_TYPES[(f.target_field if f.is_relation else f).db_type(connection).split("(")[0]] for f in columns
        ]
        address_at = _ENTRY_COLUMNS.index("remote_addr")
        statement = f"COPY {connection.ops.quote_name(meta.db_table)} ({names}) FROM STDIN (FORMAT BINARY)"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            copy.set_types(types)
            write = copy.write_row
            for entry in entries:
                address = entry[address_at]
                if address is not None:
                    entry = (*entry[:address_at], _ip_address(address), *entry[address_at + 1 :])
                write(entry)
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
                    prepared[i].get_db_prep_save(value, connection) if i in prepared else value
                    for i, value in enumerate(entry)
                )
            )
            if len(batch) == INSERT_BATCH:
                cursor.executemany(statement, batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)


# --- the changes of an entry, as django-auditlog's diff writes them ----------------------------------

_PRIMITIVE = (type(None), bool, int, float, str, list, tuple, dict, set)  # auditlog.diff.is_primitive's
_PLAIN = frozenset({str, int, bool})  # the primitives most values are, checked first


@dataclass(frozen=True)
class _Logged:
    """A field a model's entries record, and how ``get_field_value`` reads it (``kind``)."""

    name: str
    attname: str
    field: Any
    kind: str  # "value", "fk", "datetime", "json", "related" (same for every row: ``constant``) or "library"
    masked: bool
    constant: Any = None


@dataclass(frozen=True)
class _Plan:
    """What the entries of one model record, read once from django-auditlog's registry and settings."""

    logged: tuple[_Logged, ...]
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


def _field_value(logged: _Logged, value: Any) -> Any:
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


_plans: dict[tuple[type[models.Model], frozenset[str] | None], _Plan] = {}


def _plan(model: type[models.Model], fields: Iterable[str] | None) -> _Plan:
    key = (model, frozenset(fields) if fields else None)
    plan = _plans.get(key)
    if plan is None:
        plan = _plans[key] = _build_plan(model, key[1])
    return plan


def _build_plan(model: type[models.Model], fields_to_check: frozenset[str] | None) -> _Plan:
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
        logged.append(_Logged(field.name, attname, field, kind, field.name in model_fields["mask_fields"], constant))
    hidden = (HIDDEN, HIDDEN) if mask is hide else None
    return _Plan(tuple(logged), mask, hidden)


def _row_reader(plan: _Plan, position: dict[str, int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A function giving, from a row of values, the plan's values in its order."""
    if any(logged.kind == "library" for logged in plan.logged):
        raise ValueError("a field read through the library needs the model instance")
    # "related" values are the plan's constant: any column will do as the placeholder.
    indices = [position[logged.attname] if logged.kind != "related" else 0 for logged in plan.logged]
    if len(indices) == 1:
        index = indices[0]
        return lambda row: (row[index],)
    return operator.itemgetter(*indices)


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
