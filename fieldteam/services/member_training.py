"""Members' own training: a course a team member took, recorded by an officer (issue 15).

The plans count members trained (``selectors.coverage``). Only an officer of one of the areas the
member's team serves (or a superuser, or the system: ``actor=None``) records or removes one: a
member does not certify their own training. Errors name the field; nothing is saved.
"""

from __future__ import annotations

from datetime import date

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from fieldteam.errors import field_error
from fieldteam.models import Membership, MemberTraining, Team, User
from fieldteam.periods import today
from fieldteam.permissions import ensure_for_team, ensure_officer

TOPIC_MAX_LENGTH = 200
EARLIEST = date(2000, 1, 1)


@transaction.atomic
def record_member_training(
    *, actor: User | None, team: Team, user: User, topic: str, trained_on: date | None
) -> MemberTraining:
    """Record that ``user``, a member of ``team`` (now or before), took the course ``topic`` on ``trained_on``.

    The day may be before the membership (a member trained earlier counts), never in the future.
    The same course on the same day twice is an error on ``topic``.
    """
    ensure_for_team(actor, team, check=ensure_officer, field="team")
    if not Membership.objects.filter(team=team, user=user).exists():
        raise field_error("user", _("This person is not a member of the team."), code="not_member")
    topic = " ".join((topic or "").split())
    if not topic:
        raise field_error("topic", _("Name the course or topic."), code="required")
    if len(topic) > TOPIC_MAX_LENGTH:
        raise field_error(
            "topic", _("At most %(limit)s characters."), code="max_length", params={"limit": TOPIC_MAX_LENGTH}
        )
    if trained_on is None:
        raise field_error("trained_on", _("Give the day of the training."), code="required")
    if trained_on > today():
        raise field_error("trained_on", _("The date is in the future."), code="future")
    if trained_on < EARLIEST:
        raise field_error("trained_on", _("The date is too far in the past."), code="too_early")
    row = MemberTraining(
        user_id=user.pk, team_id=team.pk, topic=topic, trained_on=trained_on, recorded_by=actor
    )
    row.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise field_error(
            "topic", _("This training of the member is already recorded for that day."), code="duplicate"
        ) from None
    return row


@transaction.atomic
def delete_member_training(*, actor: User | None, training: MemberTraining) -> None:
    """Remove a training recorded by mistake (an officer of the team's areas)."""
    ensure_for_team(actor, training.team, check=ensure_officer, field="training")
    training.delete()
