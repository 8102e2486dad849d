"""``manage.py rotate_identifier_keys [--batch-size N] [--after-pk PK]``: re-encrypt identifiers under the first key.

Put the new key first in ``IDENTIFIER_ENCRYPTION_KEYS`` (old keys after it), deploy, run this, then
drop the old keys. Safe to interrupt and run again (see ``fieldteam.services.keys``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from fieldteam.services import keys


class Command(BaseCommand):
    help = "Re-encrypt every resident's citizen ID and phone number under the first IDENTIFIER_ENCRYPTION_KEYS key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch-size", type=int, default=keys.DEFAULT_BATCH_SIZE, help="Residents per transaction."
        )
        parser.add_argument(
            "--after-pk", type=int, default=0, help="Resume after this resident id (the last one a batch reported)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError(_("--batch-size must be at least 1."))

        def report(progress: keys.RotationProgress) -> None:
            self.stdout.write(
                _("Batch %(batch)s: up to resident #%(last_pk)s, %(rotated)s of %(scanned)s re-encrypted so far.")
                % {
                    "batch": progress.batches,
                    "last_pk": progress.last_pk,
                    "rotated": progress.rotated,
                    "scanned": progress.scanned,
                }
            )

        try:
            result = keys.identifier_keys_rotate(
                batch_size=options["batch_size"], after_pk=options["after_pk"], on_batch=report
            )
        except keys.KeyRotationError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("Done: %(rotated)s of %(scanned)s residents with identifiers re-encrypted in %(batches)s batches.")
            % {"rotated": result.rotated, "scanned": result.scanned, "batches": result.batches}
        )
