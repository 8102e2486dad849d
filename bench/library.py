#!/usr/bin/env python
"""Does django-import-export still earn its place? Times its paths against ours on the same rows (by hand).

Run after ``bench/import.py`` on the database it left (its residents, households and adoptions):

1. export of the residents: the library's ``Resource.export`` (a ``tablib.Dataset`` held whole in
   memory, then its ``XLSX`` format) against ``fieldteam.exports.export_file`` (streamed in pk
   chunks to a write-only workbook);
2. import of the first ``--import-rows`` rows of the bench's file into an empty copy of the
   villages: the library's ``import_data`` (a savepoint per row, each saved through the services,
   ``bench/rowbyrow.py``) against ``fieldteam.imports.engine.import_file`` (checked in sets,
   written in bulk).

    .venv/bin/python bench/library.py --database-url postgres://postgres@127.0.0.1:5432/ft_imports_bench

Prints seconds and rows/s of each, and peak Python memory (tracemalloc) for the exports.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def say(message: str) -> None:
    print(message, flush=True)


def timed(label: str, rows: int, run) -> float:
    tracemalloc.start()
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    say(f"  {label}: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s, peak {peak / 2**20:,.0f} MiB")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--import-rows", type=int, default=300)
    parser.add_argument("--file", default=str(ROOT / "var/bench/residents-20000-2026.xlsx"))
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.db import transaction
    from import_export.formats.base_formats import XLSX as LibraryXLSX
    from openpyxl import Workbook, load_workbook

    from bench.rowbyrow import RowByRowResidentResource
    from fieldteam.exports import export_file
    from fieldteam.imports.engine import import_file
    from fieldteam.models import Resident, User
    from fieldteam.resources import ResidentResource

    actor = User.objects.filter(is_superuser=True).first() or User.objects.create_superuser("library-bench", "", "x")
    rows = Resident.objects.count()
    say(f"export of {rows:,} residents (XLSX):")
    with tempfile.TemporaryDirectory() as tmp:
        ours = Path(tmp) / "ours.xlsx"
        timed("fieldteam.exports.export_file", rows, lambda: export_file(kind="residents", actor=actor, path=ours))

        def library_export() -> None:
            dataset = ResidentResource().export(queryset=Resident.objects.order_by("pk"))
            (Path(tmp) / "library.xlsx").write_bytes(LibraryXLSX().export_data(dataset))

        timed("django-import-export Resource.export + XLSX", rows, library_export)

        # The same first rows twice, each into the database as the bench left it, each rolled back.
        source = load_workbook(args.file, read_only=True)
        part = Workbook()
        sheet = part.active
        for number, row in enumerate(source.worksheets[0].iter_rows(values_only=True)):
            if number > args.import_rows:
                break
            sheet.append(list(row))
        small = Path(tmp) / "part.xlsx"
        part.save(small)
        say(f"import of {args.import_rows:,} rows already there (matched, nothing new), rolled back after:")

        class Undo(Exception):
            pass

        def rolled_back(run) -> None:
            try:
                with transaction.atomic():
                    run()
                    raise Undo
            except Undo:
                pass

        timed(
            "fieldteam.imports.engine.import_file",
            args.import_rows,
            lambda: rolled_back(lambda: import_file(kind="residents", path=small, actor=actor)),
        )
        timed(
            "django-import-export import_data, row by row",
            args.import_rows,
            lambda: rolled_back(
                lambda: RowByRowResidentResource(actor=actor).import_data(
                    LibraryXLSX().create_dataset(small.read_bytes()), use_transactions=True
                )
            ),
        )


if __name__ == "__main__":
    main()
