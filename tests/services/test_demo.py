"""The demo: built through the services, so its counts are exactly what a recompute finds."""

from __future__ import annotations

import pytest

from fieldteam.choices import AreaRoleKind
from fieldteam.models import Area, AreaRole, AssistanceLog, Household, IndicatorValue, Resident, Team
from fieldteam.rollup import recompute
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

    again = seed_demo(password="pw", households_per_village=6)

    assert not again.created
    assert Household.objects.count() == 30
