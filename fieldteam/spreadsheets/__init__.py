"""The one writer and the one reader of spreadsheets (STYLE habit 17).

Every CSV or XLSX file fieldteam makes leaves through ``writing`` (formulas neutralised, types
set); every uploaded file is read through ``reading`` (size caps checked before parsing,
encodings told apart). ``columns`` holds what both share: the formats and how dates are shown.
"""
