"""``manage.py recompute_rollup [--province CODE ...] [--close-months]``: the recompute on demand."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.choices import PROVINCE_KINDS
from fieldteam.locks import AlreadyRunning, recompute_guard
from fieldteam.models import Area
from fieldteam.rollup import recompute


class Command(BaseCommand):
    help = "Recompute the roll-up counts of provinces from their residents and households; report drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--province", action="append", default=[], help="Official province code (repeatable).")
        parser.add_argument(
            "--close-months", action="store_true", help="Also freeze months that ended since the last run."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        provinces = Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).order_by("code")
        if options["province"]:
            provinces = provinces.filter(code__in=options["province"])
            missing = set(options["province"]) - set(provinces.values_list("code", flat=True))
            if missing:
                raise CommandError(_("Unknown province code(s): %(codes)s") % {"codes": ", ".join(sorted(missing))})
        for province in provinces:
            try:
                with recompute_guard(province.pk):
                    if options["close_months"]:
                        closed = recompute.roll_month_forward(province_id=province.pk)
                        for month in closed:
                            self.stdout.write(
                                _("%(province)s: closed %(month)s") % {"province": province, "month": f"{month:%Y-%m}"}
                            )
                    result = recompute.recompute_province(province_id=province.pk)
            except AlreadyRunning:
                self.stderr.write(_("%(province)s: a recompute is already running; skipped.") % {"province": province})
                continue
            self.stdout.write(
                _("%(province)s: %(rows)s village counts recomputed in %(seconds).2f s; %(drift)s differed and were corrected")
                % {"province": province, "rows": result.rows, "seconds": result.seconds, "drift": len(result.drift)}
            )
