"""The API's indicator values carry the one status rule (``selectors.status``), ``on_track`` derived from it."""

from __future__ import annotations

import pytest
from freezegun import freeze_time

from tests.conftest import AreaTree
from tests.factories import IndicatorFactory, TargetFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def indicator(area_tree: AreaTree):
    indicator = IndicatorFactory()
    TargetFactory(indicator=indicator, area=area_tree.province, year=2025)
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030)
    return indicator


def _reading(client, area, indicator, period: str) -> dict:
    rows = client.get(f"/api/v1/areas/{area.pk}/indicators/", {"period": period}, HTTP_ACCEPT_LANGUAGE="vi").json()
    return next(r for r in rows if r["indicator"]["code"] == indicator.code)


@freeze_time("2026-06-15")
def test_a_missed_past_target_reads_missed_in_the_api(area_tree: AreaTree, indicator, superuser, client_for) -> None:
    client = client_for(superuser)

    now = _reading(client, area_tree.village, indicator, "2026-06")
    by_year = {t["year"]: t for t in now["targets"]}
    assert (by_year[2025]["status"], by_year[2025]["status_label"]) == ("missed", "không đạt")
    assert by_year[2030]["status"] != "missed"
    assert now["target"]["year"] == 2030
    assert now["status"] == by_year[2030]["status"]  # measured by the next target, with the same rule

    closed = _reading(client, area_tree.village, indicator, "2025")
    assert (closed["status"], closed["status_label"]) == ("missed", "không đạt")
    assert closed["on_track"] is False  # older clients: never "on track" once the year is over


@freeze_time("2026-06-15")
def test_without_a_target_the_status_says_so_and_on_track_is_null(area_tree: AreaTree, superuser, client_for) -> None:
    indicator = IndicatorFactory()

    reading = _reading(client_for(superuser), area_tree.village, indicator, "2026-06")

    assert reading["targets"] == []
    assert reading["status"] in {"no_value", "no_target"}
    assert reading["status_label"] in {"chưa có giá trị", "chưa có mục tiêu"}
    assert reading["on_track"] is None


@freeze_time("2026-06-15")
def test_the_children_carry_the_status_too(area_tree: AreaTree, indicator, superuser, client_for) -> None:
    rows = (
        client_for(superuser)
        .get(f"/api/v1/areas/{area_tree.commune.pk}/indicators/children/", {"period": "2025"}, HTTP_ACCEPT_LANGUAGE="vi")
        .json()
    )

    assert rows
    for row in rows:
        reading = next(r for r in row["readings"] if r["indicator"]["code"] == indicator.code)
        # No value and no months looked at: nothing to judge, and the old field agrees.
        assert (reading["status"], reading["status_label"], reading["on_track"]) == ("no_value", "chưa có giá trị", None)
        assert [t["status"] for t in reading["targets"]] == ["no_value", "no_value"]
