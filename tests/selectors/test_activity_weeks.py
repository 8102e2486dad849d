"""The activity chart's weeks: an open period draws no week still to come."""

from __future__ import annotations

import datetime as dt

import pytest
from freezegun import freeze_time

from fieldteam.periods import Period
from fieldteam.selectors.activity import team_activity


@pytest.mark.parametrize(
    ("today", "period", "first", "last"),
    [
        ("2026-06-10", "2026-06", dt.date(2026, 6, 1), dt.date(2026, 6, 8)),  # the open month: up to this week
        ("2026-06-10", "2026-Q2", dt.date(2026, 3, 30), dt.date(2026, 6, 8)),
        ("2026-07-02", "2026-06", dt.date(2026, 6, 1), dt.date(2026, 6, 29)),  # a closed month: all its weeks
    ],
)
def test_the_weeks_end_with_this_week(area_tree, superuser, today, period, first, last):
    with freeze_time(today):
        activity = team_activity(user=superuser, area=area_tree.commune, period=Period.parse(period))

    assert (activity.weeks[0], activity.weeks[-1]) == (first, last)
    assert len(activity.logs_per_week) == len(activity.weeks)
