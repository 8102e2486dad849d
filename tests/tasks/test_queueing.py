"""Tasks are sent from one module, by name: ``fieldteam.services.jobs``.

Nothing below the edges imports ``fieldteam.tasks`` (an edge: it imports the services, imports and
exports it runs), so a task is named by a string; these tests hold every such name to the Celery
registry, and the layers the names keep apart to their imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from celery.exceptions import NotRegistered
from django.core.cache import cache

import fieldteam
from fieldteam.models import JobKind
from fieldteam.services import jobs
from tests.factories import UserFactory

APP = Path(fieldteam.__file__).parent
# What may import ``fieldteam.tasks``: the edges (admin, the health view reads the beat key) and bench.
MAY_IMPORT_TASKS = ("admin/", "health.py", "management/")
# Packages that must not import the packages named: the services sit below all of these.
BELOW = {
    "services/": (
        "fieldteam.tasks",
        "fieldteam.resources",
        "fieldteam.dashboards",
        "fieldteam.imports",
        "fieldteam.exports",
    ),
    "selectors/": ("fieldteam.tasks", "fieldteam.services", "fieldteam.imports", "fieldteam.exports"),
    "resources/": ("fieldteam.tasks", "fieldteam.imports", "fieldteam.exports"),
    "imports/": ("fieldteam.tasks",),
    "exports.py": ("fieldteam.tasks",),
}


def _modules() -> dict[str, ast.Module]:
    return {str(path.relative_to(APP)): ast.parse(path.read_text()) for path in sorted(APP.rglob("*.py"))}


def _imported(tree: ast.AST) -> set[str]:
    """Every module ``tree`` imports, at the top or inside a function (``from a import b``: ``a`` and ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _task_names_sent(tree: ast.AST) -> list[str]:
    """The task names given as constants to ``enqueue_on_commit`` (and the runners' table)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] == "enqueue_on_commit":
            first = node.args[0] if node.args else None
            assert isinstance(first, ast.Constant), f"name the task by a constant string: {ast.unparse(node)}"
            found.append(first.value)
    return found


def _unknown(names: list[str]) -> set[str]:
    unknown = set()
    for name in names:
        try:
            jobs._task(name)  # as a send looks it up: the registry, after Celery's autodiscovery
        except NotRegistered:
            unknown.add(name)
    return unknown


def test_every_task_sent_by_name_is_registered() -> None:
    names = list(jobs.RUNNERS.values())
    for name, tree in _modules().items():
        if name != "services/jobs.py":  # its own sends go through ``RUNNERS``
            names += _task_names_sent(tree)
    assert len(names) > len(jobs.RUNNERS)  # the walk finds the admin's recomputes at all
    assert _unknown(names) == set()
    assert set(jobs.RUNNERS) == set(JobKind.values)  # a runner for every kind of job


def test_an_unknown_task_name_is_caught() -> None:
    assert _unknown(["fieldteam.tasks.run_import_jobs"]) == {"fieldteam.tasks.run_import_jobs"}


def test_only_the_edges_import_the_tasks() -> None:
    importers = {
        name
        for name, tree in _modules().items()
        if name != "tasks.py"
        and any(m == "fieldteam.tasks" or m.startswith("fieldteam.tasks.") for m in _imported(tree))
    }
    assert {name for name in importers if not name.startswith(MAY_IMPORT_TASKS)} == set()


def test_the_lower_layers_do_not_import_the_higher() -> None:
    wrong = {
        (name, module)
        for name, tree in _modules().items()
        for prefix, banned in BELOW.items()
        if name.startswith(prefix)
        for module in _imported(tree)
        if module.startswith(banned)
    }
    assert wrong == set()


@pytest.mark.django_db(transaction=True)
def test_a_job_is_sent_once_committed_and_marked_sent(monkeypatch) -> None:
    """Outside the test's transaction, as a request runs it: nothing is sent before the commit."""
    from django.db import transaction

    from fieldteam.models import BackgroundJob, JobStatus

    sent: list[tuple[str, tuple]] = []
    task = jobs._task(jobs.RUNNERS[JobKind.EXPORT])
    monkeypatch.setitem(task.app.conf, "task_always_eager", False)
    monkeypatch.setattr(type(task), "apply_async", lambda self, args, kwargs: sent.append((self.name, tuple(args))))
    user = UserFactory()
    with transaction.atomic():
        job = BackgroundJob.objects.create(
            kind=JobKind.EXPORT, name="villages", params={"locale": "en"}, created_by=user, status=JobStatus.QUEUED
        )
        jobs.queue_job_on_commit(job=job)
        assert sent == []
    assert sent == [("fieldteam.tasks.run_export_job", (str(job.pk), "en"))]
    assert cache.get(f"fieldteam:job-sent:{job.pk}") == "fieldteam.tasks.run_export_job"
