"""GET /api/v1/nation/indicators/ and /api/v1/nation/indicators/provinces/: the national level, read only."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from freezegun import freeze_time
from rest_framework.test import APIClient

from fieldteam.choices import AdoptionSource, AreaRoleKind
from fieldteam.rollup import recompute
from fieldteam.services import adoption as adoption_services
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    NationalTargetFactory,
    ResidentFactory,
    UserFactory,
)

TODAY = "2026-06-15"
MAY = dt.date(2026, 5, 1)
INDICATORS = reverse("api:nation-indicators")
PROVINCES = reverse("api:nation-provinces")


@pytest.fixture(autouse=True)
def _frozen_today():
    with freeze_time(TODAY, tick=False):
        yield


def adults(village, n, *, adopted, indicator):
    household = HouseholdFactory(village=village)
    for i in range(n):
        resident = ResidentFactory(household=household, birth_year=1980)
        if i < adopted:
            adoption_services.set_adoption(
                actor=None,
                capability=indicator.capability,
                since=dt.date(2026, 1, 5),
                source=AdoptionSource.SURVEY,
                resident=resident,
            )


@pytest.fixture
def indicator(area_tree):
    indicator = IndicatorFactory(min_age=18, code="adults_smartphone_api")
    adults(area_tree.village, 4, adopted=3, indicator=indicator)
    adults(area_tree.far_village, 6, adopted=1, indicator=indicator)
    for province in (area_tree.province, area_tree.other_province):
        recompute.close_month(province_id=province.pk, month=MAY)
    NationalTargetFactory(indicator=indicator, year=2030, value=Decimal(95))
    return indicator


def national_viewer():
    user = UserFactory(username="bo.tttt")
    user.user_permissions.add(Permission.objects.get(codename="view_nation", content_type__app_label="fieldteam"))
    return user


def client_for(who: str, request, area_tree) -> APIClient:
    if who == "viewer":
        user = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    elif who == "national_viewer":
        user = national_viewer()
    else:
        user = request.getfixturevalue(who)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["member", "leader", "commune_officer", "province_officer", "viewer"])
@pytest.mark.parametrize("url", [INDICATORS, PROVINCES])
def test_everyone_else_gets_404(request, area_tree, indicator, who, url):
    client = client_for(who, request, area_tree)

    assert client.get(url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("url", [INDICATORS, PROVINCES])
def test_anonymous_is_refused(area_tree, indicator, url):
    assert APIClient().get(url).status_code in (401, 403)


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["national_viewer", "superuser"])
def test_the_national_values_are_the_sums_over_the_provinces(request, area_tree, indicator, who):
    client = client_for(who, request, area_tree)

    response = client.get(INDICATORS)

    assert response.status_code == 200
    row = next(r for r in response.json() if r["indicator"]["code"] == indicator.code)
    assert (row["numerator"], row["denominator"], row["value"]) == (4, 10, "40.000")
    assert (row["area"], row["aggregated"], row["provinces_with_value"], row["provinces"]) == (0, True, 2, 2)
    assert row["period"] == "2026-05"
    assert row["target"]["year"] == 2030 and row["target"]["value"] == "95.00"
    assert row["gap"] == "55.000"
    # The first month of national sums is its own baseline: on the straight path to 2030.
    assert row["status"] == "on_track"


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["national_viewer", "superuser"])
def test_the_provinces_ranked(request, area_tree, indicator, who):
    client = client_for(who, request, area_tree)

    response = client.get(PROVINCES, {"period": "2026-05", "indicator": indicator.code})

    assert response.status_code == 200
    names = [row["area"]["name"] for row in response.json()]
    assert sorted(names) == sorted([area_tree.province.name, area_tree.other_province.name])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        (INDICATORS, {"period": "2026-13"}, "period"),
        (PROVINCES, {"period": "someday"}, "period"),
        (PROVINCES, {"indicator": "no-such-indicator"}, "indicator"),
        (PROVINCES, {"indicator": "bad code!"}, "indicator"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(area_tree, indicator, superuser, url, params, field):
    client = APIClient()
    client.force_authenticate(superuser)

    response = client.get(url, params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.django_db
def test_the_schema_describes_the_national_endpoints(superuser):
    client = APIClient()
    client.force_authenticate(superuser)

    schema = client.get(reverse("api:schema"), {"format": "json"}).json()

    assert "/api/v1/nation/indicators/" in schema["paths"]
    assert "/api/v1/nation/indicators/provinces/" in schema["paths"]
