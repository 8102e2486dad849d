"""The life of a background job (import, export, report): claimed once, alive while it reports, recovered if its worker dies.

A job row is written to the database before its message goes to Redis, so nothing a user asked
for is lost with a message. Each runner claims its job (queued → running) so that a message
delivered twice runs it once, and reports progress through ``report_progress``, which also
records a heartbeat. A worker killed mid-job leaves the job running with an old heartbeat:
``release_stalled_jobs`` (beat) puts it back in the queue (on PostgreSQL only once the
worker's lock on the job has gone with its connection: a long silent step is not a death), and the runners, which are
idempotent (an import is one transaction, an export or a report rewrites its file), start over.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from fieldteam import audit
from fieldteam.locks import job_guard, job_held
from fieldteam.models import BackgroundJob, JobStatus


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
