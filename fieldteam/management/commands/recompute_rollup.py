"""``manage.py recompute_rollup [--province CODE ...] [--close-months] [--repair-masks]``: the recompute on demand.

``--repair-masks`` first runs the weekly mask check (``rollup.masks``): after an upgrade that adds
derivation rules (migration 0019 starts every household's holdings through members at none), or
after loading new ones, the masks are brought in step before the counts are recomputed from them.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.choices import PROVINCE_KINDS
from fieldteam.locks import AlreadyRunning, recompute_guard
from fieldteam.models import Area
from fieldteam.rollup import masks, recompute


class Command(BaseCommand):
    help = "Recompute the roll-up counts of provinces from their residents and households; report drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--province", action="append", default=[], help="Official province code (repeatable).")
        parser.add_argument(
            "--close-months", action="store_true", help="Also freeze months that ended since the last run."
        )
        parser.add_argument(
            "--repair-masks",
            action="store_true",
            help="First bring the capability masks and the households' holdings through members in step.",
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
                    if options["repair_masks"]:
                        repaired = masks.repair_capability_masks(province_id=province.pk)
                        self.stdout.write(
                            _("%(province)s: %(count)s capability masks repaired")
                            % {"province": province, "count": len(repaired)}
                        )
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
