"""Team coverage, the plans' own instrument: villages with an active team, members per team, members trained.

Per child of an area (a province's communes, a commune's villages) and for the area itself, as of
today: a village is covered when an active team (``Team.is_active``, founded by today) serves it;
a team is counted where it serves; its members are the open memberships (started by today, not
ended); a member is trained when a course of their own is recorded (``MemberTraining``, any
team, on or before today). Four queries whatever the size of the area.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.db import connections, router

from fieldteam.choices import VILLAGE_KINDS
from fieldteam.models import Area, Membership, MemberTraining, Team, User
from fieldteam.periods import today
from fieldteam.permissions import ensure_visible


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Coverage:
    """The team coverage of one area."""

    area: Area
    villages: int
    villages_with_team: int
    teams: int
    members: int
    members_trained: int

    @property
    def village_share(self) -> Decimal | None:
        """Villages with an active team, in % of the villages."""
        return _share(self.villages_with_team, self.villages)

    @property
    def members_per_team(self) -> Decimal | None:
        if not self.teams:
            return None
        return (Decimal(self.members) / Decimal(self.teams)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    @property
    def trained_share(self) -> Decimal | None:
        """Members trained, in % of the members."""
        return _share(self.members_trained, self.members)


@dataclass(frozen=True)
class TeamCoverage:
    """An area's coverage and its children's (in the order of the tree)."""

    total: Coverage
    children: list[Coverage]


def _grouped(
    area: Area, key_lengths: tuple[int, ...], on: date
) -> dict[tuple[int, str], tuple[int, int, int, int, int]]:
    """Per (length, path prefix of that length) below ``area``, for each of ``key_lengths``: villages,
    villages covered, teams, members, trained. Two queries whatever the number of lengths (one
    ``UNION ALL`` per kind of count: teams and members are counted distinct per prefix, so a level
    is not the sum of the one below; the length is in the key, as a shorter path's prefix is itself)."""
    areas, team_areas = Area._meta.db_table, Team.areas.through._meta.db_table
    teams, memberships, trainings = Team._meta.db_table, Membership._meta.db_table, MemberTraining._meta.db_table
    kinds = sorted(str(kind) for kind in VILLAGE_KINDS)
    kind_list = ", ".join(["%s"] * len(kinds))
    active_team = "t.is_active AND t.founded_on <= %s"
    # Table names and fixed SQL from this module; values as parameters.
    villages_sql = (
        f"SELECT CAST(%s AS INTEGER), SUBSTR(a.path, 1, %s), COUNT(*), COUNT(CASE WHEN EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {team_areas} ta JOIN {teams} t ON t.id = ta.team_id WHERE ta.area_id = a.id AND {active_team}"
        f") THEN 1 END) FROM {areas} a WHERE a.path LIKE %s AND a.kind IN ({kind_list}) GROUP BY SUBSTR(a.path, 1, %s)"
    )
    teams_sql = (
        f"SELECT CAST(%s AS INTEGER), SUBSTR(a.path, 1, %s), COUNT(DISTINCT t.id), COUNT(DISTINCT m.id), "  # noqa: S608
        f"COUNT(DISTINCT CASE WHEN EXISTS (SELECT 1 FROM {trainings} mt WHERE mt.user_id = m.user_id "
        f"AND mt.trained_on <= %s) THEN m.id END) "
        f"FROM {teams} t JOIN {team_areas} ta ON ta.team_id = t.id JOIN {areas} a ON a.id = ta.area_id "
        f"LEFT JOIN {memberships} m ON m.team_id = t.id AND m.started_on <= %s AND (m.ended_on IS NULL OR m.ended_on > %s) "
        f"WHERE a.path LIKE %s AND {active_team} GROUP BY SUBSTR(a.path, 1, %s)"
    )
    result: dict[tuple[int, str], list[int]] = {}
    # Raw SQL is not routed: ask the router, so a dashboard's read goes to a replica as its ORM reads do.
    with connections[router.db_for_read(Team)].cursor() as cursor:
        cursor.execute(
            " UNION ALL ".join([villages_sql] * len(key_lengths)),
            [value for length in key_lengths for value in (length, length, on, area.path + "%", *kinds, length)],
        )
        for length, key, villages, covered in cursor.fetchall():
            result.setdefault((int(length), key), [0] * 5)[:2] = [int(villages), int(covered)]
        cursor.execute(
            " UNION ALL ".join([teams_sql] * len(key_lengths)),
            [value for length in key_lengths for value in (length, length, on, on, on, area.path + "%", on, length)],
        )
        for length, key, team_count, members, trained in cursor.fetchall():
            result.setdefault((int(length), key), [0] * 5)[2:] = [int(team_count), int(members), int(trained)]
    return {key: (row[0], row[1], row[2], row[3], row[4]) for key, row in result.items()}


def team_coverage(*, user: User, area: Area) -> TeamCoverage:
    """``area``'s team coverage and its children's, as of today; ``OutOfScope`` if the user may not see it."""
    ensure_visible(user, area)
    on = today()
    children = list(Area.objects.filter(path__startswith=area.path, depth=area.depth + 1).order_by("path"))
    # The area and its children in one pass (their prefixes differ in length, so never collide).
    lengths = (len(area.path), (area.depth + 1) * Area.steplen) if children else (len(area.path),)
    grouped = _grouped(area, lengths, on)
    return TeamCoverage(
        total=Coverage(area, *grouped.get((lengths[0], area.path), (0, 0, 0, 0, 0))),
        children=[Coverage(child, *grouped.get((lengths[-1], child.path), (0, 0, 0, 0, 0))) for child in children],
    )


__all__ = ["Coverage", "TeamCoverage", "team_coverage"]
