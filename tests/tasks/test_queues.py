"""Celery queues (issue 18): each task goes to its queue, and the country-wide roll-up fans out one
task per province, so that workers share the provinces and reports never hold the roll-up up."""

from __future__ import annotations

from unittest import mock

import pytest

from backend.celery import app
from fieldteam import tasks
from fieldteam.models import Area
from tests.conftest import AreaTree
from tests.factories import ProvinceFactory


def _queue(task_name: str) -> str:
    return app.amqp.router.route({}, task_name)["queue"].name


@pytest.mark.parametrize(
    ("task", "queue"),
    [
        (tasks.recompute_all_provinces, "rollup"),
        (tasks.recompute_province, "rollup"),
        (tasks.close_months, "rollup"),
        (tasks.roll_month_forward, "rollup"),
        (tasks.check_all_capability_masks, "rollup"),
        (tasks.check_capability_masks, "rollup"),
        (tasks.run_import_job, "imports"),
        (tasks.generate_report, "reports"),
        (tasks.run_export_job, "reports"),
        (tasks.deliver_reports, "reports"),
        (tasks.beat_heartbeat, "default"),
        (tasks.requeue_pending_jobs, "default"),
        (tasks.purge_expired_personal_data, "default"),
    ],
)
def test_each_task_goes_to_its_queue(task, queue: str) -> None:
    assert _queue(task.name) == queue


def test_every_task_has_a_declared_queue() -> None:
    # A worker without -Q consumes the declared queues: a task routed elsewhere would never run.
    declared = set(app.amqp.queues)
    assert declared == {"default", "rollup", "imports", "reports"}
    ours = [name for name in app.tasks if name.startswith("fieldteam.")]
    assert ours
    assert {_queue(name) for name in ours} <= declared


@pytest.mark.parametrize(
    ("fan_out", "per_province"),
    [
        (tasks.recompute_all_provinces, tasks.recompute_province),
        (tasks.close_months, tasks.roll_month_forward),
        (tasks.check_all_capability_masks, tasks.check_capability_masks),
    ],
)
def test_country_wide_roll_up_sends_one_task_per_province(area_tree: AreaTree, fan_out, per_province) -> None:
    third = ProvinceFactory(name="Điện Biên")
    provinces = {area_tree.province.pk, area_tree.other_province.pk, third.pk}
    assert set(Area.objects.filter(depth=1).values_list("pk", flat=True)) == provinces
    with mock.patch.object(per_province, "delay") as send:
        assert fan_out() == 3
    assert sorted(call.args[0] for call in send.call_args_list) == sorted(provinces)
    assert _queue(per_province.name) == "rollup"
