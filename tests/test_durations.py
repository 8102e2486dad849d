"""``pytest --durations`` stays true under ``freeze_time`` (the freezegun set-up of ``tests/conftest.py``)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from _pytest import timing
from django.utils import timezone
from freezegun import freeze_time

FROZEN = datetime(2026, 6, 15, tzinfo=UTC)


def test_a_frozen_clock_leaves_pytests_own_clock_running():
    start = timing.Instant()
    with freeze_time("2026-06-15", tick=False):
        # The test's own clocks are frozen, even called right under pytest's frames ...
        assert time.time() == FROZEN.timestamp()
        assert timezone.now() == FROZEN
        # ... and pytest's is not: what it reads when a frozen test's phase ends.
        elapsed = timing.Instant().elapsed().seconds
        stop = timing.Instant()
    assert 0 <= stop.perf_count - start.perf_count < 60
    assert abs(stop.time - start.time) < 60  # the real date, not 15 June 2026
    assert 0 <= elapsed < 60
