"""``manage.py import_targets FILE [--village-code/--commune-code CODE] [--dry-run] [--skip-invalid] [--as-user NAME]``.

See ``import_data`` for the options; the same checks and writes as the admin's import.
"""

from fieldteam.management.commands.import_data import ImportCommand


class Command(ImportCommand):
    kind = "targets"
    help = "Import targets from an Excel (.xlsx) or CSV file (see import_data)."
