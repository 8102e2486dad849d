"""Training sessions ("bình dân học vụ số") and their attendance.

Attending counts as assistance: each attendee gets an assistance log of the session (channel
"group session", item "done" for the capability taught), and through it the adoption of that
capability (``set_adoption``, source "training"), so the village counts follow in the same
transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.choices import AdoptionSource, AssistanceChannel, AssistanceOutcome, CapabilitySubject, ResidentStatus
from fieldteam.errors import field_error
from fieldteam.models import Area, AuditEntry, Capability, Resident, Team, TrainingAttendance, TrainingSession, User
from fieldteam.periods import month_index
from fieldteam.permissions import ensure_can_write
from fieldteam.rollup.rules import Deltas, load_rules, resident_contribution, resident_facts
from fieldteam.services.assistance import (
    CLOCK_SKEW_TOLERANCE,
    ItemInput,
    check_team_work,
    create_log,
)

DIGITAL_SKILLS_CODE = "basic_digital_skills"
TOPIC_MAX_LENGTH = 200
MAX_ATTENDEES = 500


def default_capability() -> Capability | None:
    """The capability a session teaches unless told otherwise: basic digital skills."""
    return Capability.objects.filter(code=DIGITAL_SKILLS_CODE).first()


def _check_capability(capability: Capability | None) -> Capability:
    if capability is None:
        raise field_error(
            "capability", _("Choose the capability taught (basic digital skills is not set up)."), code="required"
        )
    if not capability.is_active:
        raise field_error("capability", _("This capability is no longer in use."), code="inactive")
    if capability.subject != CapabilitySubject.RESIDENT:
        raise field_error("capability", _("A training session teaches residents, not households."), code="subject")
    return capability


def admitted_by(capability: Capability, *, on: date, province_id: int) -> Callable[[Resident], bool]:
    """Whether a resident is in the population of an indicator counting ``capability`` at the end of ``on``'s month.

    The counting rules decide (``rollup.rules``: age bands, working age by birth cohort), not a
    restatement here; a capability no indicator counts admits everyone.
    """
    rules = load_rules(month_index(on), province_id)
    counted = {rule.indicator_id for rule in rules.residents if rule.bit_mask & (1 << capability.bit)}
    if not counted:
        return lambda resident: True

    def admits(resident: Resident) -> bool:
        cells: Deltas = {}
        facts = replace(resident_facts(resident), active=True)
        resident_contribution(rules, facts, 1, cells)
        return any(indicator_id in counted for _village, indicator_id in cells)

    return admits


def _check_attendees(
    actor: User, team: Team, attendees: list[Resident], admits: Callable[[Resident], bool] = lambda r: True
) -> None:
    if not attendees:
        raise field_error("attendees", _("Record at least one attendee."), code="required")
    if len(attendees) > MAX_ATTENDEES:
        raise field_error(
            "attendees", _("At most %(limit)s attendees per session."), code="too_many", params={"limit": MAX_ATTENDEES}
        )
    seen: set[int] = set()
    team_paths = list(team.areas.values_list("path", flat=True))
    for position, resident in enumerate(attendees):
        field = f"attendees[{position}]"
        if resident.pk in seen:
            raise field_error(field, _("This resident is listed twice."), code="duplicate")
        seen.add(resident.pk)
        if resident.status != ResidentStatus.ACTIVE:
            raise field_error(field, _("This resident no longer lives here."), code="inactive")
        ensure_can_write(actor, resident.village, field=field)
        if not any(resident.village.path.startswith(path) for path in team_paths):
            raise field_error(field, _("This person is outside the team's villages."), code="outside_team")
        if not admits(resident):
            raise field_error(
                field,
                _("%(name)s (born %(year)s) is not among the people this skill is counted for."),
                code="not_in_population",
                params={"name": resident.full_name, "year": resident.birth_year},
            )


@transaction.atomic
def record_training_session(
    *,
    actor: User,
    team: Team,
    village: Area,
    topic: str,
    started_at: datetime,
    attendees: list[Resident],
    ended_at: datetime | None = None,
    capability: Capability | None = None,
    session_id: uuid.UUID | None = None,
    content_hash: str = "",
) -> TrainingSession:
    """Record a training session held by ``team`` in ``village`` and who attended it.

    ``capability`` defaults to basic digital skills. Each attendee gets an assistance log of the
    session and the adoption of the capability since the session's day; attending twice, or
    already holding it, counts once. ``session_id`` is the id the client made (offline sync). One
    transaction (a savepoint inside another; sync's item runs it in its own, without one: see
    ``transactions.in_callers_transaction``); raises ``ValidationError`` naming the field
    (``attendees[2]`` for the third attendee), and then nothing is saved.
    """
    check_team_work(
        actor=actor, team=team, place=village, place_field="village", when=started_at, when_field="started_at"
    )
    topic = " ".join((topic or "").split())
    if not topic:
        raise field_error("topic", _("Enter the topic of the session."), code="required")
    if len(topic) > TOPIC_MAX_LENGTH:
        raise field_error(
            "topic",
            _("Keep the topic under %(limit)s characters."),
            code="too_long",
            params={"limit": TOPIC_MAX_LENGTH},
        )
    if ended_at is not None:
        if ended_at < started_at:
            raise field_error("ended_at", _("The session ends before it starts."), code="before_start")
        if ended_at > timezone.now() + CLOCK_SKEW_TOLERANCE:
            raise field_error("ended_at", _("The time is in the future."), code="future")
    capability = _check_capability(capability if capability is not None else default_capability())
    province_id = village.province_id or village.pk
    admits = admitted_by(capability, on=timezone.localdate(started_at), province_id=province_id)
    _check_attendees(actor, team, attendees, admits)
    session = TrainingSession.objects.create(
        id=session_id or uuid.uuid4(),
        province_id=village.province_id or village.pk,
        team=team,
        village=village,
        topic=topic,
        started_at=started_at,
        ended_at=ended_at,
        trainer=actor,
        capability=capability,
    )
    attendance = TrainingAttendance.objects.bulk_create(
        [TrainingAttendance(province_id=r.province_id, session=session, resident=r) for r in attendees]
    )
    audit.record_bulk(attendance, action=AuditEntry.Action.CREATE)
    for resident in attendees:
        create_log(
            actor=actor,
            team=team,
            occurred_at=started_at,
            channel=AssistanceChannel.GROUP_SESSION,
            items=[ItemInput(capability, AssistanceOutcome.DONE)],
            resident=resident,
            household=None,
            note="",
            log_id=None,
            digest=content_hash,
            source=AdoptionSource.TRAINING,
            training_session=session,
        )
    return session
