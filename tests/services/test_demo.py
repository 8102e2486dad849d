"""The demo: built through the services, so its counts are exactly what a recompute finds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fieldteam.choices import AreaRoleKind
from fieldteam.models import (
    Area,
    AreaRole,
    AssistanceLog,
    Household,
    IndicatorValue,
    OfficialPopulation,
    Resident,
    Team,
    User,
)
from fieldteam.periods import Period, today
from fieldteam.rollup import recompute
from fieldteam.selectors.indicators import area_indicator_values
from fieldteam.services.demo import DEMO_COMMUNE_CODE, DEMO_PROVINCE_CODE, seed_demo


@pytest.mark.slow
@pytest.mark.django_db
def test_the_demo_is_believable_consistent_and_idempotent():
    result = seed_demo(password="pw", households_per_village=6)

    commune = Area.objects.get(code=DEMO_COMMUNE_CODE)
    province = Area.objects.get(code=DEMO_PROVINCE_CODE)
    assert result.created
    assert Team.objects.filter(areas__path__startswith=commune.path).distinct().count() == 5
    assert Household.objects.count() == result.households == 30
    assert Resident.objects.count() == result.residents > 30
    assert AssistanceLog.objects.count() == result.logs > 0
    assert AreaRole.objects.filter(role=AreaRoleKind.COMMUNE_OFFICER, area=commune, user__is_staff=True).exists()
    assert (
        IndicatorValue.objects.filter(area=province, period_kind="month").values("period_start").distinct().count()
        == 12
    )
    # Every count the services kept is what the recompute finds.
    assert recompute.recompute_province(province_id=province.pk).drift == []
    # Official figures on every village, above what the register holds: the three values differ.
    figures = OfficialPopulation.objects.filter(area__path__startswith=commune.path)
    assert figures.count() == 5 and not figures.filter(area=commune).exists()
    admin = User.objects.get(username="admin")
    adults = next(
        r
        for r in area_indicator_values(user=admin, area=commune, period=Period.containing("month", today()))
        if r.official_band == "age_18_plus"
    )
    assert adults.official.source == "children" and adults.coverage is not None
    assert Decimal(50) < adults.coverage < Decimal(90)
    assert adults.official_value is not None and adults.official_value < adults.value

    again = seed_demo(password="pw", households_per_village=6)

    assert not again.created
    assert Household.objects.count() == 30
