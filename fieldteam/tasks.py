"""Celery tasks: thin wrappers that take ids, load, and call a service. Each is safe to run twice.

Delivery is at least once (late acks, rejection on worker loss, a visibility timeout: see the
CELERY section of the settings), so every task is idempotent; transient failures of the database
or the broker are retried with exponential backoff and jitter.

Nothing that must not be lost lives only in Redis: a job a user waits for is a ``BackgroundJob``
row written before its message is sent (``fieldteam.services.jobs.enqueue_on_commit``, the one
module that sends tasks, by name), and ``requeue_pending_jobs``
(beat, and each worker at start) sends again the messages of queued jobs that Redis lost or never
received.
"""

from __future__ import annotations

import logging
from typing import Any

import kombu.exceptions
import redis.exceptions
from celery import shared_task
from celery.signals import worker_ready
from django.core.cache import cache
from django.db import InterfaceError, OperationalError
from django.utils import timezone, translation

from fieldteam import exports
from fieldteam.choices import PROVINCE_KINDS
from fieldteam.imports import jobs as import_jobs
from fieldteam.locks import AlreadyRunning, recompute_guard
from fieldteam.models import Area
from fieldteam.rollup import masks, recompute
from fieldteam.services import jobs, privacy, reports, subscriptions

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
RETRY: dict[str, Any] = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 5,  # 5 s, 10 s, 20 s, ... with jitter, so a recovering service is not stampeded
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 8,
}
# When beat last ran (``beat_heartbeat``), read by ``fieldteam.health``.
BEAT_HEARTBEAT_KEY = "fieldteam:beat:last"


@shared_task(**RETRY)
def requeue_pending_jobs(grace_seconds: float | None = None) -> int:
    """Beat, and each worker at start: send again the queued jobs whose message was lost.

    A queued job older than the grace period with no "sent" marker in the cache never reached
    Redis, or Redis lost it (restarted empty). Sending it twice is harmless: the runners start
    only a queued job. A running job that stopped reporting lost its worker: it is queued and sent
    again (``fieldteam.services.jobs.requeue_pending``, which sends them). Returns how many were sent.
    """
    return jobs.requeue_pending(grace_seconds=grace_seconds)


@worker_ready.connect
def _requeue_at_worker_start(sender: Any = None, **_kwargs: Any) -> None:
    # A worker starting is often Redis or the machine coming back: look for lost jobs at once.
    try:
        requeue_pending_jobs.delay()
    except jobs.BROKER_ERRORS:
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
            result = recompute.recompute_province(province_id=province_id)
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
def check_capability_masks(province_id: int, recompute_anyway: bool = False) -> dict[str, object]:
    """Weekly: masks checked against the open adoptions; if any was repaired, the counts recomputed.

    ``recompute_anyway``: after a derivation rule changed, which changes the counting rules even
    where no mask needed repair (``services.counting``): masks first, then the counts, in one task.
    """
    try:
        with recompute_guard(province_id):
            repaired = masks.repair_capability_masks(province_id=province_id)
            recount = repaired or recompute_anyway
            drift = recompute.recompute_province(province_id=province_id).drift if recount else []
    except AlreadyRunning:
        logger.info("recompute of province %s running; mask check skipped", province_id)
        return {"province_id": province_id, "skipped": True}
    return {"province_id": province_id, "masks_repaired": len(repaired), "drift_rows": len(drift)}


@shared_task(**RETRY)
def check_all_capability_masks(recompute_anyway: bool = False) -> int:
    """Weekly (beat): queue the mask check of every province (``recompute_anyway``: see ``check_capability_masks``)."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        check_capability_masks.delay(province_id, recompute_anyway=recompute_anyway)
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
            return [m.isoformat() for m in recompute.roll_month_forward(province_id=province_id)]
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
    with translation.override(locale):
        job = reports.report_job_run(job_id=job_id)
    return job.status if job is not None else "missing"


@shared_task(**RETRY)
def run_import_job(job_id: str, locale: str = "vi") -> str:
    """Run an import job (``BackgroundJob`` written before this was queued) in the asker's language.

    Idempotent: only a queued job is started, so a redelivered message does nothing.
    """
    with translation.override(locale):
        job = import_jobs.import_job_run(job_id=job_id)
    return job.status


@shared_task(**RETRY)
def run_export_job(job_id: str, locale: str = "vi") -> str:
    """Write an export job's file, streaming the rows; idempotent like ``run_import_job``."""
    with translation.override(locale):
        job = exports.export_job_run(job_id=job_id)
    return job.status


@shared_task(**RETRY)
def deliver_reports() -> dict[str, int]:
    """Beat (every 15 minutes), and after each approval commits: email the reports of approved months.

    Idempotent: each subscription's month is sent once (``subscriptions.deliver_approved_reports``
    records it); a failed send is tried again by a later run.
    """
    run = subscriptions.deliver_approved_reports()
    return {"sent": run.sent, "failed": run.failed, "skipped": run.skipped}


@shared_task(**RETRY)
def purge_expired_personal_data() -> dict[str, int]:
    """Retention (beat, nightly): purge old log notes, departed residents' identifiers, old job files.

    Idempotent: a re-run, or a redelivered message, finds nothing left to purge.
    """
    purged = privacy.purge_expired()
    logger.info("retention purge: %s", purged)
    return purged
