"""Indicators measured only above a level are not listed (nor missing) there; short names head the ranking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation

from fieldteam.choices import IndicatorKind, IndicatorLevel
from fieldteam.models import Indicator, User
from fieldteam.periods import Period
from fieldteam.selectors.indicators import area_indicator_values
from fieldteam.services.reference import load_reference
from tests.conftest import AreaTree
from tests.factories import HouseholdFactory, IndicatorFactory, ResidentFactory

FIXTURES = Path(settings.BASE_DIR) / "fixtures"


@pytest.fixture
def indicators(db) -> tuple[Indicator, Indicator]:
    counted = IndicatorFactory(name="Tỷ lệ dân số trưởng thành có điện thoại thông minh", short_name="Điện thoại")
    grdp = IndicatorFactory(reported=True, name="Tỷ trọng kinh tế số trong GRDP", lowest_level=IndicatorLevel.PROVINCE)
    return counted, grdp


def codes(readings) -> set[str]:
    return {r.indicator.code for r in readings}


def test_a_province_statistic_is_listed_on_the_province_only(area_tree: AreaTree, superuser: User, indicators):
    counted, grdp = indicators
    period = Period.parse("2026-06")

    for area, expected in (
        (area_tree.province, {counted.code, grdp.code}),
        (area_tree.commune, {counted.code}),
        (area_tree.village, {counted.code}),
    ):
        assert codes(area_indicator_values(user=superuser, area=area, period=period)) == expected, area.name


def test_a_village_page_does_not_count_a_province_statistic_as_missing(
    client: Client, area_tree: AreaTree, superuser: User, indicators
):
    client.force_login(superuser)

    response = client.get(reverse("dashboards:area", kwargs={"area_id": area_tree.village.pk}))

    dashboard = response.context["dashboard"]
    assert [c.indicator.code for c in dashboard.cards] == [indicators[0].code]
    assert dashboard.summary["no_value"] == 1
    assert indicators[1].name not in response.content.decode()


def test_the_ranking_is_headed_by_short_names_with_the_full_name_on_hover_and_focus(
    client: Client, area_tree: AreaTree, superuser: User, indicators
):
    counted, _grdp = indicators
    HouseholdFactory(village=area_tree.village)
    ResidentFactory(household=HouseholdFactory(village=area_tree.village), birth_year=1980)
    client.force_login(superuser)

    page = client.get(reverse("dashboards:area", kwargs={"area_id": area_tree.commune.pk})).content.decode()

    assert f'<abbr title="{counted.name}" tabindex="0">Điện thoại</abbr>' in page


@pytest.mark.django_db
def test_the_reference_indicators_have_short_names_and_levels():
    load_reference()

    indicators = list(Indicator.objects.all())
    assert indicators
    assert all(0 < len(i.short_name) <= 40 for i in indicators)
    for indicator in indicators:
        expected = IndicatorLevel.PROVINCE if indicator.kind == IndicatorKind.REPORTED else IndicatorLevel.VILLAGE
        assert indicator.lowest_level == expected, indicator.code


@pytest.mark.django_db
def test_a_bad_level_is_refused_naming_the_row_and_field(tmp_path: Path):
    for path in FIXTURES.glob("*.json"):
        shutil.copy(path, tmp_path / path.name)
    document = json.loads((tmp_path / "indicators.json").read_text(encoding="utf-8"))
    document["indicators"][1]["lowest_level"] = "hamlet"
    (tmp_path / "indicators.json").write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")

    with translation.override("en"):
        with pytest.raises(ValidationError) as caught:
            load_reference(fixtures_dir=tmp_path)
        message = caught.value.messages[0]  # messages render when read: read them in English

    assert message.startswith("indicators.json, row 2, field “lowest_level”")
    assert not Indicator.objects.exists()
