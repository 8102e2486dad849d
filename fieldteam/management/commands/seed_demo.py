"""``manage.py seed_demo``: a believable demo commune; prints one login per role."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from fieldteam.services.demo import seed_demo


class Command(BaseCommand):
    help = "Build the demo: one real commune with villages, teams, households, residents, adoptions and logs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--password", default=os.environ.get("DEMO_PASSWORD", "fieldteam-demo"), help="Password of the demo users."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = seed_demo(password=options["password"])
        if result.created:
            self.stdout.write(
                _("Demo built: %(households)s households, %(residents)s residents, %(logs)s assistance logs.")
                % {"households": result.households, "residents": result.residents, "logs": result.logs}
            )
        else:
            self.stdout.write(_("Demo data already present; nothing changed."))
        self.stdout.write(_("Demo logins (password: %(password)s):") % {"password": options["password"]})
        for role, username, _password in result.logins:
            self.stdout.write(f"  {role!s:<18} {username}")
