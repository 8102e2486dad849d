"""One reader per item kind, and what applies it: households, residents, assistance logs, training sessions.

Each reads its data through its form (``fieldteam.sync.fields``: the one definition of each input,
from which the API's schema is generated too), looks up what the data refers to in the actor's
scope, and calls the service of its subject inside the item's transaction (``fieldteam.sync.envelope``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, cast, overload

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.models import Area, AssistanceLog, Capability, Household, Resident, SyncReceipt, Team, TrainingSession
from fieldteam.permissions import ensure_can_write
from fieldteam.rollup import fastlog
from fieldteam.selectors.people import households_visible, residents_visible
from fieldteam.services import people
from fieldteam.services.assistance import (
    CLOCK_SKEW_TOLERANCE,
    ItemInput,
    clean_log_content,
    content_hash,
    log_assistance,
)
from fieldteam.services.consent import CURRENT_NOTICE_VERSION, DEFAULT_PURPOSES, ConsentInput
from fieldteam.services.people import ResidentInput
from fieldteam.services.training import record_training_session
from fieldteam.sync.batch import Batch, ItemResult
from fieldteam.sync.fields import (
    ASSISTANCE_LOG,
    ASSISTANCE_LOG_DATA,
    CONSENT_DATA,
    HOUSEHOLD,
    HOUSEHOLD_DATA,
    HOUSEHOLD_RESIDENT,
    LOG_ITEM,
    RESIDENT,
    RESIDENT_DATA,
    TRAINING_SESSION,
    TRAINING_SESSION_DATA,
    Reader,
)

_OUTCOME = LOG_ITEM["outcome"]
_REASON = LOG_ITEM["reason"]
_PURPOSES = CONSENT_DATA["purposes"].of.values


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


@overload
def _resolve(
    batch: Batch, name: str, ref: int | uuid.UUID, kind: Literal["household"], *, lock: bool = False
) -> Household: ...
@overload
def _resolve(
    batch: Batch, name: str, ref: int | uuid.UUID, kind: Literal["resident"], *, lock: bool = False
) -> Resident: ...
def _resolve(batch: Batch, name: str, ref: int | uuid.UUID, kind: str, *, lock: bool = False) -> Household | Resident:
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


def _team(batch: Batch, reader: Reader, *, look_up: bool = True) -> Team | None:
    """The item's team; ``look_up=False``: only its id, for a caller that checks the team itself."""
    team_id = reader.form["team"].read(reader)
    if team_id is None:
        return None
    if not look_up:
        return Team(id=team_id)
    team = batch.team(team_id)
    if team is None:
        reader.errors.setdefault("team", []).append(_missing("team"))
    return team


def _village(batch: Batch, reader: Reader) -> Area | None:
    area_id = reader.form["village"].read(reader)
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


def _household_residents(reader: Reader) -> list[tuple[uuid.UUID | None, ResidentInput, dict[str, Any]]]:
    """The people of a household item: (client id, what to register, the entry as sent), each read."""
    people_read: list[tuple[uuid.UUID | None, ResidentInput, dict[str, Any]]] = []
    seen: set[uuid.UUID] = set()
    for position, raw in enumerate(HOUSEHOLD_DATA["residents"].read(reader)):
        prefix = f"residents[{position}]"
        if not isinstance(raw, dict):
            reader.error(prefix, _("Each person is an object with a name, sex and birth year."), "invalid")
            continue
        inner = Reader(raw, HOUSEHOLD_RESIDENT)
        person_id = None
        if raw.get("client_id") is not None:
            ref = inner.id_value("client_id", raw["client_id"])
            if isinstance(ref, uuid.UUID) and ref not in seen:
                person_id = ref
                seen.add(ref)
            elif ref is not None:
                inner.error("client_id", _("Give each person a client id of their own (a UUID)."), "invalid")
        person = ResidentInput(
            full_name=HOUSEHOLD_RESIDENT["full_name"].read(inner),
            sex=HOUSEHOLD_RESIDENT["sex"].read(inner),
            birth_year=HOUSEHOLD_RESIDENT["birth_year"].read(inner),
            birth_date=HOUSEHOLD_RESIDENT["birth_date"].read(inner),
            citizen_id=HOUSEHOLD_RESIDENT["citizen_id"].read(inner),
            phone=HOUSEHOLD_RESIDENT["phone"].read(inner),
            consent=_consent(inner),
        )
        for name, problems in inner.errors.items():
            reader.errors.setdefault(f"{prefix}.{name}", []).extend(problems)
        people_read.append((person_id, person, raw))
    return people_read


def _apply_household(batch: Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    batch.nested = []
    reader = Reader(data, HOUSEHOLD_DATA)
    village = _village(batch, reader)
    code = HOUSEHOLD_DATA["code"].read(reader)
    head_name = HOUSEHOLD_DATA["head_name"].read(reader)
    address = HOUSEHOLD_DATA["address"].read(reader)
    residents = _household_residents(reader) if data.get("residents") is not None else None
    reader.check()
    village = cast(Area, village)  # reader.check() raised if it was missing
    ensure_can_write(batch.actor, village, field="village")
    if residents is None:  # a household alone (its people follow as resident items)
        household = _in_item(people.register_household)(
            actor=batch.actor, village=village, code=code, head_name=head_name, address=address
        )
        return household, household.province_id
    ids = [person_id for person_id, _person, _raw in residents if person_id is not None]
    taken = set(SyncReceipt.objects.filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    for position, (person_id, _person, _raw) in enumerate(residents):
        if person_id in taken:
            reader.error(
                f"residents[{position}].client_id",
                _("This client id was already used for other content; nothing was changed."),
                "conflict",
            )
    reader.check()
    household, created = _in_item(people.register_household_with_residents)(
        actor=batch.actor,
        village=village,
        residents=[person for _id, person, _raw in residents],
        code=code,
        head_name=head_name,
        address=address,
    )
    # Each person's own receipt: later items (a log, a session) refer to them by their client id.
    receipts = [
        SyncReceipt(
            client_id=person_id,
            province_id=household.province_id,
            kind=RESIDENT,
            content_hash=content_hash({"kind": RESIDENT, "data": raw}),
            object_id=str(resident.pk),
            member=batch.actor,
        )
        for (person_id, _person, raw), resident in zip(residents, created, strict=True)
        if person_id is not None
    ]
    SyncReceipt.objects.bulk_create(receipts)
    batch.nested = [(receipt.client_id, RESIDENT, receipt.object_id) for receipt in receipts]
    return household, household.province_id


def _apply_resident(batch: Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    reader = Reader(data, RESIDENT_DATA)
    household_ref = RESIDENT_DATA["household"].read(reader)
    full_name = RESIDENT_DATA["full_name"].read(reader)
    sex = RESIDENT_DATA["sex"].read(reader)
    birth_year = RESIDENT_DATA["birth_year"].read(reader)
    birth_date = RESIDENT_DATA["birth_date"].read(reader)
    citizen_id = RESIDENT_DATA["citizen_id"].read(reader)
    phone = RESIDENT_DATA["phone"].read(reader)
    consent = _consent(reader)
    reader.check()
    household = _resolve(batch, "household", household_ref, HOUSEHOLD)
    ensure_can_write(batch.actor, household.village, field="household")
    resident = _in_item(people.register_resident)(
        actor=batch.actor,
        household=household,
        full_name=full_name,
        sex=sex,
        birth_year=birth_year,
        birth_date=birth_date,
        citizen_id=citizen_id,
        phone=phone,
        consent=consent,
    )
    return resident, resident.province_id


def _consent(reader: Reader) -> ConsentInput | None:
    """The ``consent`` object of a resident item: ``{"channel", "notice_version"?, "purposes"?, "given_at"?}``."""
    raw = reader.data.get("consent")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        reader.error("consent", _("Give the consent as an object with its channel."), "invalid")
        return None
    inner = Reader(raw, CONSENT_DATA)
    channel = CONSENT_DATA["channel"].read(inner)
    notice_version = CONSENT_DATA["notice_version"].read(inner) or CURRENT_NOTICE_VERSION
    purposes = raw.get("purposes")
    if purposes is not None and (
        not isinstance(purposes, list) or not purposes or any(p not in _PURPOSES for p in purposes)
    ):
        inner.error("purposes", _("Choose the purposes the resident agreed to."), "invalid_choice")
        purposes = None
    given_at = CONSENT_DATA["given_at"].read(inner)
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


def _log_items(batch: Batch, reader: Reader, capabilities: dict[str, Capability] | None = None) -> list[ItemInput]:
    raw_items = ASSISTANCE_LOG_DATA["items"].read(reader)
    capabilities = capabilities if capabilities is not None else batch.capabilities()
    items: list[ItemInput] = []
    for position, raw in enumerate(raw_items):
        prefix = f"items[{position}]"
        if not isinstance(raw, dict):
            reader.error(prefix, _("Each item is an object with a capability and an outcome."), "invalid")
            continue
        for key in raw:
            if key not in LOG_ITEM.names:
                reader.error(f"{prefix}.{key}", _("Unknown field."), "unknown_field")
        code = raw.get("capability")
        capability = capabilities.get(code) if isinstance(code, str) else None
        if code is None:
            reader.error(f"{prefix}.capability", _("This field is required."), "required")
        elif capability is None:
            reader.error(f"{prefix}.capability", _("Unknown capability."), "unknown_capability")
        outcome = _OUTCOME.read_value(reader, f"{prefix}.outcome", raw.get("outcome"))
        reason = _REASON.read_value(reader, f"{prefix}.reason", raw.get("reason"))
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
    batch: Batch, data: dict[str, Any], capabilities: dict[str, Capability] | None = None, *, look_up_team: bool = True
) -> _LogData:
    """Read a log item; ``capabilities``: the catalogue by code to read it with (default: the batch's).

    ``look_up_team=False``: the team is only read as an id (see ``_team``).
    """
    reader = Reader(data, ASSISTANCE_LOG_DATA)
    team = _team(batch, reader, look_up=look_up_team)
    resident_ref = ASSISTANCE_LOG_DATA["resident"].read(reader)
    household_ref = ASSISTANCE_LOG_DATA["household"].read(reader)
    if data.get("resident") is None and data.get("household") is None:
        reader.error("resident", _("Choose either a resident or a household."), "one_subject")
    elif data.get("resident") is not None and data.get("household") is not None:
        reader.error("household", _("Choose either a resident or a household, not both."), "one_subject")
    occurred_at = ASSISTANCE_LOG_DATA["occurred_at"].read(reader)
    channel = ASSISTANCE_LOG_DATA["channel"].read(reader)
    note = ASSISTANCE_LOG_DATA["note"].read(reader)
    items = _log_items(batch, reader, capabilities)
    reader.check()
    # reader.check() raised if the team was missing or invalid.
    return _LogData(cast(Team, team), resident_ref, household_ref, occurred_at, channel, note, items)


def _apply_assistance_log(batch: Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    read = _read_assistance_log(batch, data)
    # Locked now, the lock the adoptions of the log's items take anyway (one query instead of two).
    resident = household = None
    if read.resident_ref is not None:
        resident = _resolve(batch, "resident", read.resident_ref, RESIDENT, lock=True)
    if read.household_ref is not None:
        household = _resolve(batch, "household", read.household_ref, HOUSEHOLD, lock=True)
    log = _in_item(log_assistance)(
        actor=batch.actor,
        team=read.team,
        occurred_at=read.occurred_at,
        channel=read.channel,
        items=read.items,
        resident=resident,
        household=household,
        note=read.note,
        log_id=client_id,
        content_hash=digest,
        team_paths=batch.team_paths(read.team),
        subject_locked=True,
    )
    return log, log.province_id


def log_in_one_statement(batch: Batch, client_id: uuid.UUID, kind: str, data: object, digest: str) -> ItemResult | None:
    """A log written by ``log_statement`` (one statement); ``None`` leaves the item to the ORM path.

    Anything this cannot settle (another kind of item, input the checks refuse, a subject it
    cannot write for, a client id already taken) goes the ORM way, which answers with the error
    or finds the resend.
    """
    if kind != ASSISTANCE_LOG or not fastlog.enabled() or not isinstance(data, dict):
        return None
    if batch.receipts is not None and client_id in batch.receipts:
        return None
    actor = batch.actor
    try:
        # The catalogue as this process last read it, and the team as an id: the statement
        # confirms each capability used, the actor's membership of the team and its founding date.
        read = _read_assistance_log(batch, data, fastlog.capability_catalogue(), look_up_team=False)
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
    request = fastlog.LogRequest(
        team=read.team,
        subject_kind=subject_kind,
        subject_id=cast(int, ref),  # the read refused an item naming neither; a client id is resolved above
        occurred_at=read.occurred_at,
        channel=read.channel,
        note=note,
        items=read.items,
    )
    try:
        log = fastlog.log_assistance(
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


def _attendees(batch: Batch, reader: Reader) -> list[Resident]:
    raw = TRAINING_SESSION_DATA["attendees"].read(reader)
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


def _apply_training_session(batch: Batch, client_id: uuid.UUID, data: dict[str, Any], digest: str) -> Applied:
    reader = Reader(data, TRAINING_SESSION_DATA)
    team = _team(batch, reader)
    village = _village(batch, reader)
    topic = TRAINING_SESSION_DATA["topic"].read(reader)
    started_at = TRAINING_SESSION_DATA["started_at"].read(reader)
    ended_at = TRAINING_SESSION_DATA["ended_at"].read(reader)
    capability = None
    code = TRAINING_SESSION_DATA["capability"].read(reader)
    if code is not None:
        capability = batch.capabilities().get(code) if isinstance(code, str) else None
        if capability is None:
            reader.error("capability", _("Unknown capability."), "unknown_capability")
    TRAINING_SESSION_DATA["attendees"].refuse_empty(reader)
    reader.check()
    attendees = _attendees(batch, reader)
    session = _in_item(record_training_session)(
        actor=batch.actor,
        team=cast(Team, team),  # reader.check() raised if it was missing or invalid
        village=cast(Area, village),  # as above
        topic=topic,
        started_at=started_at,
        ended_at=ended_at,
        capability=capability,
        attendees=attendees,
        session_id=client_id,
        content_hash=digest,
    )
    return session, session.province_id


HANDLERS: dict[str, Callable[[Batch, uuid.UUID, dict[str, Any], str], Applied]] = {
    HOUSEHOLD: _apply_household,
    RESIDENT: _apply_resident,
    ASSISTANCE_LOG: _apply_assistance_log,
    TRAINING_SESSION: _apply_training_session,
}
MODELS: dict[str, type[AssistanceLog] | type[TrainingSession]] = {
    ASSISTANCE_LOG: AssistanceLog,
    TRAINING_SESSION: TrainingSession,
}
