"""The API's official population figures, and the three values of every indicator reading."""

from __future__ import annotations

import pytest

from fieldteam.choices import AreaRoleKind
from fieldteam.models import OfficialPopulation
from tests.factories import AreaRoleFactory, IndicatorFactory, OfficialPopulationFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/population-figures/"


def body(area, **values):
    return {"area": area.pk, "year": 2026, "total": 1000, **values}


def test_an_officer_enters_a_figure_and_lists_it(client_for, area_tree, commune_officer):
    client = client_for(commune_officer)

    response = client.post(URL, body(area_tree.village, age_18_plus=700, source="công an xã"), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["total"], data["age_18_plus"], data["entered_by"], data["warnings"]) == (
        1000,
        700,
        commune_officer.pk,
        [],
    )
    listed = client.get(URL, {"area": area_tree.village.pk}).json()
    assert [row["id"] for row in listed["results"]] == [data["id"]]


@pytest.mark.parametrize(
    ("values", "field", "code"),
    [
        ({"total": -1}, "total", "negative"),
        ({"total": 1000.5}, "total", "not_whole"),
        ({"households": 1001}, "households", "above_total"),
        ({"age_18_plus": "12,5"}, "age_18_plus", "invalid"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_saved(
    client_for, area_tree, commune_officer, values, field, code
):
    response = client_for(commune_officer).post(URL, body(area_tree.village, **values), format="json")

    assert response.status_code == 400
    assert field in str(response.json())
    assert code in str(response.json())
    assert not OfficialPopulation.objects.exists()


def test_out_of_scope_or_a_read_only_role_is_refused(client_for, area_tree, commune_officer):
    outside = client_for(commune_officer).post(URL, body(area_tree.other_village), format="json")
    assert outside.status_code == 400
    assert "area" in str(outside.json())

    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    read_only = client_for(viewer).post(URL, body(area_tree.village), format="json")
    assert read_only.status_code == 403
    assert not OfficialPopulation.objects.exists()


def test_a_figure_out_of_scope_is_not_found(client_for, area_tree, commune_officer):
    far = OfficialPopulationFactory(area=area_tree.far_village, total=10)
    assert client_for(commune_officer).get(f"{URL}{far.pk}/").status_code == 404


def test_indicator_readings_carry_the_official_rate_first(client_for, area_tree, superuser):
    indicator = IndicatorFactory(min_age=18)
    OfficialPopulationFactory(area=area_tree.village, year=2026, total=20, age_18_plus=10)

    rows = client_for(superuser).get(f"/api/v1/areas/{area_tree.village.pk}/indicators/", {"period": "2026"}).json()
    reading = next(r for r in rows if r["indicator"]["code"] == indicator.code)

    assert list(reading)[3] == "official"
    official = reading["official"]
    assert (official["available"], official["band"], official["denominator"]) == (True, "age_18_plus", 10)
    assert (official["figure"], official["first_year"], official["last_year"]) == ("own", 2026, 2026)
    other = client_for(superuser).get(f"/api/v1/areas/{area_tree.village2.pk}/indicators/", {"period": "2026"}).json()
    missing = next(r for r in other if r["indicator"]["code"] == indicator.code)["official"]
    assert (missing["available"], missing["value"], missing["denominator"]) == (False, None, None)
