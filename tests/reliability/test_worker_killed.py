"""A worker killed in the middle of a recompute: the message comes back, the rerun finishes, and
the counts are right (nothing of the killed run stays: neither its writes nor its lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from fieldteam.models import RollupState, VillageCount
from fieldteam.rollup import recompute
from fieldteam.tasks import recompute_province
from tests.reliability.pg import database_url
from tests.waiting import wait_for

pytestmark = [pytest.mark.fault, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_a_worker_killed_in_the_middle_of_a_recompute_leaves_no_drift_after_the_rerun(
    village, redis_runtime, tmp_path: Path
):
    counts = VillageCount.objects.filter(village=village.tree.village, indicator=village.smartphone_indicator)
    counts.update(denominator=99)  # drift for the recompute to correct
    marker = tmp_path / "paused-pid"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "backend.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_runtime.url,
        "FT_PAUSE_MARKER": str(marker),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.paused_worker"],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        recompute_province.delay(village.province.pk)
        # The marker holds the pid of the pool process running the task once it is paused.
        assert wait_for(lambda: marker.exists() and marker.read_text().strip().isdigit()), (
            "the recompute never reached the pause"
        )
        os.kill(int(marker.read_text()), signal.SIGKILL)

        # Rejected on the worker's loss, the message is delivered again to a new pool process.
        assert wait_for(lambda: RollupState.objects.filter(pk=village.province.pk, last_recompute_at__isnull=False))
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()

    state = RollupState.objects.get(pk=village.province.pk)
    assert state.last_drift_rows == 1  # the rerun corrected the drift: the killed run left nothing
    assert counts.get().denominator == len(village.residents)
    assert recompute.recompute_province(province_id=village.province.pk).drift == []
