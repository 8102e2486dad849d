"""Fuzzing with hypothesis: how many examples each test tries, and no rate limits in the way.

``FUZZ_EXAMPLES`` sets the examples per test (a few in the normal suite; ``.ci/run`` runs this
directory again with many more, about a minute in all). Examples share the test's database (a
fuzz checks that nothing crashes, not what was saved), hence the suppressed fixture health check.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings
from rest_framework.throttling import SimpleRateThrottle

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))

fuzz_settings = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(autouse=True)
def _no_throttling(monkeypatch):
    """Hundreds of requests a minute from one user are the point here, not an abuse."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES))
