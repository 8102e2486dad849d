"""``manage.py load_admin_units [--province CODE ...]``: the official provinces and communes."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.services.areas import load_admin_units


class Command(BaseCommand):
    help = "Load the 34 provinces and 3,321 communes of the 2025 reorganisation (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--province",
            action="append",
            dest="province_codes",
            metavar="CODE",
            help="Only this province (official code, e.g. 52); repeat for several.",
        )

    def handle(self, *args: Any, province_codes: list[str] | None = None, **options: Any) -> None:
        try:
            result = load_admin_units(province_codes=province_codes)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from error
        self.stdout.write(
            _(
                "Provinces: %(p_created)d created, %(p_updated)d updated. "
                "Communes: %(c_created)d created, %(c_updated)d updated."
            )
            % {
                "p_created": result.provinces_created,
                "p_updated": result.provinces_updated,
                "c_created": result.communes_created,
                "c_updated": result.communes_updated,
            }
        )
