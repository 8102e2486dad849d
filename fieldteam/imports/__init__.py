"""Imports from Excel (XLSX) and CSV files: validate every row, then write in one transaction.

How an import runs (``import_file``), whatever the kind (villages, teams, members, households,
residents, targets, reported indicator values):

1. The file is read by ``fieldteam.spreadsheets.reading`` (size, zip-bomb, row and column caps
   checked before parsing; CSV encodings told apart; XLSX through python-calamine when installed,
   else openpyxl in read-only mode), its header row matched to the kind's resource columns
   (``fieldteam.resources``). A missing required column refuses the whole file.
2. Every row is parsed and checked cell by cell (``parse``: no database), then all rows together
   (``check``: codes resolved, duplicates in the file and in the database, the actor's scope) in a
   few set-based queries. Every problem is a ``RowError`` naming the spreadsheet row and the column
   as written in the file, with a translated message.
3. All-or-nothing by default: any error and nothing is written. With ``skip_invalid`` the valid
   rows are written and the rejected ones come back as a file with their reasons. ``dry_run``
   writes nothing and reports what would be created or matched.
4. ``write`` runs in one transaction through the services, or, for households and residents, through
   the bulk functions of ``kinds.people_bulk``, which keep the services' invariants: identifiers validated, encrypted,
   hashed and masked; adoption rows and capability masks in step; the village counts moved by the
   summed deltas through ``rules.apply_deltas`` under the province's shared counts lock. After an
   import the counts are exactly what logging the same data by hand gives (the recompute finds no
   drift). On PostgreSQL the rows and the trail go in by ``COPY`` (``fieldteam.copying``).

Rows are matched on natural codes, never on ids, so importing the same file twice creates nothing
the second time: villages on their code, households on village and household code (or head of
household and address), residents on their citizen ID, or on name and birth year within their
household; adoptions are idempotent (an earlier date moves the start back, as ``set_adoption`` does).

Large files run as a Celery task (``jobs.import_job_start`` writes the ``BackgroundJob`` row, then
queues the run through ``fieldteam.services.jobs.enqueue_on_commit``); ``manage.py import_residents``
etc. call ``engine.import_file`` directly.

The modules, lowest first: ``base`` (options, results, row errors, reading a file, the
``ImportKind`` base), ``bulk`` (binary ``COPY`` / ``bulk_create`` with the audit trail),
``kinds/`` (one module per kind: ``areas``, ``teams``, ``people`` with ``people_bulk``, its
writes, and ``indicators``), ``engine`` (the kinds by name, ``import_file``, the rejected-rows
file) and ``jobs`` (an import as a ``BackgroundJob``). Nothing here is imported by
``fieldteam.services``: imports call the services, never the other way round.
"""
