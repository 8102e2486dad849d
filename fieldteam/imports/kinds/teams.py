"""Imports of teams and of their members."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fieldteam import identifiers
from fieldteam.choices import (
    PROVINCE_KINDS,
    MembershipRole,
)
from fieldteam.imports.base import ImportKind, group_rows, resolved
from fieldteam.models import (
    Area,
    AreaRole,
    Membership,
    Team,
    User,
)
from fieldteam.resources import (
    MemberResource,
    TeamResource,
)
from fieldteam.resources.base import match_key
from fieldteam.services import teams


@dataclass(slots=True)
class TeamRow:
    row: int
    village_codes: list[str]
    name: str
    founded_on: date
    decision_ref: str
    is_active: bool
    areas: list[Area] = field(default_factory=list)
    existing: Team | None = None


class TeamsImport(ImportKind):
    name = "teams"
    resource_class = TeamResource

    def parse(self, row: int, cells: dict[str, Any]) -> TeamRow | None:
        codes = self.value(row, cells, "village_codes", required=True) or []
        founded_on = self.value(row, cells, "founded_on", required=True)
        if founded_on is not None and founded_on > self.today:
            self.fail(row, "founded_on", _("The date is in the future."), code="future")
        active = self.value(row, cells, "is_active") if "is_active" in cells else None
        item = TeamRow(
            row=row,
            village_codes=codes,
            name=self.value(row, cells, "name") or "" if "name" in cells else "",
            founded_on=founded_on,
            decision_ref=self.value(row, cells, "decision_ref") or "" if "decision_ref" in cells else "",
            is_active=True if active is None else active,
        )
        return None if row in self.errors else item

    def check(self, items: list[TeamRow]) -> None:
        areas = self.areas_by_code(code for i in items for code in i.village_codes)
        for item in items:
            for code in item.village_codes:
                area = areas.get(code)
                if area is None:
                    self.fail(
                        item.row,
                        "village_codes",
                        _("No village has the code “%(code)s”.") % {"code": code},
                        code="unknown_village",
                    )
                elif area.kind in PROVINCE_KINDS:
                    self.fail(
                        item.row,
                        "village_codes",
                        _("A team serves villages or a commune, not a province."),
                        code="province",
                    )
                elif not self.may_write(area):
                    self.fail(
                        item.row,
                        "village_codes",
                        _("“%(code)s” is outside your area.") % {"code": code},
                        code="out_of_scope",
                    )
                else:
                    item.areas.append(area)
            if not self.is_valid(item.row):
                continue
            if len({a.province_id for a in item.areas}) > 1:
                self.fail(
                    item.row, "village_codes", _("A team serves areas of one province only."), code="several_provinces"
                )
                continue
            if not item.name:
                item.name = f"Tổ công nghệ số cộng đồng {item.areas[0].name}"
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            group_rows(valid, lambda i: (match_key(i.name), i.areas[0].pk)),
            "name",
            _("The same team is also on row %(rows)s."),
        )
        for item in valid:
            if self.is_valid(item.row):
                item.existing = Team.objects.filter(name=item.name, areas=item.areas[0]).order_by("pk").first()

    def plan(self, items: list[TeamRow]) -> dict[str, int]:
        existing = sum(1 for i in items if i.existing is not None)
        return {"teams_new": len(items) - existing, "teams_existing": existing}

    @transaction.atomic
    def write(self, items: list[TeamRow]) -> dict[str, int]:
        counts = self.plan(items)
        for item in items:
            values: dict[str, Any] = {
                "name": item.name,
                "areas": item.areas,
                "founded_on": item.founded_on,
                "decision_ref": item.decision_ref,
                "is_active": item.is_active,
            }
            with self.refusals_of_row(item.row, _as_columns):
                if item.existing is None:
                    teams.create_team(actor=self.actor, **values)
                else:
                    teams.update_team(actor=self.actor, team=item.existing, **values)
        return counts

    def preview(self, item: TeamRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "name": item.name,
            "villages": ", ".join(item.village_codes),
        }


@dataclass(slots=True)
class MemberRow:
    row: int
    village_code: str
    team_name: str
    username: str
    last_name: str
    first_name: str
    phone: str
    role: str
    affiliation: str
    started_on: date
    ended_on: date | None
    team: Team | None = None
    user: User | None = None
    membership: Membership | None = None


class MembersImport(ImportKind):
    name = "members"
    resource_class = MemberResource

    def parse(self, row: int, cells: dict[str, Any]) -> MemberRow | None:
        username = self.value(row, cells, "username", required=True) or ""
        if username:
            try:
                UnicodeUsernameValidator()(username)
            except ValidationError as exc:
                self.fail(row, "username", " ".join(exc.messages), code="invalid_username")
        phone = self.value(row, cells, "phone") or "" if "phone" in cells else ""
        if phone:
            try:
                phone = identifiers.validate_phone(phone)
            except ValidationError as exc:
                self.fail(row, "phone", " ".join(exc.messages), code="phone_format")
        started_on = self.value(row, cells, "started_on", required=True)
        ended_on = self.value(row, cells, "ended_on") if "ended_on" in cells else None
        for key, day in (("started_on", started_on), ("ended_on", ended_on)):
            if day is not None and day > self.today:
                self.fail(row, key, _("The date is in the future."), code="future")
        if started_on and ended_on and ended_on < started_on:
            self.fail(row, "ended_on", _("The end date is before the start date."), code="before_start")
        item = MemberRow(
            row=row,
            village_code=self.value(row, cells, "village_code", required=True) or "",
            team_name=self.value(row, cells, "team_name") or "" if "team_name" in cells else "",
            username=username,
            last_name=self.value(row, cells, "last_name") or "" if "last_name" in cells else "",
            first_name=self.value(row, cells, "first_name") or "" if "first_name" in cells else "",
            phone=phone,
            role=(self.value(row, cells, "role") if "role" in cells else None) or MembershipRole.MEMBER,
            affiliation=self.value(row, cells, "affiliation") or "" if "affiliation" in cells else "",
            started_on=started_on,
            ended_on=ended_on,
        )
        return None if row in self.errors else item

    def check(self, items: list[MemberRow]) -> None:
        areas = self.areas_by_code(i.village_code for i in items)
        users = {u.username: u for u in User.objects.filter(username__in=sorted({i.username for i in items}))}
        for item in items:
            area = areas.get(item.village_code)
            if area is None:
                self.fail(
                    item.row,
                    "village_code",
                    _("No village has the code “%(code)s”.") % {"code": item.village_code},
                    code="unknown_village",
                )
                continue
            if not self.may_write(area):
                self.fail(
                    item.row,
                    "village_code",
                    _("“%(code)s” is outside your area.") % {"code": item.village_code},
                    code="out_of_scope",
                )
                continue
            teams = list(Team.objects.filter(areas=area).order_by("pk"))
            if item.team_name:
                teams = [t for t in teams if match_key(t.name) == match_key(item.team_name)]
            if not teams:
                self.fail(
                    item.row,
                    "team_name" if item.team_name else "village_code",
                    _("No team serves this village under that name.")
                    if item.team_name
                    else _("No team serves this village."),
                    code="no_team",
                )
                continue
            if len(teams) > 1:
                self.fail(
                    item.row,
                    "team_name",
                    _("Several teams serve this village; give the team's name."),
                    code="several_teams",
                )
                continue
            item.team = teams[0]
            user = users.get(item.username)
            if user is not None and not self.may_use_user(user):
                self.fail(
                    item.row,
                    "username",
                    _("This user name belongs to someone outside your area."),
                    code="user_out_of_scope",
                )
                continue
            item.user = user
            if user is not None:
                item.membership = Membership.objects.filter(
                    team=item.team, user=user, ended_on__isnull=True
                ).first() or (Membership.objects.filter(team=item.team, user=user, started_on=item.started_on).first())
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            group_rows(valid, lambda i: (i.team.pk, i.username)),
            "username",
            _("The same member of the same team is also on row %(rows)s."),
        )

    def may_use_user(self, user: User) -> bool:
        """A user the actor may put in a team: no administrator; for an officer, nobody placed only elsewhere."""
        if user.is_superuser:
            return self.actor is not None and self.actor.is_superuser
        if self.scope is None or self.scope.everything:
            return True
        places = list(AreaRole.objects.filter(user=user).select_related("area").values_list("area__path", flat=True))
        places += list(
            Area.objects.filter(teams__memberships__user=user, teams__memberships__ended_on__isnull=True).values_list(
                "path", flat=True
            )
        )
        return not places or any(self.scope.contains(Area(path=p)) for p in places)

    def plan(self, items: list[MemberRow]) -> dict[str, int]:
        return {
            "users_new": len({i.username for i in items if i.user is None}),
            "memberships_new": sum(1 for i in items if i.membership is None),
            "memberships_existing": sum(1 for i in items if i.membership is not None),
        }

    @transaction.atomic
    def write(self, items: list[MemberRow]) -> dict[str, int]:
        counts = self.plan(items)
        created: dict[str, User] = {}
        for item in items:
            team = resolved(item.team)
            details = {"first_name": item.first_name, "last_name": item.last_name, "phone": item.phone}
            dates: dict[str, Any] = {"role": item.role, "affiliation": item.affiliation, "started_on": item.started_on}
            with self.refusals_of_row(item.row, _as_columns):
                user = item.user or created.get(item.username)
                if user is None:
                    user = teams.create_member_user(actor=self.actor, team=team, username=item.username, **details)
                    created[item.username] = user
                else:
                    teams.fill_member_details(actor=self.actor, team=team, user=user, **details)
                if item.membership is None:
                    teams.add_membership(actor=self.actor, team=team, user=user, ended_on=item.ended_on, **dates)
                else:
                    teams.update_membership(
                        actor=self.actor, membership=item.membership, ended_on=item.ended_on, **dates
                    )
        return counts

    def preview(self, item: MemberRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.membership else "new",
            "team": item.team.name if item.team else "",
            "username": item.username,
            "role": item.role,
        }


# --- targets and reported values -------------------------------------------------------------------


def _as_columns(error: ValidationError) -> ValidationError:
    """A service's error with its argument names as this file's columns (``user`` is ``username``)."""
    if not hasattr(error, "error_dict"):
        return error
    columns = {"user": "username", "areas": "village_codes", "team": "village_code"}
    return ValidationError({columns.get(key, key): value for key, value in error.error_dict.items()})
