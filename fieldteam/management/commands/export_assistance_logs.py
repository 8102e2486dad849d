"""``manage.py export_assistance_logs -o FILE [--area CODE] [--as-user NAME]``: see ``export_data``."""

from fieldteam.management.commands.export_data import ExportCommand


class Command(ExportCommand):
    kind = "assistance_logs"
    help = "Export assistance logs to .xlsx or .csv, streamed."
