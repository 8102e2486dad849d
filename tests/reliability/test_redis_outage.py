"""Logging an assistance does not depend on Redis.

With Redis stopped in the middle of a burst of logging, every log is accepted and stored once,
the throttles fail open, a job started meanwhile is kept queued in the database (its failed send
logged, the request still answered), and once Redis is back the job is sent again and a real
worker runs it and the recompute, which finds the live counts right.
"""

from __future__ import annotations

import logging

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache

from backend.celery import app
from fieldteam import exports
from fieldteam.models import AssistanceLog, BackgroundJob, JobStatus, RollupState, VillageCount
from fieldteam.rollup import recompute
from fieldteam.tasks import recompute_province, requeue_pending_jobs
from tests.reliability.conftest import LOGS, SYNC
from tests.waiting import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.django_db(transaction=True)]


def test_a_burst_of_logging_goes_on_while_redis_is_down_and_deferred_work_runs_after(
    village, redis_runtime, superuser, caplog, monkeypatch
):
    monkeypatch.setattr("fieldteam.cache._last_warning", 0.0)  # its once-a-minute warning is due
    client = village.client()
    sent: list[str] = []
    answers: list[int] = []

    def log(number: int) -> None:
        body = village.log_body(number)
        answers.append(client.post(LOGS, body, format="json").status_code)
        sent.append(body["id"])

    for number in range(10):
        log(number)
    assert cache.get(f"throttle_user_{village.member.pk}") is not None  # the throttle counts in Redis

    redis_runtime.stop()
    with caplog.at_level(logging.WARNING):
        for number in range(10, 25):
            log(number)
        batch = [village.sync_item(number) for number in range(25, 35)]
        synced = client.post(SYNC, {"items": batch}, format="json")
        job = exports.export_job_start(actor=superuser, kind="villages")
    sent += [item["client_id"] for item in batch]

    assert set(answers) == {201}
    assert synced.status_code == 200
    assert {result["status"] for result in synced.json()["results"]} == {"created"}
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED  # kept in PostgreSQL
    assert "could not queue fieldteam.tasks.run_export_job" in caplog.text
    assert "failing open" in caplog.text

    assert redis_runtime.start()  # empty: whatever Redis held is gone
    for number in range(35, 45):
        log(number)
    assert set(answers) == {201}
    assert AssistanceLog.objects.filter(pk__in=sent).count() == len(sent) == 45

    assert requeue_pending_jobs(grace_seconds=0) == 1
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        recompute_province.delay(village.province.pk)
        assert wait_for(lambda: BackgroundJob.objects.get(pk=job.pk).status == JobStatus.DONE)
        assert wait_for(lambda: RollupState.objects.filter(pk=village.province.pk, last_recompute_at__isnull=False))

    # The counts kept up with every log while Redis was away: the recompute had nothing to correct.
    assert RollupState.objects.get(pk=village.province.pk).last_drift_rows == 0
    everyone = (len(village.residents), len(village.residents))  # 45 logs went round 12 residents
    for indicator in (village.smartphone_indicator, village.skills_indicator):
        count = VillageCount.objects.get(village=village.tree.village, indicator=indicator)
        assert (count.numerator, count.denominator) == everyone
    assert recompute.recompute_province(province_id=village.province.pk).drift == []


def test_a_job_whose_message_reached_redis_is_not_sent_again(village, redis_runtime, superuser):
    job = exports.export_job_start(actor=superuser, kind="villages")

    assert requeue_pending_jobs(grace_seconds=0) == 0  # sent on commit, and Redis still holds it
    redis_runtime.stop()
    assert redis_runtime.start()  # Redis came back empty: the message is lost with its marker
    assert requeue_pending_jobs(grace_seconds=0) == 1
    assert BackgroundJob.objects.get(pk=job.pk).status == JobStatus.QUEUED
