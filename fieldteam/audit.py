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
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar

from auditlog.cid import get_cid
from auditlog.context import auditlog_value, set_actor
from auditlog.diff import model_instance_diff
from auditlog.middleware import AuditlogMiddleware
from auditlog.registry import auditlog
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.errors import field_error

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
    from fieldteam import models as m

    person = {"mask_callable": "fieldteam.audit.hide"}
    auditlog.register(
        m.Resident,
        exclude_fields=_NOT_RECORDED,
        mask_fields=["full_name", "birth_date", "birth_year", "ethnicity", *m.Resident.IDENTIFIER_FIELDS],
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
        return instance.village_id, province_id  # type: ignore[attr-defined]
    relation = _VILLAGE_VIA.get(name)
    if relation is not None:
        if name == "Adoption" and not instance.resident_id:  # type: ignore[attr-defined]
            relation = "household"
        key = (relation, getattr(instance, f"{relation}_id"))
        if villages is not None and key in villages:
            return villages[key], province_id
        return getattr(instance, relation).village_id, province_id
    if name in ("Target", "IndicatorValue", "AreaRole"):
        return instance.area_id, instance.area.province_id  # type: ignore[attr-defined]
    if name == "Team":
        return None, province_id
    if name == "Membership":
        return None, instance.team.province_id  # type: ignore[attr-defined]
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
        if relation == "resident" and not instance.resident_id:  # type: ignore[attr-defined]
            relation = "household"
        field = type(instance)._meta.get_field(relation)
        if field.is_cached(instance):
            continue
        wanted.setdefault(relation, set()).add(getattr(instance, f"{relation}_id"))
        related[relation] = field.related_model  # the instances may be of several models
    found: dict[tuple[str, int], int] = {}
    for relation, ids in wanted.items():
        for pk, village_id in related[relation].objects.filter(pk__in=ids).values_list("pk", "village_id"):
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
    """django-auditlog's middleware, marking while its context is open (see ``current_actor``)."""

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
    from fieldteam.models import AuditEntry

    entries: list[Any] = []
    token = _collected.set(entries)
    try:
        yield
    finally:
        _collected.reset(token)
    if entries:  # not reached when the block raised
        AuditEntry.objects.bulk_create(entries, batch_size=2000)


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
    model.objects.bulk_create([instance])  # type: ignore[attr-defined]
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
    return found[0], found[1]


def entry_context() -> tuple[Any, Any, Any, str | None]:
    """Whom and where entries written now come from: (actor, remote address, remote port, correlation id)."""
    remote_addr, remote_port = _request_address()
    return current_actor(), remote_addr, remote_port, get_cid()


def record_bulk(instances: Iterable[models.Model], *, action: int, fields: list[str] | None = None) -> int:
    """Record a bulk write that fired no signals: one entry per row, the same as a single save would.

    ``action`` is ``AuditEntry.Action.CREATE`` or ``UPDATE``; for an update, ``fields`` names the
    columns written (their new values are recorded, masked where personal). Returns the number of
    entries recorded (written now, or at the end of the open ``collected`` block).
    """
    from fieldteam.models import AuditEntry

    actor, remote_addr, remote_port, cid = entry_context()
    now = timezone.now()
    entries: list[AuditEntry] = []
    content_types: dict[type, ContentType] = {}
    instances = list(instances)
    villages = _villages_of(instances) if instances else {}
    for instance in instances:
        model = type(instance)
        if model not in content_types:
            content_types[model] = ContentType.objects.get_for_model(model)
        area_id, province_id = place_of(instance, villages)
        # Old values are not at hand in a bulk write: an update records the new ones.
        changes = model_instance_diff(None, instance, fields_to_check=fields, use_json_for_changes=True)
        pk = instance.pk
        entries.append(
            AuditEntry(
                content_type=content_types[model],
                object_pk=str(pk),
                object_id=pk if isinstance(pk, int) else None,
                object_repr=describe(instance),
                action=action,
                changes=changes or None,
                actor=actor,
                actor_email=getattr(actor, "email", None),
                remote_addr=remote_addr,
                remote_port=remote_port,
                cid=cid,
                timestamp=now,
                area_id=area_id,
                province_id=province_id,
            )
        )
    pending = _collected.get()
    if pending is not None:
        pending.extend(entries)
    elif entries:
        AuditEntry.objects.bulk_create(entries, batch_size=2000)
    return len(entries)


def record_access(*, actor: Any, instance: models.Model, fields: list[str], purpose: str = "") -> None:
    """Record that ``actor`` saw the unmasked ``fields`` of ``instance`` (a resident's identifiers)."""
    from fieldteam.models import AuditEntry

    _write_entry(actor, instance, AuditEntry.Action.ACCESS, {"fields": fields, "purpose": purpose})


def record_event(
    *, actor: Any, instance: models.Model, action: int, note: str, data: dict[str, Any] | None = None
) -> None:
    """Record an act on ``instance`` that is not a plain field change (an erasure, a data export)."""
    _write_entry(actor, instance, action, {"event": note, **(data or {})})


def _write_entry(actor: Any, instance: models.Model, action: int, additional_data: dict[str, Any]) -> None:
    from fieldteam.models import AuditEntry

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
