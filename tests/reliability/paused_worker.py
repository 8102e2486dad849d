"""A real Celery worker (prefork, one child) whose first recompute stops half-way, to be killed there.

Run by ``test_worker_killed.py`` as ``python -m tests.reliability.paused_worker`` with the test's
DATABASE_URL and REDIS_URL. The first recompute of any province writes its corrected counts, then
(still inside its transaction, holding its locks) writes its pid to ``$FT_PAUSE_MARKER`` and
sleeps; the test kills that process. Later runs find the marker and go through.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.test")
django.setup()

from fieldteam.rollup import recompute  # noqa: E402 (after django.setup)

_write_counts = recompute._write_counts


def _write_counts_then_stop_the_first_time(province_id: int, changes: dict, *args: object, **kwargs: object) -> None:
    _write_counts(province_id, changes, *args, **kwargs)
    marker = Path(os.environ["FT_PAUSE_MARKER"])
    if not marker.exists():
        # Written whole (then renamed), so the test never reads a marker without its pid.
        partial = marker.with_suffix(".partial")
        partial.write_text(str(os.getpid()))
        partial.replace(marker)
        time.sleep(600)


recompute._write_counts = _write_counts_then_stop_the_first_time

if __name__ == "__main__":
    from backend.celery import app

    app.worker_main(
        ["worker", "--pool=prefork", "--concurrency=1", "--loglevel=INFO", "--without-mingle", "--without-gossip"]
    )
