"""``manage.py import_data KIND FILE [...]``: the admin's import, for provincial IT staff.

    manage.py import_residents danh-sach.xlsx --commune-code 23764 --dry-run
    manage.py import_residents danh-sach.xlsx --village-code 23764-01 --skip-invalid --as-user canbo.xa
    manage.py import_data villages thon.csv

KIND is one of villages, teams, members, households, residents, targets, indicator_values (each also
has a command of its own: ``import_residents`` ...). The same validation as in the admin; by default
all-or-nothing, ``--skip-invalid`` imports the valid rows and writes the rejected ones with their
reasons next to the file (``--rejected-file`` to choose where). ``--as-user`` imports with that
user's scope and records them as the author; without it the import runs as the system. Exits with
an error when nothing was imported because of errors (or, with ``--dry-run``, when there are any).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.imports.base import ImportOptions
from fieldteam.imports.engine import KINDS, import_file
from fieldteam.models import Area, User
from fieldteam.services.areas import commune_code

SHOWN_ERRORS = 50


class ImportCommand(BaseCommand):
    """Base of the import commands; ``kind`` fixed by the subclasses, else the first argument."""

    kind: str | None = None
    help = "Import an Excel (.xlsx) or CSV file: villages, teams, members, households, residents, targets or reported values."

    def add_arguments(self, parser: CommandParser) -> None:
        if self.kind is None:
            parser.add_argument("kind", choices=sorted(KINDS))
        parser.add_argument("file", help="The .xlsx or .csv file.")
        parser.add_argument(
            "--village-code", help="Every row belongs to this village (the village column may be left out)."
        )
        parser.add_argument("--commune-code", help="Every row's village lies in this commune (official code).")
        parser.add_argument("--dry-run", action="store_true", help="Check every row and report; save nothing.")
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the valid rows; write the others to the rejected-rows file.",
        )
        parser.add_argument("--as-user", help="Import as this user (their area, recorded as the author).")
        parser.add_argument("--format", choices=["xlsx", "csv"], help="Default: from the file name.")
        parser.add_argument("--rejected-file", help="Where to write the rejected rows (default: next to the file).")

    def handle(self, *args: Any, **options: Any) -> None:
        kind = self.kind or options["kind"]
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("No such file: %(path)s") % {"path": path})
        actor = None
        if options["as_user"]:
            actor = User.objects.filter(username=options["as_user"], is_active=True).first()
            if actor is None:
                raise CommandError(_("No active user “%(name)s”.") % {"name": options["as_user"]})
        import_options = ImportOptions(
            dry_run=options["dry_run"],
            skip_invalid=options["skip_invalid"],
            village=self._area(options["village_code"], "--village-code"),
            commune=self._area(options["commune_code"], "--commune-code", pad=True),
        )
        started = time.perf_counter()

        def progress(done: int, total: int | None, phase: str) -> None:
            if options["verbosity"] > 1:
                self.stderr.write(f"  {phase}: {done:,}" + (f"/{total:,}" if total else ""))

        result = import_file(
            kind=kind, path=path, actor=actor, options=import_options, fmt=options["format"], progress=progress
        )
        report = result.report
        for error in report.errors[:SHOWN_ERRORS]:
            self.stderr.write(error.text())
        if len(report.errors) > SHOWN_ERRORS:
            self.stderr.write(_("… and %(count)s more errors.") % {"count": len(report.errors) - SHOWN_ERRORS})
        if result.rejected_file is not None:
            target = Path(options["rejected_file"] or path.with_name(f"{path.stem}.rejected{path.suffix}"))
            target.write_bytes(result.rejected_file)
            self.stderr.write(_("Rejected rows with their reasons: %(path)s") % {"path": target})
        self.stdout.write(report.outcome())
        for name, value in report.counts.items():
            self.stdout.write(f"  {name}: {value:,}")
        self.stdout.write(
            _("%(rows)s rows in %(seconds).1f s")
            % {"rows": f"{report.total_rows:,}", "seconds": time.perf_counter() - started}
        )
        if report.refused or (report.errors and (options["dry_run"] or not report.written)):
            raise CommandError(report.refused or _("The file has errors."))

    def _area(self, code: str | None, option: str, *, pad: bool = False) -> Area | None:
        if not code:
            return None
        if pad and code.isdigit():
            code = commune_code(code)
        area = Area.objects.filter(code=code).first()
        if area is None:
            raise CommandError(_("%(option)s: no area has the code “%(code)s”.") % {"option": option, "code": code})
        return area


class Command(ImportCommand):
    pass
