"""The life of a background job (import, export, report): claimed once, alive while it reports, recovered if its worker dies.

A job row is written to the database before its message goes to Redis, so nothing a user asked
for is lost with a message. Each runner claims its job (queued → running) so that a message
delivered twice runs it once, and reports progress through ``report_progress``, which also
records a heartbeat. A worker killed mid-job leaves the job running with an old heartbeat:
``release_stalled_jobs`` (beat) puts it back in the queue (on PostgreSQL only once the
worker's lock on the job has gone with its connection: a long silent step is not a death), and the runners, which are
idempotent (an import is one transaction, an export or a report rewrites its file), start over.

This is also the one place that sends Celery tasks (``enqueue_on_commit``, ``queue_job_on_commit``,
``requeue_pending``): by the task's name, looked up in the Celery app's registry (which
``fieldteam.tasks`` fills), so that no service, import, export or report imports the tasks, an edge.
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.files.base import ContentFile, File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from fieldteam import audit
from fieldteam.locks import job_guard, job_held
from fieldteam.models import Area, BackgroundJob, JobKind, JobStatus, User
from fieldteam.permissions import scope_for
from fieldteam.spreadsheets import writing

logger = logging.getLogger(__name__)


def stale_after() -> timedelta:
    """How long a running job may go without a heartbeat before it counts as abandoned.

    Longer than any single step runs without reporting (an import's write phase is one
    transaction, whose progress others see only at its end).
    """
    return timedelta(minutes=settings.FIELDTEAM_JOB_STALE_MINUTES)


def claim_job(*, job_id: Any) -> bool:
    """Mark a queued job running (one claimant wins); ``False`` if it was not queued."""
    now = timezone.now()
    return bool(
        BackgroundJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, heartbeat_at=now
        )
    )


@contextlib.contextmanager
def running(*, job: BackgroundJob) -> Iterator[None]:
    """The block in which a claimed job does its work: as the user who asked for it (the audit
    trail names them, not the worker), with the job's lock held so the sweep leaves it alone."""
    with job_guard(job.pk), audit.acting_as(job.created_by):
        yield


def report_progress(*, job_id: Any, **fields: Any) -> None:
    """Store a running job's progress (``processed``, ``total``, ``summary``) with a heartbeat."""
    BackgroundJob.objects.filter(pk=job_id).update(heartbeat_at=timezone.now(), **fields)


def release_stalled_jobs(*, now: Any = None) -> list[BackgroundJob]:
    """Put back in the queue the running jobs whose worker stopped reporting; returns them.

    Their progress is reset; the caller sends their messages again.
    """
    now = now or timezone.now()
    cutoff = now - stale_after()
    stalled = BackgroundJob.objects.filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff), status=JobStatus.RUNNING
    )
    released: list[BackgroundJob] = []
    for job in stalled.order_by("created_at")[:500]:
        if job_held(job.pk):  # silent but alive: a long step, such as an import's write transaction
            continue
        # Only if still running and still stale: a worker may have reported in the meantime.
        if (
            BackgroundJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            .update(status=JobStatus.QUEUED, processed=0, heartbeat_at=None)
        ):
            released.append(job)
    return released


# --- sending tasks: the one place -------------------------------------------------------------------

# A job's runner by the job's kind (each takes the job's id and the asker's language).
RUNNERS: dict[str, str] = {
    JobKind.IMPORT: "fieldteam.tasks.run_import_job",
    JobKind.EXPORT: "fieldteam.tasks.run_export_job",
    JobKind.REPORT: "fieldteam.tasks.generate_report",
}
# The failures of sending a message (the broker is down or unreachable).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.KombuError,
    redis.exceptions.RedisError,
    OSError,
)
# A job younger than this may still be waiting for its transaction's commit to send its message.
REQUEUE_GRACE = timedelta(seconds=60)
_SENT_KEY = "fieldteam:job-sent:{}"


def enqueue_on_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Send the task named ``task_name`` after the current transaction commits; a broker outage never fails the caller.

    What must not be lost is already in the database (the job row of a user's job), so a failed
    send is logged and left to ``requeue_pending``: the request that started the job still
    succeeds, and the job stays queued until Redis is back. When a job's runner is sent, a marker
    in the cache (which lives in Redis, beside the messages) says so for as long as the broker may
    hold it; a Redis that restarts empty loses both, and the job is sent again.
    """
    transaction.on_commit(lambda: _send(task_name, args, kwargs))


def queue_job_on_commit(*, job: BackgroundJob) -> None:
    """Send ``job``'s runner (by its kind) after the current transaction commits, in the asker's language."""
    enqueue_on_commit(RUNNERS[job.kind], str(job.pk), job.params.get("locale", "vi"))


def _task(name: str) -> Any:
    """The task registered as ``name`` (by ``fieldteam.tasks``, which Celery's autodiscovery imports)."""
    registry = current_app.tasks
    if name not in registry:
        # A web process has not run the autodiscovery yet (a worker runs it at start): run it now.
        current_app.loader.import_default_modules()
    return registry[name]


def _send(task_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    task = _task(task_name)
    if task.app.conf.task_always_eager:
        # The embedded runtime: the task runs here and now, and its own errors are its own.
        task.apply_async(args, kwargs)
        return True
    try:
        task.apply_async(args, kwargs)
    except BROKER_ERRORS:
        logger.exception("could not queue %s%r: left for requeue_pending_jobs", task_name, args)
        return False
    if task_name in RUNNERS.values():  # a job's runner: args[0] is its id
        cache.set(_SENT_KEY.format(args[0]), task_name, timeout=_visibility_timeout())
    return True


def _visibility_timeout() -> int:
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))


def _send_job(job: BackgroundJob) -> bool:
    return _send(RUNNERS[job.kind], (str(job.pk), job.params.get("locale", "vi")), {})


def requeue_pending(*, grace_seconds: float | None = None) -> int:
    """Send again the queued jobs whose message was lost; returns how many were sent.

    A queued job older than the grace period with no "sent" marker in the cache never reached
    Redis, or Redis lost it (restarted empty). Sending it twice is harmless: the runners start
    only a queued job. A running job that stopped reporting lost its worker: it is queued and sent
    again (``release_stalled_jobs``) whatever the marker says.
    """
    sent = 0
    for job in release_stalled_jobs():
        logger.warning("job %s stopped reporting while running: queued again", job.pk)
        sent += _send_job(job)
    grace = REQUEUE_GRACE if grace_seconds is None else timedelta(seconds=grace_seconds)
    jobs = list(
        BackgroundJob.objects.filter(status=JobStatus.QUEUED, created_at__lte=timezone.now() - grace).order_by(
            "created_at"
        )[:500]
    )
    sent_markers = cache.get_many([_SENT_KEY.format(job.pk) for job in jobs])
    for job in jobs:
        if _SENT_KEY.format(job.pk) in sent_markers:
            continue
        if _send_job(job):
            sent += 1
    if sent:
        logger.warning("requeued %d queued jobs whose message was lost", sent)
    return sent


# --- files with identifiers -----------------------------------------------------------------------

FILE_FIELDS = ("input_file", "result_file")


def _redacted_csv(content: bytes, redact: Callable[[str], str]) -> bytes | None:
    text = content.decode("utf-8", errors="surrogateescape")
    cleaned = redact(text)
    return None if cleaned == text else cleaned.encode("utf-8", errors="surrogateescape")


def _cell_forms(value: Any) -> list[str]:
    """The ways a cell may spell a number: as text, or as a number that lost its leading zeros."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    if isinstance(value, float) and not value.is_integer():
        return []
    digits = str(int(value))
    return [digits, digits.zfill(10), digits.zfill(12)]


def _redacted_xlsx(content: bytes, redact: Callable[[str], str]) -> bytes | None:
    # A streaming read first: most files do not hold the numbers, and loading a whole workbook
    # to rewrite it costs several times more.
    probe = load_workbook(io.BytesIO(content), read_only=True)
    try:
        hit = any(
            redact(form) != form
            for sheet in probe.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            for form in _cell_forms(value)
        )
    finally:
        probe.close()
    if not hit:
        return None
    book = load_workbook(io.BytesIO(content))
    changed = False
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                forms = _cell_forms(cell.value)
                if not forms:
                    continue
                if isinstance(cell.value, str):
                    cleaned = redact(cell.value)
                    if cleaned != cell.value:
                        writing.set_text(cell, cleaned)  # stays text, never a formula
                        changed = True
                elif any(redact(form) != form for form in forms):
                    cell.value, changed = None, True
    if not changed:
        return None
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def redact_job_files(*, jobs: QuerySet[BackgroundJob], redact: Callable[[str], str]) -> int:
    """Rewrite the files of ``jobs`` (CSV, XLSX) with ``redact`` applied to every cell; returns how many changed.

    ``redact`` returns a text with what must go replaced (a person's identifiers, on erasure); a
    numeric cell it would change is emptied. A file is rewritten under its own name, so every job
    naming it (a dry run and the import that confirmed it share one upload) keeps it. A file that
    cannot be read as a table (unknown kind, damaged) is deleted and no longer named: better
    gone than holding what must be erased. Runs inside the caller's transaction.
    """
    changed = 0
    seen: set[str] = set()
    for job in jobs.exclude(input_file="", result_file=""):
        for field in FILE_FIELDS:
            file = getattr(job, field)
            if not file or file.name in seen:
                continue
            seen.add(file.name)
            storage, name = file.storage, file.name
            if not storage.exists(name):
                continue
            with storage.open(name, "rb") as handle:
                content = handle.read()
            suffix = name.rsplit(".", 1)[-1].lower()
            try:
                cleaned = (_redacted_csv if suffix == "csv" else _redacted_xlsx)(content, redact)
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, InvalidFileException):
                # Not a table we can read: it cannot be checked, so it goes.
                logger.warning("job file %s could not be read for redaction; deleted", name)
                _forget_file(name)
                storage.delete(name)
                changed += 1
                continue
            if cleaned is None:
                continue
            storage.delete(name)
            saved = storage.save(name, ContentFile(cleaned))
            if saved != name:
                for other in FILE_FIELDS:
                    BackgroundJob.objects.filter(**{other: name}).update(**{other: saved})
            changed += 1
    return changed


def _forget_file(name: str) -> None:
    for field in FILE_FIELDS:
        BackgroundJob.objects.filter(**{field: name}).update(**{field: ""})


# --- who may download a job's file ----------------------------------------------------------------

# Exports whose rows are about people (names, birth dates, addresses, notes): with an import's
# upload and rejected-rows file (raw citizen IDs and phone numbers), files with personal data.
PERSONAL_EXPORTS = frozenset({"residents", "households", "assistance_logs"})


def holds_personal_data(job: BackgroundJob) -> bool:
    """Whether ``job``'s files are about people: every import's, and the exports of people's rows."""
    return job.kind == JobKind.IMPORT or (job.kind == JobKind.EXPORT and job.name in PERSONAL_EXPORTS)


def may_download(*, user: User, job: BackgroundJob) -> bool:
    """Whether ``user`` may download the files of ``job`` (seeing the job is checked by the caller).

    A file with personal data: only an officer of the job's area (``Scope.is_officer_of``: not a
    viewer, not a team member); a job of no single area, only a superuser, or its starter while an
    officer of every area they have. Other files (reports, lists of villages, targets): whoever
    sees the job.
    """
    if not holds_personal_data(job):
        return True
    scope = scope_for(user)
    if job.area is not None:
        return scope.is_officer_of(job.area)
    if scope.everything:
        return True
    areas = list(Area.objects.filter(path__in=scope.paths))
    return job.created_by_id == user.pk and bool(areas) and all(scope.is_officer_of(area) for area in areas)


def open_job_file(*, actor: User, job: BackgroundJob, field: str = "result_file") -> File:
    """Open ``job``'s file for ``actor`` to download, recording the access when it holds personal data.

    Raises ``PermissionDenied`` when ``actor`` may not (``may_download``) and ``Http404`` when there
    is no file. The access entry (who, when, which job and file) is written before the file is
    handed out, like a view of unmasked identifiers.
    """
    if field not in FILE_FIELDS:
        raise ValueError(field)
    file = getattr(job, field)
    if not file:
        raise Http404
    if not may_download(user=actor, job=job):
        raise PermissionDenied(_("Only an officer of this area may download files with personal data."))
    if holds_personal_data(job):
        audit.record_access(actor=actor, instance=job, fields=[field], purpose="job_file_download")
    return file.open("rb")
