"""A job whose worker died mid-run is queued again and finished; a live one is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from fieldteam.exports import export_job_run
from fieldteam.models import BackgroundJob, JobStatus
from fieldteam.services import jobs
from fieldteam.tasks import requeue_pending_jobs
from tests.factories import ResidentFactory

pytestmark = pytest.mark.django_db


def abandoned_export(superuser, *, silent_for: timedelta) -> BackgroundJob:
    """An export job a worker claimed and then stopped reporting on (as if killed)."""
    job = BackgroundJob.objects.create(kind="export", name="villages", params={"format": "csv"}, created_by=superuser)
    assert jobs.claim_job(job_id=job.pk)
    BackgroundJob.objects.filter(pk=job.pk).update(processed=3, heartbeat_at=timezone.now() - silent_for)
    return job


def test_a_job_is_claimed_once(superuser) -> None:
    job = BackgroundJob.objects.create(kind="export", name="villages", params={"format": "csv"}, created_by=superuser)
    assert jobs.claim_job(job_id=job.pk) is True
    assert jobs.claim_job(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.heartbeat_at is not None


def test_a_redelivered_message_does_not_run_a_running_job_twice(superuser) -> None:
    job = abandoned_export(superuser, silent_for=timedelta(seconds=5))
    assert export_job_run(job_id=job.pk).status == JobStatus.RUNNING
    assert not BackgroundJob.objects.get(pk=job.pk).result_file


def test_a_job_silent_past_the_limit_is_queued_again_and_finished(area_tree, superuser, settings) -> None:
    ResidentFactory(household__village=area_tree.village)
    job = abandoned_export(superuser, silent_for=timedelta(minutes=settings.FIELDTEAM_JOB_STALE_MINUTES + 1))
    # Beat's sweep (tasks run eagerly here): released, sent again, run to the end.
    assert requeue_pending_jobs() >= 1
    job.refresh_from_db()
    assert job.status == JobStatus.DONE
    assert job.result_file and job.processed == job.total


def test_a_job_still_reporting_is_left_running(superuser, settings) -> None:
    job = abandoned_export(superuser, silent_for=timedelta(minutes=settings.FIELDTEAM_JOB_STALE_MINUTES - 1))
    assert jobs.release_stalled_jobs() == []
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.RUNNING


def test_progress_is_a_heartbeat(superuser, settings) -> None:
    job = abandoned_export(superuser, silent_for=timedelta(minutes=settings.FIELDTEAM_JOB_STALE_MINUTES + 1))
    jobs.report_progress(job_id=job.pk, processed=4)
    assert jobs.release_stalled_jobs() == []
    assert BackgroundJob.objects.get(pk=job.pk).processed == 4


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_silent_job_whose_worker_still_holds_it_is_left_running(superuser, settings) -> None:
    """An import's write phase reports nothing for a long while; its worker's lock says it is alive."""
    import threading

    from django.db import connections

    from fieldteam.locks import job_guard

    job = abandoned_export(superuser, silent_for=timedelta(minutes=settings.FIELDTEAM_JOB_STALE_MINUTES + 1))
    holding, release = threading.Event(), threading.Event()

    def worker() -> None:  # another connection, as another worker process would have
        try:
            with job_guard(job.pk):
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert holding.wait(10)
        assert jobs.release_stalled_jobs() == []
        assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    finally:
        release.set()
        thread.join()
    # The worker gone (its connection with it), the same job is released.
    assert [j.pk for j in jobs.release_stalled_jobs()] == [job.pk]
