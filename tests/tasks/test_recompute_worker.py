"""The recompute runs on a real Celery worker consuming from Redis (not only in eager mode)."""

from __future__ import annotations

import pytest
from celery.contrib.testing.worker import start_worker

from backend.celery import app
from fieldteam.models import RollupState, VillageCount
from fieldteam.tasks import recompute_province
from tests.factories import HouseholdFactory, IndicatorFactory, ResidentFactory
from tests.waiting import wait_for


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_recomputes_a_province_and_corrects_drift(area_tree):
    indicator = IndicatorFactory(min_age=18)
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1990)
    VillageCount.objects.filter(village=area_tree.village, indicator=indicator).update(denominator=99)

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30):
        recompute_province.delay(area_tree.province.pk)
        assert wait_for(
            lambda: RollupState.objects.filter(pk=area_tree.province.pk, last_recompute_at__isnull=False).exists(),
            seconds=30,
        ), "the worker never finished the recompute"

    state = RollupState.objects.get(pk=area_tree.province.pk)
    assert state.last_drift_rows == 1
    assert VillageCount.objects.get(village=area_tree.village, indicator=indicator).denominator == 1
