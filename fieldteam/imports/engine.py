"""The engine: the kinds of import by name, ``import_file`` (read, parse, check, write), the rejected-rows file.

See the package docstring for how an import runs.
"""

from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldteam.imports.base import (
    ImportKind,
    ImportOptions,
    ImportRefused,
    ImportReport,
    ImportResult,
    ProgressCallback,
    RowError,
    RowFailure,
    blank_row,
    detect_format,
    open_table,
)
from fieldteam.imports.kinds.areas import VillagesImport
from fieldteam.imports.kinds.indicators import ReportedValuesImport, TargetsImport
from fieldteam.imports.kinds.people import HouseholdsImport, ResidentsImport
from fieldteam.imports.kinds.population import PopulationImport
from fieldteam.imports.kinds.teams import MembersImport, TeamsImport
from fieldteam.models import (
    User,
)
from fieldteam.spreadsheets import writing

# How often (rows) the progress of a running import is written.
PROGRESS_EVERY = 5000
PREVIEW_ROWS = 20


KINDS: dict[str, type[ImportKind]] = {
    kind.name: kind
    for kind in (
        VillagesImport,
        TeamsImport,
        MembersImport,
        HouseholdsImport,
        ResidentsImport,
        TargetsImport,
        ReportedValuesImport,
        PopulationImport,
    )
}
KIND_LABELS = {
    "villages": gettext_lazy("villages"),
    "teams": gettext_lazy("teams"),
    "members": gettext_lazy("team members"),
    "households": gettext_lazy("households"),
    "residents": gettext_lazy("households and residents"),
    "targets": gettext_lazy("indicator targets"),
    "indicator_values": gettext_lazy("reported indicator values"),
    "population": gettext_lazy("official population figures"),
}


# --- the engine ----------------------------------------------------------------------------------------


def import_file(
    *,
    kind: str,
    path: Path | str,
    actor: User | None,
    options: ImportOptions | None = None,
    fmt: str | None = None,
    file_name: str = "",
    progress: ProgressCallback | None = None,
) -> ImportResult:
    """Import the file at ``path`` as ``kind``; see the module docstring. Never raises for bad data.

    Returns the report (counts, every error with its row and column) and, when rows were
    rejected, a file of those rows with their reasons (same format as the input). A service
    refusing a row while writing (data changed since the check) undoes the whole write and is
    reported like any row error.
    """
    started = time.perf_counter()
    options = options or ImportOptions()
    path = Path(path)
    file_name = file_name or path.name
    report = ImportReport(kind=kind, file_name=file_name, dry_run=options.dry_run, skip_invalid=options.skip_invalid)
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    importer = KINDS[kind](actor=actor, options=options)
    try:
        fmt = fmt or detect_format(file_name)
        importer.start()
        items = _read_rows(importer, path, fmt, report, progress)
        if not report.total_rows:
            raise ImportRefused(_("The file has no rows to import."))
    except ImportRefused as refused:
        report.refused = refused.message
        report.seconds = time.perf_counter() - started
        return ImportResult(report)
    if progress:
        progress(report.total_rows, report.total_rows, "checking")
    importer.check(items)
    valid = [i for i in items if importer.is_valid(i.row)]
    report.errors = [e for row in sorted(importer.errors) for e in importer.errors[row]]
    report.valid_rows = len(valid)
    report.preview = [importer.preview(i) for i in valid[:PREVIEW_ROWS]]
    may_write = valid and (not report.errors or options.skip_invalid)
    if options.dry_run or not may_write:
        report.counts = importer.plan(valid) if may_write or options.dry_run else {}
    else:
        if progress:
            progress(report.total_rows, report.total_rows, "writing")
        try:
            report.counts = importer.write(valid)
            report.written = True
        except RowFailure as failure:
            report.errors.extend(failure.errors)
            report.valid_rows = 0
    report.seconds = time.perf_counter() - started
    rejected = None
    if report.errors:
        rejected = rejected_rows_file(path, fmt, importer, report.errors)
    return ImportResult(report, rejected)


def _read_rows(
    importer: ImportKind, path: Path, fmt: str, report: ImportReport, progress: ProgressCallback | None
) -> list[Any]:
    items: list[Any] = []
    with open_table(path, fmt) as table:
        importer.bind(table.headers)
        total = table.total
        seen = 0
        for number, values in table.rows:
            seen += 1
            if progress and seen % PROGRESS_EVERY == 0:
                progress(seen, max(total or 0, seen) if total is not None else None, "reading")
            if blank_row(values):
                continue
            report.total_rows += 1
            item = importer.parse(number, importer.cells(values))
            if item is not None:
                items.append(item)
    return items


def rejected_rows_file(path: Path, fmt: str, importer: ImportKind, errors: list[RowError]) -> bytes:
    """The rejected rows as they were in the file, with a row-number column first and the reasons last."""
    reasons: dict[int, list[str]] = defaultdict(list)
    for error in errors:
        reasons[error.row].append(f"{error.column}: {error.message}" if error.column else error.message)
    with open_table(path, fmt) as table:
        headers = ["Dòng", *[("" if h is None else h) for h in table.headers], "Lỗi"]
        rows = ([number, *values, "; ".join(reasons[number])] for number, values in table.rows if number in reasons)
        return writing.table_bytes(fmt, headers, rows, title="Lỗi")
