"""The API says what a target is measured by: the official rate where there is a figure, else the register's."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from tests.conftest import AreaTree
from tests.selectors.test_measured import TODAY, indicator, make_low_official_village, register_adults

pytestmark = pytest.mark.django_db
__all__ = ["indicator"]  # the fixture, shared with the selectors' tests


def _reading(client, area, indicator, period: str) -> dict:
    rows = client.get(f"/api/v1/areas/{area.pk}/indicators/", {"period": period}, HTTP_ACCEPT_LANGUAGE="vi").json()
    return next(r for r in rows if r["indicator"]["code"] == indicator.code)


@freeze_time(TODAY)
def test_the_official_rate_measures_the_target(area_tree: AreaTree, indicator, superuser, client_for) -> None:
    make_low_official_village(area_tree, indicator)

    reading = _reading(client_for(superuser), area_tree.village, indicator, "2026-06")

    assert (reading["value"], reading["official"]["value"]) == ("90.000", "40.000")
    assert (reading["measured_by"], reading["measured_value"]) == ("official", "40.000")
    assert reading["measured_label"] == "theo dân số chính thức"
    assert reading["gap"] == "40.000"
    assert (reading["status"], reading["on_track"]) == ("behind", False)


@freeze_time(TODAY)
def test_without_a_figure_the_register_rate_measures_it(area_tree: AreaTree, indicator, superuser, client_for) -> None:
    register_adults(area_tree.village, indicator)

    reading = _reading(client_for(superuser), area_tree.village, indicator, "2026-06")

    assert (reading["measured_by"], reading["measured_value"]) == ("register", "90.000")
    assert reading["measured_label"] == "theo sổ đăng ký"
    assert reading["status"] == "reached"
