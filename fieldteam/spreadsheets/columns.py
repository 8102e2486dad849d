"""What the spreadsheet writer and reader share: the two formats, their content types, dates."""

from __future__ import annotations

XLSX = "xlsx"
CSV = "csv"
FORMATS = (XLSX, CSV)
CONTENT_TYPES = {
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    CSV: "text/csv; charset=utf-8",
}
DATA_SHEET = "Dữ liệu"
HELP_SHEET = "Hướng dẫn"
# How a date is written as text (CSV cells) and shown in an XLSX cell: the Vietnamese day/month/year.
DATE_DISPLAY = "%d/%m/%Y"
DATETIME_DISPLAY = "%d/%m/%Y %H:%M"
EXCEL_DATE_FORMAT = "DD/MM/YYYY"
EXCEL_DATETIME_FORMAT = "DD/MM/YYYY HH:MM"
EXCEL_TEXT_FORMAT = "@"
