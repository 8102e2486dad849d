"""``manage.py export_data KIND -o FILE [--area CODE] [--as-user NAME]``: an export of any size, streamed.

KIND: villages, teams, members, households, residents, targets, reported_values, indicator_values,
assistance_logs. The format follows the output file's name (.xlsx or .csv). Without ``--as-user``
the export holds everything (narrowed by ``--area``); with it, what that user may see.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.exports import EXPORT_KINDS, export_file
from fieldteam.models import Area, User


class ExportCommand(BaseCommand):
    kind: str | None = None
    help = "Export rows to an Excel (.xlsx) or CSV file, streamed (no row limit)."

    def add_arguments(self, parser: CommandParser) -> None:
        if self.kind is None:
            parser.add_argument("kind", choices=sorted(EXPORT_KINDS))
        parser.add_argument("-o", "--output", required=True, help="The .xlsx or .csv file to write.")
        parser.add_argument("--area", help="Code of a province, commune or village to narrow the export to.")
        parser.add_argument("--as-user", help="Export what this user may see.")

    def handle(self, *args: Any, **options: Any) -> None:
        kind = self.kind or options["kind"]
        output = Path(options["output"])
        fmt = output.suffix.lower().lstrip(".")
        if fmt not in ("xlsx", "csv"):
            raise CommandError(_("The output file must end in .xlsx or .csv."))
        area = None
        if options["area"]:
            area = Area.objects.filter(code=options["area"]).first()
            if area is None:
                raise CommandError(_("No area has the code “%(code)s”.") % {"code": options["area"]})
        actor = None
        if options["as_user"]:
            actor = User.objects.filter(username=options["as_user"], is_active=True).first()
            if actor is None:
                raise CommandError(_("No active user “%(name)s”.") % {"name": options["as_user"]})
        started = time.perf_counter()
        rows = export_file(kind=kind, actor=actor, path=output, fmt=fmt, area=area)
        self.stdout.write(
            _("%(rows)s rows written to %(path)s in %(seconds).1f s")
            % {"rows": f"{rows:,}", "path": output, "seconds": time.perf_counter() - started}
        )


class Command(ExportCommand):
    pass
