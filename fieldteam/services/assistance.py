"""Logging field work: assistance logs and their items. Adoption follows through ``set_adoptions``.

The checks a piece of team work must pass (``check_team_work``) are shared with training
sessions (``fieldteam.services.training``): the actor works for the team, the place lies in the
team's areas and in the areas the actor may write in, and the time is neither in the future
(beyond a small clock skew) nor before the team was founded.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam import audit, identifiers
from fieldteam.choices import (
    AdoptionSource,
    AssistanceChannel,
    AssistanceOutcome,
    CapabilitySubject,
    NotDoneReason,
    ResidentStatus,
)
from fieldteam.errors import field_error
from fieldteam.models import (
    Area,
    AssistanceItem,
    AssistanceLog,
    AuditEntry,
    Capability,
    Household,
    Membership,
    Resident,
    Team,
    TrainingSession,
    User,
)
from fieldteam.permissions import ensure_can_write, scope_for
from fieldteam.services.adoption import set_adoptions
from fieldteam.transactions import in_callers_transaction

# Phones' clocks drift; a log may be stamped a little in the future.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)
NOTE_MAX_LENGTH = 2000


@dataclass(frozen=True)
class ItemInput:
    capability: Capability
    outcome: str
    reason: str = ""


def content_hash(payload: object) -> str:
    """A stable, keyed digest of an item's content, to tell a resend from a conflicting reuse of its id.

    An item may carry a citizen ID or phone number, and a plain digest of it gives the number back
    to anyone with the database who tries every possible one; so the digest is an HMAC under the
    identifier hash key (``keyed_content_digest``) of the SHA-256 of the canonical JSON. The inner
    SHA-256 is what digests stored before were, so migration 0013 re-keyed them in place and
    resends of items received before still match.
    """
    return keyed_content_digest(hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest())


def keyed_content_digest(plain_digest: str) -> str:
    """The HMAC of a plain SHA-256 hex digest of content (its own namespace of the identifier hash key)."""
    return identifiers.keyed_hash("content", plain_digest)


def check_team_work(
    *,
    actor: User,
    team: Team,
    place: Area,
    place_field: str,
    when: datetime,
    when_field: str,
    team_paths: Sequence[str] | None = None,
) -> None:
    """The checks every piece of team work passes; raises ``ValidationError`` naming the field.

    The actor is an open member of the (active) team, or a superuser; ``place`` is in an area the
    actor may write in and lies in (or under) one of the team's areas; ``when`` is not in the future
    beyond ``CLOCK_SKEW_TOLERANCE`` and not before the team was founded. ``team_paths``, the
    paths of the team's areas if the caller has them (a sync batch), spares a query.
    """
    if not team.is_active:
        raise field_error("team", _("This team is no longer active."), code="inactive")
    # The scope is cached per request; a membership opened since is still honoured.
    if (
        not actor.is_superuser
        and team.pk not in scope_for(actor).team_ids
        and not Membership.objects.filter(team=team, user=actor, ended_on__isnull=True).exists()
    ):
        raise field_error("team", _("You are not a member of this team."), code="not_member")
    ensure_can_write(actor, place, field=place_field)
    serves = (
        any(place.path.startswith(path) for path in team_paths)
        if team_paths is not None
        else team.areas.filter(path__in=Area.ancestor_paths(place.path)).exists()
    )
    if not serves:
        message = (
            _("This place is outside the team's villages.")
            if place_field == "village"
            else _("This person is outside the team's villages.")
        )
        raise field_error(place_field, message, code="outside_team")
    check_work_time(team=team, when=when, when_field=when_field)


def check_work_time(*, team: Team, when: datetime, when_field: str) -> None:
    """A time of team work is neither in the future (beyond the clock skew) nor before the team was founded."""
    if when > timezone.now() + CLOCK_SKEW_TOLERANCE:
        raise field_error(when_field, _("The time is in the future."), code="future")
    if timezone.localdate(when) < team.founded_on:
        raise field_error(when_field, _("The time is before the team was founded."), code="before_team")


def clean_log_content(*, channel: str, note: str, items: list[ItemInput], subject_field: str) -> str:
    """Check a log's channel, note and items against its kind of subject; returns the note as stored.

    Needs no row: the one-statement path (``log_statement``) runs it before its statement too.
    """
    if channel not in AssistanceChannel.values:
        raise field_error("channel", _("Choose how the help was given."), code="invalid_choice")
    note = (note or "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        raise field_error(
            "note", _("Keep the note under %(limit)s characters."), code="too_long", params={"limit": NOTE_MAX_LENGTH}
        )
    _check_items(items)
    expected = CapabilitySubject.RESIDENT if subject_field == "resident" else CapabilitySubject.HOUSEHOLD
    for position, item in enumerate(items):
        if item.capability.subject != expected:
            raise field_error(
                f"items[{position}].capability", _("This capability does not fit the subject."), code="subject"
            )
    return note


def _check_items(items: list[ItemInput]) -> None:
    if not items:
        raise field_error("items", _("Choose at least one thing you helped with."), code="required")
    seen: set[int] = set()
    for position, item in enumerate(items):
        if item.capability.pk in seen:
            raise field_error(
                f"items[{position}].capability", _("A capability appears twice in the log."), code="duplicate"
            )
        seen.add(item.capability.pk)
        if not item.capability.is_active:
            raise field_error(
                f"items[{position}].capability", _("This capability is no longer in use."), code="inactive"
            )
        if item.outcome not in AssistanceOutcome.values:
            raise field_error(f"items[{position}].outcome", _("Choose done or not done."), code="invalid_choice")
        if item.outcome == AssistanceOutcome.NOT_DONE and item.reason not in NotDoneReason.values:
            raise field_error(f"items[{position}].reason", _("Say why it was not done."), code="required")
        if item.outcome == AssistanceOutcome.DONE and item.reason:
            raise field_error(f"items[{position}].reason", _("A reason is only for help not done."), code="unexpected")


@audit.collecting
def create_log(
    *,
    actor: User,
    team: Team,
    occurred_at: datetime,
    channel: str,
    items: list[ItemInput],
    resident: Resident | None,
    household: Household | None,
    note: str,
    log_id: uuid.UUID | None,
    digest: str,
    source: str,
    training_session: TrainingSession | None = None,
    subject_locked: bool = False,
) -> AssistanceLog:
    """Write a checked log, its items, and the adoptions of the items done (inside the caller's transaction).

    The trail gets one entry per row written (the log, each item, each adoption), all in one
    insert at the end. ``subject_locked``: the caller read the subject under its row lock in this
    transaction (see ``set_adoptions``).
    """
    subject = cast("Resident | Household", resident or household)  # exactly one of the two was checked to be given
    # Recorded below with its items (one entry each, as the signal would have written).
    log = audit.created_unsignalled(
        AssistanceLog,
        id=log_id or uuid.uuid4(),
        province_id=subject.province_id,
        team=team,
        member=actor,
        resident=resident,
        household=household,
        village_id=subject.village_id,
        occurred_at=occurred_at,
        channel=channel,
        note=note,
        training_session=training_session,
        content_hash=digest,
    )
    written = AssistanceItem.objects.bulk_create(
        [
            AssistanceItem(
                province_id=subject.province_id, log=log, capability=i.capability, outcome=i.outcome, reason=i.reason
            )
            for i in items
        ]
    )
    audit.record_bulk([log, *written], action=AuditEntry.Action.CREATE)
    # What was just written is what ``log.items.all()`` would read: spare the caller that query
    # (filled the way ``prefetch_related`` fills it).
    cached = AssistanceItem.objects.filter(log=log)
    cached._result_cache = written
    cached._prefetch_done = True  # type: ignore[attr-defined]  # Django's private prefetch cache, filled by hand with rows written here
    log._prefetched_objects_cache = {"items": cached}
    done = [item.capability for item in items if item.outcome == AssistanceOutcome.DONE]
    if done:
        in_callers_transaction(set_adoptions)(
            actor=actor,
            subject=subject,
            capabilities=done,
            # A phone clock a few minutes fast may stamp tomorrow just before midnight: the
            # adoption cannot start after today.
            since=min(timezone.localdate(occurred_at), timezone.localdate()),
            source=source,
            assistance_log=log,
            subject_locked=subject_locked,
        )
    return log


@transaction.atomic
def log_assistance(
    *,
    actor: User,
    team: Team,
    occurred_at: datetime,
    channel: str,
    items: list[ItemInput],
    resident: Resident | None = None,
    household: Household | None = None,
    note: str = "",
    log_id: uuid.UUID | None = None,
    content_hash: str = "",
    team_paths: Sequence[str] | None = None,
    subject_locked: bool = False,
) -> AssistanceLog:
    """Record one assistance by ``actor`` for ``team``; each item done sets the subject's adoption.

    The subject must lie in the team's areas and in the areas the actor may write in (a viewer
    may not log), and the actor must be an open member of the team. ``log_id`` is the id the
    client made (offline sync); ``content_hash`` the hash of what the client sent, kept to tell a
    resend from a conflicting reuse of the id. ``team_paths``: the paths of the team's areas if the
    caller has them (a sync batch). ``subject_locked``: the caller read the resident or household
    with ``SELECT … FOR UPDATE`` in its transaction (and its village with it), which spares locking
    it again for the adoptions.

    One transaction (a savepoint inside another); raises ``ValidationError`` naming the field, and
    then nothing is saved. Sync's item runs it in the item's transaction, without a savepoint
    (``transactions.in_callers_transaction``).
    """
    if (resident is None) == (household is None):
        raise field_error("resident", _("Choose either a resident or a household."), code="one_subject")
    subject = cast("Resident | Household", resident or household)  # exactly one of the two was checked to be given
    subject_field = "resident" if resident else "household"
    if resident is not None and resident.status != ResidentStatus.ACTIVE:
        raise field_error("resident", _("This resident no longer lives here."), code="inactive")
    if household is not None and not household.is_active:
        raise field_error("household", _("This household is no longer active."), code="inactive")
    check_team_work(
        actor=actor,
        team=team,
        place=subject.village,
        place_field=subject_field,
        when=occurred_at,
        when_field="occurred_at",
        team_paths=team_paths,
    )
    note = clean_log_content(channel=channel, note=note, items=items, subject_field=subject_field)
    return create_log(
        actor=actor,
        team=team,
        occurred_at=occurred_at,
        channel=channel,
        items=items,
        resident=resident,
        household=household,
        note=note,
        log_id=log_id,
        digest=content_hash,
        source=AdoptionSource.ASSISTANCE,
        subject_locked=subject_locked,
    )
