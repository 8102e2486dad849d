"""Celery tasks: thin wrappers that take ids, load, and call a service. Each is safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

from fieldteam.choices import PROVINCE_KINDS
from fieldteam.locks import AlreadyRunning, recompute_guard
from fieldteam.models import Area
from fieldteam.services import rollup

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=5)
def recompute_province(province_id: int) -> dict[str, object]:
    """Recompute one province's counts (one at a time per province); report the drift corrected."""
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


@shared_task
def recompute_all_provinces() -> int:
    """Nightly: queue a recompute for every province."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        recompute_province.delay(province_id)
    return len(ids)


@shared_task(acks_late=True)
def roll_month_forward(province_id: int) -> list[str]:
    """Close the months that ended and rebase the counts on the new month (idempotent)."""
    try:
        with recompute_guard(province_id):
            return [m.isoformat() for m in rollup.roll_month_forward(province_id=province_id)]
    except AlreadyRunning:
        logger.info("month roll of province %s deferred: a recompute is running", province_id)
        raise roll_month_forward.retry(countdown=300) from None


@shared_task
def close_months() -> int:
    """Beat, on the first of each month: roll every province forward."""
    ids = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).values_list("pk", flat=True))
    for province_id in ids:
        roll_month_forward.delay(province_id)
    return len(ids)


@shared_task(acks_late=True)
def generate_report(job_id: str, locale: str = "vi") -> str:
    """Make the file of a report job (``BackgroundJob``) in the asker's language; idempotent."""
    from django.utils import translation

    from fieldteam.services import reports

    with translation.override(locale):
        job = reports.report_job_run(job_id=job_id)
    return job.status if job is not None else "missing"


@shared_task(acks_late=True)
def run_import_job(job_id: str, locale: str = "vi") -> str:
    """Run an import job (``BackgroundJob`` written before this was queued) in the asker's language.

    Idempotent: only a queued job is started, so a redelivered message does nothing.
    """
    from django.utils import translation

    from fieldteam.services import imports

    with translation.override(locale):
        job = imports.import_job_run(job_id=job_id)
    return job.status


@shared_task(acks_late=True)
def run_export_job(job_id: str, locale: str = "vi") -> str:
    """Write an export job's file, streaming the rows; idempotent like ``run_import_job``."""
    from django.utils import translation

    from fieldteam.services import exports

    with translation.override(locale):
        job = exports.export_job_run(job_id=job_id)
    return job.status
