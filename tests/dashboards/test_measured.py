"""The dashboard measures targets by the official rate where there is a figure, and says which rate it used."""

from __future__ import annotations

import pytest
from django.urls import reverse
from freezegun import freeze_time

from tests.conftest import AreaTree
from tests.factories import OfficialPopulationFactory
from tests.selectors.test_measured import TODAY, indicator, make_low_official_village, register_adults, snapshot

pytestmark = pytest.mark.django_db
__all__ = ["indicator"]  # the fixture, shared with the selectors' tests


def _card(client, area, indicator, period: str) -> str:
    url = reverse("dashboards:area", kwargs={"area_id": area.pk})
    page = client.get(url, {"period": period}, HTTP_ACCEPT_LANGUAGE="vi").content.decode()
    card = page[page.index(f'id="indicator-{indicator.code}"') :]
    return card[: card.index("</article>")]


@freeze_time(TODAY)
def test_a_village_at_90_on_the_register_and_40_officially_reads_behind(
    area_tree: AreaTree, indicator, superuser, client
) -> None:
    make_low_official_village(area_tree, indicator)
    client.force_login(superuser)

    card = _card(client, area_tree.village, indicator, "2026-06")

    assert "chậm tiến độ" in card  # behind the path, although the register's 90% is above 80%
    assert 'class="status t-reached"' not in card
    assert '<dd class="measure">theo dân số chính thức</dd>' in card
    assert "Giá trị 40" in card  # the bar draws the official rate


@freeze_time(TODAY)
def test_a_closed_year_reads_missed_by_the_official_rate(area_tree: AreaTree, indicator, superuser, client) -> None:
    OfficialPopulationFactory(area=area_tree.village, year=2025, total=80, age_18_plus=45)
    for month in range(1, 13):
        snapshot(indicator, area_tree.village, f"2025-{month:02}-01", 18, 20)
    snapshot(indicator, area_tree.village, "2025-01-01", 18, 20, kind="year")
    client.force_login(superuser)

    card = _card(client, area_tree.village, indicator, "2025")

    assert "không đạt" in card


@freeze_time(TODAY)
def test_without_a_figure_the_card_says_the_register_measures_it(
    area_tree: AreaTree, indicator, superuser, client
) -> None:
    register_adults(area_tree.village, indicator)
    client.force_login(superuser)

    card = _card(client, area_tree.village, indicator, "2026-06")

    assert '<dd class="measure">theo sổ đăng ký</dd>' in card
