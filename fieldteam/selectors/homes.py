"""Where each person starts, and which of the three front doors they may use.

One answer for "/" and for the page after signing in (``fieldteam.web.views``), and for the links
between the doors on each page:

- team members and leaders (an open membership) start in the field app, ``/``;
- staff (an area role: province or commune officer, viewer) and superusers start at the dashboards
  of their area(s), ``/dashboards/`` (straight to the area's dashboard when there is one);
- a person with both starts in the field app, with links to the dashboards and the administration;
- a national viewer (``permissions.sees_nation``) without an area role starts at ``/dashboards/``,
  which links to the national page;
- someone with neither lands on ``/``, which tells them to ask their commune officer for a team.

The answer comes from the scope (``permissions.scope_for``), and for a user with no area role nor
team, from the ``view_nation`` permission (Django's permission lookup, cached on the user).
"""

from __future__ import annotations

from dataclasses import dataclass

from fieldteam.models import User
from fieldteam.permissions import scope_for, sees_nation

FIELD_APP = "web:home"
DASHBOARDS = "dashboards:home"
ADMIN = "admin:index"


@dataclass(frozen=True)
class Homes:
    """The doors a user may use, and the one they start at (URL names)."""

    field_app: bool  # an open membership of an active team
    dashboards: bool  # an area role, a led team, the national level, or a superuser
    admin: bool  # staff with an area role, or a superuser (what the admin site admits)

    @property
    def start(self) -> str:
        """The URL name of the page the user starts at."""
        if self.field_app:
            return FIELD_APP
        if self.admin or self.dashboards:
            return DASHBOARDS
        return FIELD_APP

    @property
    def others(self) -> list[str]:
        """The URL names of the doors other than the start, in the order pages link to them."""
        doors = [(FIELD_APP, self.field_app), (DASHBOARDS, self.dashboards), (ADMIN, self.admin)]
        return [name for name, open_ in doors if open_ and name != self.start]


def homes_for(*, user: User) -> Homes:
    """Which doors ``user`` may use and where they start (see the module's docstring)."""
    scope = scope_for(user)
    if not user.is_authenticated or not user.is_active:
        return Homes(field_app=False, dashboards=False, admin=False)
    staff = user.is_superuser or scope.is_staff_scope
    return Homes(
        field_app=bool(scope.team_ids),
        # The permission lookup (two queries) only for someone with no area role nor team: a team
        # member's every page asks for the doors.
        dashboards=staff or bool(scope.led_team_ids) or (not scope.team_ids and sees_nation(user)),
        admin=user.is_staff and staff,
    )


__all__ = ["ADMIN", "DASHBOARDS", "FIELD_APP", "Homes", "homes_for"]
