"""Logging field work: assistance logs and their items. Adoption follows through ``set_adoption``."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AdoptionSource, AssistanceChannel, AssistanceOutcome, CapabilitySubject, NotDoneReason
from fieldteam.errors import field_error
from fieldteam.models import AssistanceItem, AssistanceLog, Capability, Household, Membership, Resident, Team, User
from fieldteam.services.adoption import set_adoption
from fieldteam.services.people import ensure_area_in_scope

# Phones' clocks drift; a log may be stamped a little in the future.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True)
class ItemInput:
    capability: Capability
    outcome: str
    reason: str = ""


def content_hash(payload: dict[str, object]) -> str:
    """A stable hash of a log's content, to tell a resend from a conflicting reuse of its id."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _check_items(items: list[ItemInput]) -> None:
    if not items:
        raise field_error("items", _("Choose at least one thing you helped with."), code="required")
    seen: set[int] = set()
    for position, item in enumerate(items):
        if item.capability.pk in seen:
            raise field_error("items", _("A capability appears twice in the log."), code="duplicate")
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
) -> AssistanceLog:
    """Record one assistance by ``actor`` for ``team``; each item done sets the subject's adoption.

    The subject must lie in the team's areas and the actor must be an open member of the team.
    """
    if (resident is None) == (household is None):
        raise field_error("resident", _("Choose either a resident or a household."), code="one_subject")
    subject: Resident | Household = resident or household  # type: ignore[assignment]
    if not Membership.objects.filter(team=team, user=actor, ended_on__isnull=True).exists() and not actor.is_superuser:
        raise field_error("team", _("You are not a member of this team."), code="not_member")
    ensure_area_in_scope(actor, subject.village, field="resident" if resident else "household")
    village_and_ancestors = [subject.village.path[:end] for end in range(4, len(subject.village.path) + 1, 4)]
    if not team.areas.filter(path__in=village_and_ancestors).exists():
        raise field_error(
            "resident" if resident else "household",
            _("This person is outside the team's villages."),
            code="outside_team",
        )
    if channel not in AssistanceChannel.values:
        raise field_error("channel", _("Choose how the help was given."), code="invalid_choice")
    if occurred_at > timezone.now() + CLOCK_SKEW_TOLERANCE:
        raise field_error("occurred_at", _("The time is in the future."), code="future")
    if timezone.localdate(occurred_at) < team.founded_on:
        raise field_error("occurred_at", _("The time is before the team was founded."), code="before_team")
    _check_items(items)
    expected = CapabilitySubject.RESIDENT if resident else CapabilitySubject.HOUSEHOLD
    for position, item in enumerate(items):
        if item.capability.subject != expected:
            raise field_error(
                f"items[{position}].capability", _("This capability does not fit the subject."), code="subject"
            )
    log = AssistanceLog.objects.create(
        id=log_id or uuid.uuid4(),
        province_id=subject.province_id,
        team=team,
        member=actor,
        resident=resident,
        household=household,
        village_id=subject.village_id,
        occurred_at=occurred_at,
        channel=channel,
        note=note.strip(),
    )
    AssistanceItem.objects.bulk_create(
        [
            AssistanceItem(
                province_id=subject.province_id, log=log, capability=i.capability, outcome=i.outcome, reason=i.reason
            )
            for i in items
        ]
    )
    for item in items:
        if item.outcome == AssistanceOutcome.DONE:
            set_adoption(
                actor=actor,
                capability=item.capability,
                since=timezone.localdate(occurred_at),
                source=AdoptionSource.ASSISTANCE,
                resident=resident,
                household=household,
                assistance_log=log,
            )
    return log
