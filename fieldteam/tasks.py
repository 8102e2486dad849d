"""Celery tasks: thin wrappers that take ids, load, and call a service. Each is safe to run twice.

Delivery is at least once (late acks, rejection on worker loss, a visibility timeout: see the
CELERY section of the settings), so every task is idempotent; transient failures of the database
or the broker are retried with exponential backoff and jitter.

Nothing that must not be lost lives only in Redis: a job a user waits for is a ``BackgroundJob``
row written before its message is sent (``enqueue_on_commit``), and ``requeue_pending_jobs``
(beat, and each worker at start) sends again the messages of queued jobs that Redis lost or never
received.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.core.cache import cache
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone

from fieldteam.choices import PROVINCE_KINDS
from fieldteam.locks import AlreadyRunning, recompute_guard
from fieldteam.models import Area, BackgroundJob, JobKind, JobStatus
from fieldteam.services import masks, rollup
from fieldteam.services.jobs import release_stalled_jobs

logger = logging.getLogger(__name__)

# Failures that pass: a dropped or restarting database, a broker that is down for a while.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    kombu.exceptions.OperationalError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
)
# The failures of sending a message (the broker is down or unreachable).
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    kombu.exceptions.KombuError,
    redis.exceptions.RedisError,
    OSError,
)
RETRY: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,  # 5 s, 10 s, 20 s, ... with jitter, so a recovering service is not stampeded
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}
# A job younger than this may still be waiting for its transaction's commit to send its message.
REQUEUE_GRACE = timedelta(seconds=60)
_SENT_KEY = "fieldteam:job-sent:{}"
# When beat last ran (``beat_heartbeat``), read by ``fieldteam.health``.
BEAT_HEARTBEAT_KEY = "fieldteam:beat:last"


def enqueue_on_commit(task: Task, *args: Any, **kwargs: Any) -> None:
    """Send ``task`` after the current transaction commits; a broker outage never fails the caller.

    What must not be lost is already in the database (the job row of a user's job), so a failed
    send is logged and left to ``requeue_pending_jobs``: the request that started the job still
    succeeds, and the job stays queued until Redis is back. When the message is sent, a marker in
    the cache (which lives in Redis, beside the messages) says so for as long as the broker may
    hold it; a Redis that restarts empty loses both, and the job is sent again.
    """
    transaction.on_commit(lambda: _send(task, args, kwargs))


def _send(task: Task, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if task.app.conf.task_always_eager:
        # The embedded runtime: the task runs here and now, and its own errors are its own.
        task.apply_async(args, kwargs)
        return True
    try:
        task.apply_async(args, kwargs)
    except BROKER_ERRORS:
        logger.exception("could not queue %s%r: left for requeue_pending_jobs", task.name, args)
        return False
    if task in (run_import_job, run_export_job, generate_report):  # a job's runner: args[0] is its id
        cache.set(_SENT_KEY.format(args[0]), task.name, timeout=_visibility_timeout())
    return True


def _visibility_timeout() -> int:
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600))


def _runner(job: BackgroundJob) -> Task:
    return {JobKind.IMPORT: run_import_job, JobKind.EXPORT: run_export_job, JobKind.REPORT: generate_report}[job.kind]


@shared_task(**RETRY)
def requeue_pending_jobs(grace_seconds: float | None = None) -> int:
    """Beat, and each worker at start: send again the queued jobs whose message was lost.

    A queued job older than the grace period with no "sent" marker in the cache never reached
    Redis, or Redis lost it (restarted empty). Sending it twice is harmless: the runners start
    only a queued job. A running job that stopped reporting lost its worker: it is queued and sent
    again (``fieldteam.services.jobs.release_stalled_jobs``). Returns how many were sent.
    """
    sent = 0
    # A running job whose worker died: back in the queue, and its message sent again whatever the marker says.
    for job in release_stalled_jobs():
        logger.warning("job %s stopped reporting while running: queued again", job.pk)
        sent += _send(_runner(job), (str(job.pk), job.params.get("locale", "vi")), {})
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
        if _send(_runner(job), (str(job.pk), job.params.get("locale", "vi")), {}):
            sent += 1
    if sent:
        logger.warning("requeued %d queued jobs whose message was lost", sent)
    return sent


@worker_ready.connect
def _requeue_at_worker_start(sender: Any = None, **_kwargs: Any) -> None:
    # A worker starting is often Redis or the machine coming back: look for lost jobs at once.
    try:
        requeue_pending_jobs.delay()
    except BROKER_ERRORS:
        logger.exception("could not queue requeue_pending_jobs at worker start")


@shared_task
def beat_heartbeat() -> str:
    """Beat, every minute: record that beat, the broker and a worker are all alive (``/health/``)."""
    now = timezone.now().isoformat()
    cache.set(BEAT_HEARTBEAT_KEY, now, timeout=None)
    return now


@shared_task(**RETRY)
def recompute_province(province_id: int) -> dict[str, object]:
    """Recompute one province's counts (one at a time per province); report the drift corrected.

    Killed half-way, it leaves nothing behind: the recompute is one transaction and its guard a
    PostgreSQL session lock, both gone with the connection; the redelivered message runs it again.
    """
    try:
        with recompute_guard(province_id):
            result = rollup.recompute_province(province_id=province_id)
    except AlreadyRunning:
        logger.info("recompute of province %s already running; skipped", province_id)
        return {"province_id": province_id, "skipped": True}
    return {
        "province_id": province_id,
        "seconds": round(result.seconds, 3),
        "rows": result.rows,
        "drift_rows": len(result.drift),
    }


@shared_task(**RETRY)
def check_capability_masks(province_id: int) -> dict[str, object]:
    """Weekly: masks checked against the open adoptions; if any was repaired, the counts recomputed."""
    try:
        with recompute_guard(province_id):
            repaired = masks.repair_capability_masks(province_id=province_id)
            drift = rollup.recompute_province(province_id=province_id).drift if repaired else []
    except AlreadyRunning:
        logger.info("recompute of province %s running; mask check skipped", province_id)
        return {"province_id": province_id, "skipped": True}
    return {"province_id": province_id, "masks_repaired": len(repaired), "drift_rows": len(drift)}


@shared_task(**RETRY)
def check_all_capability_masks() -> int:
    """Weekly (beat): queue the mask check of every province."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        check_capability_masks.delay(province_id)
    return len(ids)


@shared_task(**RETRY)
def recompute_all_provinces() -> int:
    """Nightly: queue a recompute for every province."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        recompute_province.delay(province_id)
    return len(ids)


@shared_task(**RETRY)
def roll_month_forward(province_id: int) -> list[str]:
    """Close the months that ended and rebase the counts on the new month (idempotent)."""
    try:
        with recompute_guard(province_id):
            return [m.isoformat() for m in rollup.roll_month_forward(province_id=province_id)]
    except AlreadyRunning:
        logger.info("month roll of province %s deferred: a recompute is running", province_id)
        raise roll_month_forward.retry(countdown=300) from None


@shared_task(**RETRY)
def close_months() -> int:
    """Beat, on the first of each month: roll every province forward."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        roll_month_forward.delay(province_id)
    return len(ids)


@shared_task(**RETRY)
def generate_report(job_id: str, locale: str = "vi") -> str:
    """Make the file of a report job (``BackgroundJob``) in the asker's language; idempotent."""
    from django.utils import translation

    from fieldteam.services import reports

    with translation.override(locale):
        job = reports.report_job_run(job_id=job_id)
    return job.status if job is not None else "missing"


@shared_task(**RETRY)
def run_import_job(job_id: str, locale: str = "vi") -> str:
    """Run an import job (``BackgroundJob`` written before this was queued) in the asker's language.

    Idempotent: only a queued job is started, so a redelivered message does nothing.
    """
    from django.utils import translation

    from fieldteam.services import imports

    with translation.override(locale):
        job = imports.import_job_run(job_id=job_id)
    return job.status


@shared_task(**RETRY)
def run_export_job(job_id: str, locale: str = "vi") -> str:
    """Write an export job's file, streaming the rows; idempotent like ``run_import_job``."""
    from django.utils import translation

    from fieldteam.services import exports

    with translation.override(locale):
        job = exports.export_job_run(job_id=job_id)
    return job.status


@shared_task(**RETRY)
def purge_expired_personal_data() -> dict[str, int]:
    """Retention (beat, nightly): purge old log notes, departed residents' identifiers, old job files.

    Idempotent: a re-run, or a redelivered message, finds nothing left to purge.
    """
    from fieldteam.services import privacy

    purged = privacy.purge_expired()
    logger.info("retention purge: %s", purged)
    return purged
