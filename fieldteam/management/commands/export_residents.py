"""``manage.py export_residents -o FILE [--area CODE] [--as-user NAME]``: see ``export_data``."""

from fieldteam.management.commands.export_data import ExportCommand


class Command(ExportCommand):
    kind = "residents"
    help = "Export households and residents (identifiers masked) to .xlsx or .csv, streamed."
