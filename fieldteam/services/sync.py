"""Offline batch sync: households, residents, assistance logs and training sessions made on a phone.

The contract (the mobile web relies on it)::

    request  {"items": [{"kind": "household" | "resident" | "assistance_log" | "training_session",
                         "client_id": "<uuid>", "data": {...}}, ...]}          at most 500 items
    response {"results": [{"client_id": "<uuid>", "kind": "...",
                           "status": "created" | "already_received" | "conflict" | "rejected",
                           "id": "<server id>" | null, "errors": {"<field>": ["<message>"]}}, ...]}

- Each item is applied in its own transaction, in order, and gets its own result; a rejected item
  never blocks the others, and nothing of it is saved.
- Idempotent through ``SyncReceipt``, written in the item's transaction: the same client id with
  the same content (same kind and data, compared by hash) is "already received" and nothing
  happens twice; the same id with other content (or from another user) is a "conflict", reported
  and never merged.
- A later item may refer to an earlier one (of this batch or of an earlier one) by its client id:
  a resident to its household, a log to its resident or household, a session to its attendees.
- Assistance logs and training sessions take the client id as their primary key.

Only the envelope can fail the whole request (``sync_batch`` raises ``ValidationError``: not a
list, more than ``MAX_BATCH_ITEMS`` items, an item that is not an object). Writes go through the
services of each subject, which check scope and write rights, so sync can do nothing the single
endpoints could not.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar, cast

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.choices import AssistanceChannel, AssistanceOutcome, ConsentChannel, ConsentPurpose, NotDoneReason, Sex
from fieldteam.models import (
    Area,
    AssistanceLog,
    Capability,
    Household,
    Resident,
    SyncReceipt,
    Team,
    TrainingSession,
    User,
)
from fieldteam.selectors.field_work import teams_visible
from fieldteam.selectors.people import households_visible, residents_visible
from fieldteam.selectors.scope import scope_for
from fieldteam.services import log_statement, people
from fieldteam.services.assistance import (
    CLOCK_SKEW_TOLERANCE,
    ItemInput,
    clean_log_content,
    content_hash,
    ensure_may_write,
    log_assistance_within,
)
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, DEFAULT_PURPOSES, ConsentInput
from fieldteam.services.training import record_training_session_within

logger = logging.getLogger(__name__)

MAX_BATCH_ITEMS = 500
MAX_LOG_ITEMS = 50
MAX_ATTENDEES = 500
NON_FIELD = "non_field_errors"
# NUL and lone surrogates: no database column can store them (PostgreSQL refuses them outright).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

HOUSEHOLD = "household"
RESIDENT = "resident"
ASSISTANCE_LOG = "assistance_log"
TRAINING_SESSION = "training_session"
KINDS = (HOUSEHOLD, RESIDENT, ASSISTANCE_LOG, TRAINING_SESSION)

CREATED = "created"
ALREADY_RECEIVED = "already_received"
CONFLICT = "conflict"
REJECTED = "rejected"
STATUSES = (CREATED, ALREADY_RECEIVED, CONFLICT, REJECTED)


def messages_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """A ``ValidationError``'s translated messages by field; errors of no field under ``non_field_errors``."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if name == NON_FIELD_ERRORS else name): [str(m) for m in messages]
            for name, messages in exc.message_dict.items()
        }
    return {NON_FIELD: [str(m) for m in exc.messages]}


def codes_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """The stable codes of a ``ValidationError``'s messages, keyed like ``messages_by_field``."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if name == NON_FIELD_ERRORS else name): [e.code or "invalid" for e in errors]
            for name, errors in exc.error_dict.items()
        }
    return {NON_FIELD: [e.code or "invalid" for e in exc.error_list]}


@dataclass
class ItemResult:
    """The result of one item, in the shape of the contract."""

    client_id: str | None
    kind: str
    status: str
    id: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Not part of the contract: for the single endpoints, which answer with the error codes too,
    # and with the object created.
    codes: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    created: Any = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, object]:
        return {
            "client_id": self.client_id,
            "kind": self.kind,
            "status": self.status,
            "id": self.id,
            "errors": self.errors,
        }


class _Batch:
    """What the items of one request share: the actor, the client ids received so far, a few lookups."""

    def __init__(self, actor: User, *, deferred_flush: bool = False) -> None:
        self.actor = actor
        self.refs: dict[uuid.UUID, tuple[str, str]] = {}
        # Households created by this batch, by client id: a resident of the same batch joins one
        # without reading it back.
        self.households: dict[uuid.UUID, Household] = {}
        # Receipts of the batch's client ids, read in one query before the items (``None``: not read).
        self.receipts: dict[uuid.UUID, SyncReceipt] | None = None
        # PostgreSQL: each item commits without waiting for its WAL flush; one flush at the end.
        self.deferred_flush = deferred_flush and connection.vendor == "postgresql"
        self.last_created: uuid.UUID | None = None
        self._capabilities: dict[str, Capability] | None = None
        self._teams: dict[int, Team | None] = {}
        self._team_paths: dict[int, list[str]] = {}
        self._areas: dict[int, Area | None] = {}

    def capabilities(self) -> dict[str, Capability]:
        if self._capabilities is None:
            self._capabilities = {c.code: c for c in Capability.objects.all()}
        return self._capabilities

    def team(self, team_id: int) -> Team | None:
        if team_id not in self._teams:
            scope = scope_for(self.actor)
            founded_on = scope.founding_of_team(team_id)
            if founded_on is not None:
                # The actor's own (active) team, as read with the scope: what the checks of team
                # work need; any other field is loaded if something asks for it.
                known = {"id": team_id, "founded_on": founded_on, "is_active": True}
                names = [f.attname for f in Team._meta.concrete_fields if f.attname in known]  # in the model's order
                self._teams[team_id] = Team.from_db(connection.alias, names, [known[name] for name in names])
                return self._teams[team_id]
            # The actor's own teams are visible by definition: a plain lookup, no scope subquery.
            own = team_id in scope.team_ids
            teams = Team.objects.all() if own else teams_visible(user=self.actor)
            try:  # ``get``, not ``first``: no ORDER BY to build and run
                self._teams[team_id] = teams.get(pk=team_id)
            except Team.DoesNotExist:
                self._teams[team_id] = None
        return self._teams[team_id]

    def team_paths(self, team: Team) -> list[str]:
        """The paths of the areas ``team`` serves (one query per team and batch)."""
        if team.pk not in self._team_paths:
            known = scope_for(self.actor).paths_of_team(team.pk)  # the actor's own team: read with the scope
            self._team_paths[team.pk] = (
                list(known) if known is not None else list(team.areas.values_list("path", flat=True))
            )
        return self._team_paths[team.pk]

    def area(self, area_id: int) -> Area | None:
        if area_id not in self._areas:
            area = Area.objects.filter(pk=area_id).first()
            self._areas[area_id] = area if area is not None and scope_for(self.actor).contains(area) else None
        return self._areas[area_id]

    def created(self, client_id: uuid.UUID, kind: str, obj: Any, receipt: SyncReceipt | None) -> ItemResult:
        """Remember an item just created (later items may refer to it, or repeat it) and give its result."""
        self.refs[client_id] = (kind, str(obj.pk))
        if kind == HOUSEHOLD:
            self.households[client_id] = obj
        self.last_created = client_id
        if self.receipts is not None and receipt is not None:  # the same id again later in this batch is a resend
            self.receipts[client_id] = receipt
        return ItemResult(str(client_id), kind, CREATED, str(obj.pk), created=obj)

    def object_id(self, client_id: uuid.UUID, kind: str) -> str | None:
        """The server id of an item received earlier under ``client_id`` (this batch or before)."""
        known = self.refs.get(client_id)
        if known is not None:
            return known[1] if known[0] == kind else None
        return SyncReceipt.objects.filter(pk=client_id, kind=kind).values_list("object_id", flat=True).first()


# --- reading the data of an item ----------------------------------------------------------------


class _Reader:
    """Reads the fields of one item's data, collecting every problem before raising them together."""

    def __init__(self, data: dict[str, Any], allowed: set[str]) -> None:
        self.data = data
        self.errors: dict[str, list[ValidationError]] = {}
        for key in data:
            if key not in allowed:
                self.error(str(key), _("Unknown field."), "unknown_field")

    def error(self, name: str, message: Any, code: str, params: dict[str, Any] | None = None) -> None:
        self.errors.setdefault(name, []).append(ValidationError(message, code=code, params=params))

    def check(self) -> None:
        if self.errors:
            raise ValidationError(self.errors)

    def _value(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            self.error(name, _("This field is required."), "required")
        return value

    def text(self, name: str, *, max_length: int, required: bool = False) -> str:
        value = self._value(name, required)
        if value is None:
            return ""
        if not isinstance(value, str):
            self.error(name, _("Enter text."), "invalid")
            return ""
        if _UNSTORABLE.search(value):
            self.error(name, _("Remove the control characters from this text."), "invalid")
            return ""
        if len(value) > max_length:
            self.error(name, _("Keep this under %(limit)s characters."), "too_long", {"limit": max_length})
            return ""
        if required and not value.strip():
            self.error(name, _("This field is required."), "required")
        return value

    def choice_value(self, label: str, value: Any, choices: list[str], *, required: bool = False) -> str:
        if value is None or value == "":
            if required:
                self.error(label, _("This field is required."), "required")
            return ""
        if not isinstance(value, str) or value not in choices:
            self.error(label, _("Choose one of: %(choices)s."), "invalid_choice", {"choices": ", ".join(choices)})
            return ""
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._value(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(name, _("Enter a whole number."), "invalid")
            return None
        if not -(2**31) < value < 2**31:
            self.error(name, _("This number is out of range."), "range")
            return None
        return value

    def id_value(self, label: str, value: Any) -> int | uuid.UUID | None:
        """A server id (a positive integer) or the client id (a UUID) of an item sent earlier."""
        if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63:
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.error(label, _("Give a server id or the client id of an item sent earlier."), "invalid")
        return None

    def reference(self, name: str, *, required: bool = False) -> int | uuid.UUID | None:
        value = self._value(name, required)
        return None if value is None else self.id_value(name, value)

    def positive_id(self, name: str, message: Any) -> int | None:
        """A required server id (a positive integer)."""
        value = self._value(name, True)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
            self.error(name, message, "invalid")
            return None
        return value

    def date(self, name: str) -> date | None:
        value = self._value(name, False)
        if value is None:
            return None
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_date(value)
            except ValueError:
                parsed = None
        if parsed is None:
            self.error(name, _("Enter a date as YYYY-MM-DD."), "invalid")
        return parsed

    def datetime(self, name: str, *, required: bool = False) -> datetime | None:
        value = self._value(name, required)
        if value is None:
            return None
        parsed = None
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value)
            except (ValueError, OverflowError):
                parsed = None
        if parsed is None:
            self.error(name, _("Enter a date and time in ISO 8601, e.g. 2026-03-01T09:30:00+07:00."), "invalid")
            return None
        if timezone.is_naive(parsed):
            try:
                parsed = timezone.make_aware(parsed)
            except (ValueError, OverflowError):
                self.error(name, _("This time does not exist in the local time zone."), "invalid")
                return None
        try:
            parsed.astimezone(timezone.get_current_timezone())
        except (ValueError, OverflowError):
            self.error(name, _("This date is out of range."), "range")
            return None
        return parsed

    def items_list(self, name: str, *, required: bool, limit: int) -> list[Any]:
        value = self._value(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(name, _("Send a list."), "invalid")
            return []
        if len(value) > limit:
            self.error(name, _("At most %(limit)s entries."), "too_many", {"limit": limit})
            return []
        return value


_NOT_FOUND = {
    HOUSEHOLD: _("No such household in your areas."),
    RESIDENT: _("No such resident in your areas."),
    "village": _("No such village in your areas."),
    "team": _("No such team among yours."),
}


def _missing(kind: str) -> ValidationError:
    return ValidationError(_NOT_FOUND[kind], code="does_not_exist")


def _not_found(name: str, kind: str) -> ValidationError:
    return ValidationError({name: [_missing(kind)]})


def _resolve(batch: _Batch, name: str, ref: int | uuid.UUID, kind: str, *, lock: bool = False) -> Household | Resident:
    """The household or resident a reference names, in the actor's scope, else a field error.

    ``lock``: read it under its row lock (``SELECT … FOR UPDATE``), for a write that changes it.
    """
    if isinstance(ref, uuid.UUID):
        if kind == HOUSEHOLD and not lock and ref in batch.households:
            return batch.households[ref]  # created by this batch, in the actor's scope
        object_id = batch.object_id(ref, kind)
        if object_id is None:
            raise _not_found(name, kind)
        ref = int(object_id)
    queryset = households_visible(user=batch.actor) if kind == HOUSEHOLD else residents_visible(user=batch.actor)
    if lock:
        queryset = queryset.select_for_update(of=("self",))  # the subject only, never its village
    try:  # ``get``, not ``first``: no ORDER BY to build and run
        return queryset.get(pk=ref)
    except queryset.model.DoesNotExist:
        raise _not_found(name, kind) from None


def _team(batch: _Batch, reader: _Reader, *, look_up: bool = True) -> Team | None:
    """The item's team; ``look_up=False``: only its id, for a caller that checks the team itself."""
    team_id = reader.positive_id("team", _("Give the id of a team."))
    if team_id is None:
        return None
    if not look_up:
        return Team(id=team_id)
    team = batch.team(team_id)
    if team is None:
        reader.errors.setdefault("team", []).append(_missing("team"))
    return team


def _village(batch: _Batch, reader: _Reader) -> Area | None:
    area_id = reader.positive_id("village", _("Give the id of an area."))
    if area_id is None:
        return None
    area = batch.area(area_id)
    if area is None:
        reader.errors.setdefault("village", []).append(_missing("village"))
    return area


# --- the four kinds -------------------------------------------------------------------------------

Service = TypeVar("Service", bound=Callable[..., Any])


def _in_item(service: Service) -> Service:
    """A ``@transaction.atomic`` service, run in the item's transaction without a savepoint of its own.

    The item's transaction is the service's: any error rolls the whole item back and nothing
    catches it inside, so a savepoint (two round trips) would guard nothing.
    """
    return cast(Service, getattr(service, "__wrapped__", service))


Applied = tuple[Any, int]  # (the object created, its province id)


def _apply_household(batch: _Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    reader = _Reader(data, {"village", "code", "head_name", "address"})
    village = _village(batch, reader)
    code = reader.text("code", max_length=40)
    head_name = reader.text("head_name", max_length=200)
    address = reader.text("address", max_length=300)
    reader.check()
    village = cast(Area, village)  # reader.check() raised if it was missing
    ensure_may_write(batch.actor, village, field="village")
    household = _in_item(people.register_household)(
        actor=batch.actor, village=village, code=code, head_name=head_name, address=address
    )
    return household, household.province_id


def _apply_resident(batch: _Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    reader = _Reader(
        data, {"household", "full_name", "sex", "birth_year", "birth_date", "citizen_id", "phone", "consent"}
    )
    household_ref = reader.reference("household", required=True)
    full_name = reader.text("full_name", max_length=200, required=True)
    sex = reader.choice_value("sex", data.get("sex"), Sex.values, required=True)
    birth_year = reader.integer("birth_year")
    birth_date = reader.date("birth_date")
    citizen_id = reader.text("citizen_id", max_length=30)
    phone = reader.text("phone", max_length=30)
    consent = _consent(reader)
    reader.check()
    household = _resolve(batch, "household", household_ref, HOUSEHOLD)  # type: ignore[arg-type]
    ensure_may_write(batch.actor, household.village, field="household")
    resident = _in_item(people.register_resident)(
        actor=batch.actor,
        household=household,  # type: ignore[arg-type]
        full_name=full_name,
        sex=sex,
        birth_year=birth_year,
        birth_date=birth_date,
        citizen_id=citizen_id,
        phone=phone,
        consent=consent,
    )
    return resident, resident.province_id


def _consent(reader: _Reader) -> ConsentInput | None:
    """The ``consent`` object of a resident item: ``{"channel", "notice_version"?, "purposes"?, "given_at"?}``."""
    raw = reader.data.get("consent")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.error("consent", _("Give the consent as an object with its channel."), "invalid")
        return None
    inner = _Reader(raw, {"channel", "notice_version", "purposes", "given_at"})
    channel = inner.choice_value("channel", raw.get("channel"), ConsentChannel.values, required=True)
    notice_version = inner.text("notice_version", max_length=20) or CURRENT_NOTICE_VERSION
    purposes = raw.get("purposes")
    if purposes is not None and (
        not isinstance(purposes, list) or not purposes or any(p not in ConsentPurpose.values for p in purposes)
    ):
        inner.error("purposes", _("Choose the purposes the resident agreed to."), "invalid_choice")
        purposes = None
    given_at = inner.datetime("given_at")
    for name, problems in inner.errors.items():
        reader.errors.setdefault(f"consent.{name}", []).extend(problems)
    if inner.errors:
        return None
    return ConsentInput(
        channel=channel,
        notice_version=notice_version,
        purposes=tuple(purposes) if purposes else DEFAULT_PURPOSES,
        given_at=given_at,
    )


def _log_items(batch: _Batch, reader: _Reader, capabilities: dict[str, Capability] | None = None) -> list[ItemInput]:
    raw_items = reader.items_list("items", required=True, limit=MAX_LOG_ITEMS)
    if "items" in reader.data and isinstance(reader.data["items"], list) and not reader.data["items"]:
        reader.error("items", _("Choose at least one thing you helped with."), "required")
    capabilities = capabilities if capabilities is not None else batch.capabilities()
    items: list[ItemInput] = []
    for position, raw in enumerate(raw_items):
        prefix = f"items[{position}]"
        if not isinstance(raw, dict):
            reader.error(prefix, _("Each item is an object with a capability and an outcome."), "invalid")
            continue
        for key in raw:
            if key not in {"capability", "outcome", "reason"}:
                reader.error(f"{prefix}.{key}", _("Unknown field."), "unknown_field")
        code = raw.get("capability")
        capability = capabilities.get(code) if isinstance(code, str) else None
        if code is None:
            reader.error(f"{prefix}.capability", _("This field is required."), "required")
        elif capability is None:
            reader.error(f"{prefix}.capability", _("Unknown capability."), "unknown_capability")
        outcome = reader.choice_value(f"{prefix}.outcome", raw.get("outcome"), AssistanceOutcome.values, required=True)
        reason = reader.choice_value(f"{prefix}.reason", raw.get("reason"), NotDoneReason.values)
        if capability is not None and outcome:
            items.append(ItemInput(capability, outcome, reason))
    return items


@dataclass(frozen=True)
class _LogData:
    """A log item's data as read (subjects still references)."""

    team: Team
    resident_ref: int | uuid.UUID | None
    household_ref: int | uuid.UUID | None
    occurred_at: datetime
    channel: str
    note: str
    items: list[ItemInput]


def _read_assistance_log(
    batch: _Batch, data: dict[str, Any], capabilities: dict[str, Capability] | None = None, *, look_up_team: bool = True
) -> _LogData:
    """Read a log item; ``capabilities``: the catalogue by code to read it with (default: the batch's).

    ``look_up_team=False``: the team is only read as an id (see ``_team``).
    """
    reader = _Reader(data, {"team", "resident", "household", "occurred_at", "channel", "note", "items"})
    team = _team(batch, reader, look_up=look_up_team)
    resident_ref = reader.reference("resident")
    household_ref = reader.reference("household")
    if data.get("resident") is None and data.get("household") is None:
        reader.error("resident", _("Choose either a resident or a household."), "one_subject")
    elif data.get("resident") is not None and data.get("household") is not None:
        reader.error("household", _("Choose either a resident or a household, not both."), "one_subject")
    occurred_at = reader.datetime("occurred_at", required=True)
    channel = reader.choice_value("channel", data.get("channel"), AssistanceChannel.values, required=True)
    note = reader.text("note", max_length=2000)
    items = _log_items(batch, reader, capabilities)
    reader.check()
    return _LogData(team, resident_ref, household_ref, occurred_at, channel, note, items)  # type: ignore[arg-type]


def _apply_assistance_log(batch: _Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    read = _read_assistance_log(batch, data)
    # Locked now, the lock the adoptions of the log's items take anyway (one query instead of two).
    resident = household = None
    if read.resident_ref is not None:
        resident = _resolve(batch, "resident", read.resident_ref, RESIDENT, lock=True)
    if read.household_ref is not None:
        household = _resolve(batch, "household", read.household_ref, HOUSEHOLD, lock=True)
    log = log_assistance_within(
        actor=batch.actor,
        team=read.team,
        occurred_at=read.occurred_at,
        channel=read.channel,
        items=read.items,
        resident=resident,  # type: ignore[arg-type]
        household=household,  # type: ignore[arg-type]
        note=read.note,
        log_id=client_id,
        content_hash=digest,
        team_paths=batch.team_paths(read.team),
        subject_locked=True,
    )
    return log, log.province_id


def _log_in_one_statement(
    batch: _Batch, client_id: uuid.UUID, kind: str, data: object, digest: str
) -> ItemResult | None:
    """A log written by ``log_statement`` (one statement); ``None`` leaves the item to the ORM path.

    Anything this cannot settle (another kind of item, input the checks refuse, a subject it
    cannot write for, a client id already taken) goes the ORM way, which answers with the error
    or finds the resend.
    """
    if kind != ASSISTANCE_LOG or not log_statement.enabled() or not isinstance(data, dict):
        return None
    if batch.receipts is not None and client_id in batch.receipts:
        return None
    actor = batch.actor
    try:
        # The catalogue as this process last read it, and the team as an id: the statement
        # confirms each capability used, the actor's membership of the team and its founding date.
        read = _read_assistance_log(batch, data, log_statement.capability_catalogue(), look_up_team=False)
        subject_kind = RESIDENT if read.resident_ref is not None else HOUSEHOLD
        note = clean_log_content(channel=read.channel, note=read.note, items=read.items, subject_field=subject_kind)
    except ValidationError:
        return None
    if read.occurred_at > timezone.now() + CLOCK_SKEW_TOLERANCE:
        return None
    ref = read.resident_ref if read.resident_ref is not None else read.household_ref
    if isinstance(ref, uuid.UUID):
        object_id = batch.object_id(ref, subject_kind)
        if object_id is None:
            return None
        ref = int(object_id)
    request = log_statement.LogRequest(
        team=read.team,
        subject_kind=subject_kind,
        subject_id=ref,  # type: ignore[arg-type]
        occurred_at=read.occurred_at,
        channel=read.channel,
        note=note,
        items=read.items,
    )
    try:
        log = log_statement.log_assistance(
            actor=actor, request=request, log_id=client_id, digest=digest, receipt_kind=ASSISTANCE_LOG
        )
    except IntegrityError:
        return None
    if log is None:
        return None
    # The receipt the statement wrote, as a batch remembers it (a single item needs none).
    receipt = (
        SyncReceipt(client_id=client_id, kind=ASSISTANCE_LOG, content_hash=digest, object_id=str(log.pk), member=actor)
        if batch.receipts is not None
        else None
    )
    return batch.created(client_id, ASSISTANCE_LOG, log, receipt)


def _attendees(batch: _Batch, reader: _Reader) -> list[Resident]:
    raw = reader.items_list("attendees", required=True, limit=MAX_ATTENDEES)
    refs: list[tuple[int, int | uuid.UUID]] = []
    for position, value in enumerate(raw):
        ref = reader.id_value(f"attendees[{position}]", value)
        if ref is not None:
            refs.append((position, ref))
    reader.check()
    ids: dict[int, int] = {}
    for position, ref in refs:
        if isinstance(ref, uuid.UUID):
            object_id = batch.object_id(ref, RESIDENT)
            if object_id is None:
                reader.errors.setdefault(f"attendees[{position}]", []).append(_missing(RESIDENT))
                continue
            ids[position] = int(object_id)
        else:
            ids[position] = ref
    found = {r.pk: r for r in residents_visible(user=batch.actor).filter(pk__in=set(ids.values()))}
    attendees: list[Resident] = []
    for position, resident_id in ids.items():
        resident = found.get(resident_id)
        if resident is None:
            reader.errors.setdefault(f"attendees[{position}]", []).append(_missing(RESIDENT))
        else:
            attendees.append(resident)
    reader.check()
    return attendees


def _apply_training_session(batch: _Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    reader = _Reader(data, {"team", "village", "topic", "started_at", "ended_at", "capability", "attendees"})
    team = _team(batch, reader)
    village = _village(batch, reader)
    topic = reader.text("topic", max_length=200, required=True)
    started_at = reader.datetime("started_at", required=True)
    ended_at = reader.datetime("ended_at")
    capability = None
    code = data.get("capability")
    if code is not None:
        capability = batch.capabilities().get(code) if isinstance(code, str) else None
        if capability is None:
            reader.error("capability", _("Unknown capability."), "unknown_capability")
    if isinstance(data.get("attendees"), list) and not data["attendees"]:
        reader.error("attendees", _("Record at least one attendee."), "required")
    reader.check()
    attendees = _attendees(batch, reader)
    session = record_training_session_within(
        actor=batch.actor,
        team=team,  # type: ignore[arg-type]
        village=village,  # type: ignore[arg-type]
        topic=topic,
        started_at=started_at,  # type: ignore[arg-type]
        ended_at=ended_at,
        capability=capability,
        attendees=attendees,
        session_id=client_id,
        content_hash=digest,
    )
    return session, session.province_id


_HANDLERS: dict[str, Callable[[_Batch, uuid.UUID, dict[str, Any], str], Applied]] = {
    HOUSEHOLD: _apply_household,
    RESIDENT: _apply_resident,
    ASSISTANCE_LOG: _apply_assistance_log,
    TRAINING_SESSION: _apply_training_session,
}
_MODELS = {ASSISTANCE_LOG: AssistanceLog, TRAINING_SESSION: TrainingSession}


# --- receiving items -------------------------------------------------------------------------------


def _earlier(batch: _Batch, client_id: uuid.UUID, kind: str, digest: str, *, fresh: bool = False) -> ItemResult | None:
    """The result of an item received before under the same client id, if any.

    Reads the receipts read for the whole batch unless ``fresh`` (after a clash with a concurrent
    request) or none were read.
    """
    if batch.receipts is not None and not fresh:
        receipt = batch.receipts.get(client_id)
    else:
        receipt = SyncReceipt.objects.filter(pk=client_id).first()
    if receipt is None:
        return None
    if receipt.member_id == batch.actor.pk and receipt.kind == kind and receipt.content_hash == digest:
        batch.refs[client_id] = (kind, receipt.object_id)
        return ItemResult(str(client_id), kind, ALREADY_RECEIVED, receipt.object_id)
    same_sender = receipt.member_id == batch.actor.pk
    return _conflict(client_id, kind, receipt.object_id if same_sender else None)


def _taken_without_receipt(client_id: uuid.UUID, kind: str) -> ItemResult | None:
    """A log or session made elsewhere (admin, import) that holds this id: a conflict, never a merge."""
    model = _MODELS.get(kind)
    if model is not None and model.objects.filter(pk=client_id).exists():
        return _conflict(client_id, kind, None)
    return None


def _conflict(client_id: uuid.UUID, kind: str, object_id: str | None) -> ItemResult:
    message = _("This client id was already used for other content; nothing was changed.")
    return ItemResult(
        str(client_id), kind, CONFLICT, object_id, {"client_id": [str(message)]}, {"client_id": ["conflict"]}
    )


def _rejected(
    client_id: object, kind: object, errors: dict[str, list[str]], codes: dict[str, list[str]] | None = None
) -> ItemResult:
    return ItemResult(
        client_id if isinstance(client_id, str) else None,
        kind if isinstance(kind, str) else "",
        REJECTED,
        None,
        errors,
        codes or {name: ["invalid"] * len(messages) for name, messages in errors.items()},
    )


def _envelope_errors(raw_id: object, kind: object, data: object) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw_id, str):
        errors["client_id"] = [str(_("Give the item's client id (a UUID)."))]
    else:
        try:
            uuid.UUID(raw_id)
        except ValueError:
            errors["client_id"] = [str(_("The client id must be a UUID."))]
    if kind not in KINDS:
        errors["kind"] = [str(_("Choose one of: %(choices)s.") % {"choices": ", ".join(KINDS)})]
    if not isinstance(data, dict):
        errors["data"] = [str(_("Send the item's data as an object."))]
    return errors


def _receive(batch: _Batch, raw_id: object, kind: object, data: object) -> ItemResult:
    errors = _envelope_errors(raw_id, kind, data)
    if errors:
        return _rejected(raw_id, kind, errors)
    client_id = uuid.UUID(raw_id)  # type: ignore[arg-type]
    kind = str(kind)
    digest = content_hash({"kind": kind, "data": data})
    written = _log_in_one_statement(batch, client_id, kind, data, digest)
    if written is not None:
        return written
    # A single item (no receipts read ahead for it) goes straight to its transaction: a resend then
    # meets its id already taken (IntegrityError) or, if its checks fail now, the receipt read
    # before answering. The rare resend pays that query, not every item.
    optimistic = batch.receipts is None
    for attempt in range(2):
        if attempt or not optimistic:
            earlier = _earlier(batch, client_id, kind, digest, fresh=attempt > 0)
            if earlier is not None:
                return earlier
        try:
            # The trail's entries of the item's rows in one insert, in the item's transaction.
            with transaction.atomic(), audit.collected():
                obj, province_id = _HANDLERS[kind](batch, client_id, data, digest)  # type: ignore[arg-type]
                receipt = SyncReceipt.objects.create(
                    client_id=client_id,
                    province_id=province_id,
                    kind=kind,
                    content_hash=digest,
                    object_id=str(obj.pk),
                    member=batch.actor,
                )
        except ValidationError as exc:
            earlier = _earlier(batch, client_id, kind, digest) if optimistic and not attempt else None
            if earlier is not None:
                return earlier
            return _rejected(str(client_id), kind, messages_by_field(exc), codes_by_field(exc))
        except IntegrityError:
            # A concurrent resend committed first, the id is a log's made elsewhere, or a unique
            # value was taken meanwhile: look again (the receipt, the row holding the id, or the
            # service's own check now gives the answer).
            if not attempt:
                continue
            taken = _taken_without_receipt(client_id, kind)
            if taken is not None:
                return taken
            raise
        return batch.created(client_id, kind, obj, receipt)
    raise AssertionError("unreachable")  # pragma: no cover


def _receive_safely(batch: _Batch, raw_id: object, kind: object, data: object) -> ItemResult:
    """``_receive``, turning an unexpected failure of one item into its rejection.

    A transient database failure (lost connection, deadlock, serialisation) propagates: the
    whole request fails and the phone sends the batch again, the items already applied being
    recognised by their receipts.
    """
    try:
        return _receive(batch, raw_id, kind, data)
    except OperationalError:
        raise
    except Exception:  # one item's bug must not withhold the other items' results (logged)
        logger.exception("sync item %r (%r) failed", raw_id, kind)
        message = _("The server could not process this item; nothing of it was saved. Send it again later.")
        return _rejected(raw_id, kind, {NON_FIELD: [str(message)]}, {NON_FIELD: ["server_error"]})


def envelope_items(payload: object) -> list[dict[str, Any]]:
    """The items of a batch request, or ``ValidationError`` for a malformed or oversize envelope."""
    if not isinstance(payload, dict):
        raise ValidationError({NON_FIELD: [ValidationError(_('Send a JSON object with "items".'), code="invalid")]})
    items = payload.get("items")
    if not isinstance(items, list):
        raise ValidationError({"items": [ValidationError(_("Send the items as a list."), code="invalid")]})
    if len(items) > MAX_BATCH_ITEMS:
        raise ValidationError(
            {
                "items": [
                    ValidationError(
                        _("At most %(limit)s items per request; send the rest in another one."),
                        code="too_many",
                        params={"limit": MAX_BATCH_ITEMS},
                    )
                ]
            }
        )
    problems = {
        f"items[{position}]": [
            ValidationError(_("Each item is an object with kind, client_id and data."), code="invalid")
        ]
        for position, item in enumerate(items)
        if not isinstance(item, dict)
    }
    if problems:
        raise ValidationError(problems)
    return items


def sync_batch(*, actor: User, payload: object) -> list[ItemResult]:
    """Apply a batch made offline, item by item, in order; one result per item, in the same order.

    Not one transaction: each item is its own (see the module's docstring). Raises
    ``ValidationError`` only for a malformed or oversize envelope, before anything is applied.
    """
    items = envelope_items(payload)
    batch = _Batch(actor, deferred_flush=True)
    batch.receipts = _receipts_of(items)
    with _commits_without_waiting_for_the_flush(batch):
        results = [_receive_safely(batch, item.get("client_id"), item.get("kind"), item.get("data")) for item in items]
    _flush(batch)
    return results


def _receipts_of(items: list[dict[str, Any]]) -> dict[uuid.UUID, SyncReceipt]:
    """The receipts already held for the batch's client ids, in one query."""
    ids = set()
    for item in items:
        raw = item.get("client_id")
        if isinstance(raw, str):
            try:
                ids.add(uuid.UUID(raw))
            except ValueError:
                continue
    return {receipt.client_id: receipt for receipt in SyncReceipt.objects.filter(pk__in=ids)} if ids else {}


@contextlib.contextmanager
def _commits_without_waiting_for_the_flush(batch: _Batch) -> Iterator[None]:
    """PostgreSQL: let the items' transactions commit without waiting for their WAL to reach disk.

    Safe because ``_flush`` makes the WAL durable before the batch is answered: a crash before
    then loses only items the phone was never told about, and it sends them again. Set for the
    session around the items (two round trips a batch, not one an item), then set back to what
    it was, before ``_flush``'s synchronous commit.
    """
    if not batch.deferred_flush:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        (before,) = cursor.fetchone()
        cursor.execute("SELECT set_config('synchronous_commit', 'off', false)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [before])
        except (InterfaceError, OperationalError):
            # Never hand a persistent connection on with commits that are not durable: drop it
            # (the error that brought us here, if any, is the one that propagates).
            connection.close()


def _flush(batch: _Batch) -> None:
    """Make every item committed so far durable with one synchronous commit, before answering.

    WAL is flushed in order, so one synchronous commit that writes covers every asynchronous
    commit before it: here a no-op update of the last receipt written (one fsync instead of one
    per item).
    """
    if not batch.deferred_flush or batch.last_created is None:
        return
    with transaction.atomic():
        SyncReceipt.objects.filter(pk=batch.last_created).update(received_at=F("received_at"))


def receive_item(*, actor: User, kind: str, client_id: uuid.UUID | None, data: object) -> ItemResult:
    """Apply one item as sync would (for the single-item endpoints used online).

    Without ``client_id`` a fresh one is made; with it, a resend is recognised as in a batch.
    """
    batch = _Batch(actor)
    return _receive_safely(batch, str(client_id or uuid.uuid4()), kind, data)
