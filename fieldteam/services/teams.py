"""Writes about teams, their members and staff area roles.

Each service checks first who may (``fieldteam.permissions``), then writes, in one transaction;
the audit trail records each row through django-auditlog (``Team``, ``Membership``, ``AreaRole``
and ``User`` are registered). Errors are a ``ValidationError`` naming the field; nothing is saved.

Who may:
- a team, its members: whoever may write in one of the areas the team serves (an officer of the
  area, a member of a team serving it), and for a new or changed set of areas, in each of them;
- an area role: an officer of the area; a province officer's role only by an officer of the
  area's province; nobody grants or takes back a role of their own (superusers aside).
``actor=None`` is the system (a command, a task).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date
from typing import Final, Literal

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext_lazy as _

from fieldteam import identifiers
from fieldteam.choices import PROVINCE_KINDS, AreaRoleKind, MembershipRole
from fieldteam.errors import field_error
from fieldteam.models import Area, AreaRole, Membership, Team, User
from fieldteam.periods import today
from fieldteam.permissions import ensure_can_write, ensure_for_team, ensure_officer, province_of


class _Unset(enum.Enum):
    """The default of an argument whose None means "clear it": not given, left as it is."""

    UNSET = enum.auto()


_UNSET: Final = _Unset.UNSET


def _team_areas(areas: Sequence[Area]) -> tuple[list[Area], int]:
    """``areas`` checked as a team's: at least one, none a province, all of one province (its id)."""
    areas = list(areas)
    if not areas:
        raise field_error("areas", _("Choose the areas the team serves."), code="required")
    if any(a.kind in PROVINCE_KINDS for a in areas):
        raise field_error("areas", _("A team serves villages or a commune, not a province."), code="province")
    provinces = {a.province_id or a.pk for a in areas}
    if len(provinces) > 1:
        raise field_error("areas", _("A team serves areas of one province only."), code="several_provinces")
    return areas, provinces.pop()


def _save(row: Team | Membership | AreaRole | User, *, exclude: Sequence[str] = ()) -> None:
    row.full_clean(exclude=list(exclude))
    row.save()


@transaction.atomic
def create_team(
    *,
    actor: User | None,
    name: str,
    areas: Sequence[Area],
    founded_on: date,
    decision_ref: str = "",
    is_active: bool = True,
) -> Team:
    """Found a team serving ``areas`` (villages or a commune, of one province); the actor may write in each."""
    for area in areas:
        ensure_can_write(actor, area, field="areas")
    areas, province_id = _team_areas(areas)
    if founded_on is not None and founded_on > today():
        raise field_error("founded_on", _("The date is in the future."), code="future")
    team = Team(
        name=(name or "").strip(),
        province_id=province_id,
        founded_on=founded_on,
        decision_ref=(decision_ref or "").strip(),
        is_active=is_active,
    )
    _save(team, exclude=["areas"])
    team.areas.set(areas)
    return team


@transaction.atomic
def update_team(
    *,
    actor: User | None,
    team: Team,
    name: str | None = None,
    areas: Sequence[Area] | None = None,
    founded_on: date | None = None,
    decision_ref: str | None = None,
    is_active: bool | None = None,
) -> Team:
    """Change a team (``None``: unchanged). New ``areas`` must each be writable by the actor and of one province."""
    ensure_for_team(actor, team, check=ensure_can_write, field="areas")
    row = Team.objects.select_for_update().get(pk=team.pk)
    if areas is not None:
        for area in areas:
            ensure_can_write(actor, area, field="areas")
        areas, row.province_id = _team_areas(areas)
    if founded_on is not None:
        if founded_on > today():
            raise field_error("founded_on", _("The date is in the future."), code="future")
        row.founded_on = founded_on
    if name is not None:
        row.name = name.strip()
    if decision_ref is not None:
        row.decision_ref = decision_ref.strip()
    if is_active is not None:
        row.is_active = is_active
    _save(row, exclude=["areas"])
    if areas is not None:
        row.areas.set(areas)
    return row


@transaction.atomic
def delete_team(*, actor: User | None, team: Team) -> None:
    """Remove a team entered by mistake; one with members or logs is kept (close it with ``is_active``)."""
    row = Team.objects.select_for_update().get(pk=team.pk)
    ensure_for_team(actor, row, check=ensure_can_write, field="team")
    if row.memberships.exists():
        message = _("The team has members: end their memberships and make it inactive instead.")
        raise field_error("team", message, code="protected")
    try:
        with transaction.atomic():
            row.delete()
    except ProtectedError:
        raise field_error("team", _("Help was logged by this team: make it inactive instead."), code="protected") from None


def _check_membership(membership: Membership) -> None:
    if membership.ended_on is not None and membership.started_on and membership.ended_on < membership.started_on:
        raise field_error("ended_on", _("The end date is before the start date."), code="before_start")
    for name in ("started_on", "ended_on"):
        day = getattr(membership, name)
        if day is not None and day > today():
            raise field_error(name, _("The date is in the future."), code="future")


def _save_membership(membership: Membership) -> Membership:
    _check_membership(membership)
    membership.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise field_error(
            "user", _("This member already has an open membership in the team."), code="duplicate"
        ) from None
    return membership


@transaction.atomic
def add_membership(
    *,
    actor: User | None,
    team: Team,
    user: User,
    started_on: date,
    role: str = MembershipRole.MEMBER,
    affiliation: str = "",
    ended_on: date | None = None,
) -> Membership:
    """Put ``user`` in ``team`` from ``started_on`` (open-ended while ``ended_on`` is ``None``).

    One open membership per person and team: a second is an error on ``user``.
    """
    ensure_for_team(actor, team, check=ensure_can_write, field="team")
    return _save_membership(
        Membership(team=team, user=user, role=role, affiliation=affiliation, started_on=started_on, ended_on=ended_on)
    )


@transaction.atomic
def update_membership(
    *,
    actor: User | None,
    membership: Membership,
    role: str | None = None,
    affiliation: str | None = None,
    started_on: date | None = None,
    ended_on: date | Literal[_Unset.UNSET] | None = _UNSET,
    team: Team | None = None,
    user: User | None = None,
) -> Membership:
    """Change a membership's role, affiliation, dates, team or member (``None``: unchanged;
    ``ended_on=None`` reopens it). Moved to another team, the actor must be allowed both teams."""
    row = Membership.objects.select_for_update().select_related("team").get(pk=membership.pk)
    ensure_for_team(actor, row.team, check=ensure_can_write, field="team")
    if team is not None and team.pk != row.team_id:
        ensure_for_team(actor, team, check=ensure_can_write, field="team")
        row.team = team
    if user is not None:
        row.user = user
    if role is not None:
        row.role = role
    if affiliation is not None:
        row.affiliation = affiliation
    if started_on is not None:
        row.started_on = started_on
    if ended_on is not _UNSET:
        row.ended_on = ended_on
    return _save_membership(row)


@transaction.atomic
def end_membership(*, actor: User | None, membership: Membership, on: date) -> Membership:
    """Close a membership on ``on`` (its history stays)."""
    if on is None:
        raise field_error("ended_on", _("Give the date the membership ended."), code="required")
    return update_membership(actor=actor, membership=membership, ended_on=on)


@transaction.atomic
def delete_membership(*, actor: User | None, membership: Membership) -> None:
    """Remove a membership entered by mistake (one that ended is closed with ``end_membership``)."""
    row = Membership.objects.select_for_update().select_related("team").get(pk=membership.pk)
    ensure_for_team(actor, row.team, check=ensure_can_write, field="team")
    row.delete()


@transaction.atomic
def create_member_user(
    *, actor: User | None, team: Team, username: str, first_name: str = "", last_name: str = "", phone: str = ""
) -> User:
    """Create the account of a new member of ``team`` (no password: they sign in as the app lets them)."""
    ensure_for_team(actor, team, check=ensure_can_write, field="team")
    username = (username or "").strip()
    if not username:
        raise field_error("username", _("Give the user name."), code="required")
    try:
        UnicodeUsernameValidator()(username)
    except ValidationError as exc:
        raise field_error("username", " ".join(exc.messages), code="invalid_username") from None
    if User.objects.filter(username=username).exists():
        raise field_error("username", _("This user name is taken."), code="username_taken")
    if phone:
        try:
            phone = identifiers.validate_phone(phone)
        except ValidationError as exc:
            raise field_error("phone", " ".join(exc.messages), code="phone_format") from None
    user = User(username=username, first_name=first_name, last_name=last_name, phone_display=phone)
    user.set_unusable_password()
    user.save()
    return user


@transaction.atomic
def fill_member_details(
    *, actor: User | None, team: Team, user: User, first_name: str = "", last_name: str = "", phone: str = ""
) -> User:
    """Fill a member's blank name and phone from a list (what is already there is kept)."""
    ensure_for_team(actor, team, check=ensure_can_write, field="team")
    given = {"first_name": first_name, "last_name": last_name, "phone_display": phone}
    changed = [name for name, value in given.items() if value and not getattr(user, name)]
    for name in changed:
        setattr(user, name, given[name])
    if changed:
        user.save(update_fields=changed)
    return user


def _ensure_may_grant(actor: User | None, user: User, area: Area, role: str) -> None:
    ensure_officer(actor, area, field="area")
    if role == AreaRoleKind.PROVINCE_OFFICER:
        ensure_officer(
            actor, province_of(area), field="role", message=_("Only a province officer makes province officers.")
        )
    if actor is not None and not actor.is_superuser and user.pk == actor.pk:
        raise field_error("user", _("Your own roles are changed by someone else."), code="own_role")


@transaction.atomic
def grant_area_role(*, actor: User | None, user: User, area: Area, role: str) -> AreaRole:
    """Give ``user`` a staff role over ``area``'s subtree."""
    if role not in AreaRoleKind.values:
        raise field_error("role", _("Choose the role in this area."), code="invalid_choice")
    _ensure_may_grant(actor, user, area, role)
    if AreaRole.objects.filter(user=user, area=area, role=role).exists():
        raise field_error("role", _("The user already holds this role here."), code="duplicate")
    area_role = AreaRole(user=user, area=area, role=role)
    _save(area_role)
    return area_role


@transaction.atomic
def change_area_role(
    *, actor: User | None, area_role: AreaRole, area: Area, role: str, user: User | None = None
) -> AreaRole:
    """Change a role's holder, area or kind: the actor must be allowed the role as it was and as it becomes."""
    row = AreaRole.objects.select_for_update().select_related("user", "area").get(pk=area_role.pk)
    _ensure_may_grant(actor, row.user, row.area, row.role)
    if role not in AreaRoleKind.values:
        raise field_error("role", _("Choose the role in this area."), code="invalid_choice")
    user = user or row.user
    _ensure_may_grant(actor, user, area, role)
    row.user, row.area, row.role = user, area, role
    _save(row)
    return row


@transaction.atomic
def revoke_area_role(*, actor: User | None, area_role: AreaRole) -> None:
    """Take a staff role back."""
    row = AreaRole.objects.select_for_update().select_related("user", "area").get(pk=area_role.pk)
    _ensure_may_grant(actor, row.user, row.area, row.role)
    row.delete()
