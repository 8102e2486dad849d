"""The field app's progress list speaks the dashboards' one status rule (issue 16, honest signals)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from tests.conftest import AreaTree
from tests.factories import TargetFactory
from tests.web.conftest import WebWorld

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(web_world: WebWorld) -> Client:
    client = Client()
    client.force_login(web_world.member)
    return client


def _line(content: str, code: str) -> str:
    return content.split(f'data-indicator="{code}"')[1].split("</li>")[0]


@freeze_time("2026-06-15")
def test_a_missed_past_target_reads_missed_and_the_next_one_its_own_status(
    web_world: WebWorld, area_tree: AreaTree, member_client: Client
) -> None:
    TargetFactory(indicator=web_world.indicator, area=area_tree.province, year=2025)

    content = member_client.get(reverse("web:home")).content.decode()  # Vietnamese: the default language

    line = _line(content, "adults_smartphone")
    past, current = line.split('data-year="2025"')[1].split('data-year="2030"')
    assert 'data-status="missed"' in past
    assert "không đạt" in past
    assert "t-far" in past
    # 2030 is still ahead: measured by it, the line is never "missed" nor "on track" without a value.
    assert 'data-status="missed"' not in current
    assert "đúng tiến độ" not in line


@freeze_time("2026-06-15")
def test_an_indicator_without_a_target_says_so(web_world: WebWorld, member_client: Client) -> None:
    content = member_client.get(reverse("web:home")).content.decode()

    line = _line(content, "households_fibre")
    assert 'data-status="no_value"' in line or 'data-status="no_target"' in line
    assert "data-year" not in line
