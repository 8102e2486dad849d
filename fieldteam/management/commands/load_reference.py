"""``manage.py load_reference``: capabilities, retirement ages, indicators and seed targets."""

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.services.reference import load_reference


class Command(BaseCommand):
    help = "Load the reference data in fixtures/ (idempotent); loads the provinces the targets need."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--fixtures-dir", type=Path, default=None, help="Read the files from here instead of fixtures/."
        )

    def handle(self, *args: Any, fixtures_dir: Path | None = None, **options: Any) -> None:
        try:
            result = load_reference(fixtures_dir=fixtures_dir)
        except ValidationError as error:
            raise CommandError("\n".join(error.messages)) from error
        if result.admin_units is not None:
            self.stdout.write(
                _("Provinces loaded for the targets: %(provinces)d, with %(communes)d communes.")
                % {"provinces": result.admin_units.provinces_created, "communes": result.admin_units.communes_created}
            )
        for label, counts in (
            (_("Capabilities"), result.capabilities),
            (_("Capability derivations"), result.derivations),
            (_("Retirement ages"), result.retirement_ages),
            (_("Indicators"), result.indicators),
            (_("Targets"), result.targets),
            (_("National targets"), result.national_targets),
        ):
            self.stdout.write(
                _("%(label)s: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.")
                % {"label": label, "created": counts.created, "updated": counts.updated, "unchanged": counts.unchanged}
            )
