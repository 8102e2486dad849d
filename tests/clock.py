"""Dates relative to today, read when a test runs (never at import: ``tests/test_clock_at_import.py``)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from fieldteam.periods import month_index, month_start, today


def days_from_today(days: int) -> dt.date:
    """Today in the project's time zone, moved by ``days``."""
    return today() + dt.timedelta(days=days)


def yesterday() -> dt.date:
    return days_from_today(-1)


def tomorrow() -> dt.date:
    return days_from_today(1)


def this_month() -> dt.date:
    """The first day of the current month."""
    return today().replace(day=1)


def last_month() -> dt.date:
    """The first day of the month before the current one."""
    return month_start(month_index(today()) - 1)


def earlier_today(hours: float = 1) -> dt.datetime:
    """A moment ``hours`` ago, but today: just after midnight, "an hour ago" was yesterday."""
    now = timezone.localtime()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - dt.timedelta(hours=hours), min(midnight + dt.timedelta(seconds=1), now))
