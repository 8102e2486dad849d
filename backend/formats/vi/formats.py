"""Vietnamese date and number formats: one convention, dd/mm/yyyy and HH:MM (issue 16).

Django's own ``vi`` formats mix three ("31-08-2026", "Ngày 31 tháng 8 năm 2026", "H:i d-m-Y");
``FORMAT_MODULE_PATH`` makes these win. A sentence that reads better with the month in words
writes its own format where it is (none does yet). The spreadsheets use the same convention
(``fieldteam.spreadsheets.columns``), the phone pages too (``shortDate`` in ``web/app.js``).
"""

DATE_FORMAT = "d/m/Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "d/m/Y H:i"
SHORT_DATE_FORMAT = "d/m/Y"
SHORT_DATETIME_FORMAT = "d/m/Y H:i"
YEAR_MONTH_FORMAT = "m/Y"
MONTH_DAY_FORMAT = "d/m"
FIRST_DAY_OF_WEEK = 1  # Monday
# What forms accept (the first is how a date input shows its value); ISO kept for what machines send.
DATE_INPUT_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d"]
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f"]
DATETIME_INPUT_FORMATS = [
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
]
DECIMAL_SEPARATOR = ","
THOUSAND_SEPARATOR = "."
