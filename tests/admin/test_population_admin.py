"""The admin's official population figures: saved through the service, who and when recorded, bad input named."""

from __future__ import annotations

import pytest
from django.test import Client

from fieldteam.choices import AreaRoleKind
from fieldteam.models import OfficialPopulation
from tests.admin.test_admin import logged_in, url
from tests.factories import AreaRoleFactory, OfficialPopulationFactory

pytestmark = pytest.mark.django_db


def figure(area, **values) -> dict[str, str]:
    data = {"area": str(area.pk), "year": "2026", "total": "1000", "source": "Cục Thống kê"}
    data.update({k: str(v) for k, v in values.items()})
    return data


def test_an_officer_enters_a_figure_with_who_and_when(client: Client, area_tree, commune_officer):
    response = logged_in(client, commune_officer).post(
        url(OfficialPopulation, "add"), figure(area_tree.village, age_18_plus=700, households=250)
    )

    assert response.status_code == 302
    saved = OfficialPopulation.objects.get(area=area_tree.village)
    assert (saved.total, saved.age_18_plus, saved.households) == (1000, 700, 250)
    assert saved.entered_by == commune_officer and saved.entered_at is not None


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"total": "-1"}, "total", "negative"),
        ({"age_18_plus": "10.5"}, "age_18_plus", "whole number"),
        ({"households": "1001"}, "households", "cannot exceed the total population"),
    ],
)
def test_bad_input_is_named_on_its_field_and_nothing_is_saved(
    client: Client, area_tree, commune_officer, values, field, words
):
    response = logged_in(client, commune_officer).post(
        url(OfficialPopulation, "add"), figure(area_tree.village, **values), HTTP_ACCEPT_LANGUAGE="en"
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert words in " ".join(errors[field])
    assert not OfficialPopulation.objects.exists()


def test_an_area_outside_the_officers_is_refused(client: Client, area_tree, commune_officer):
    response = logged_in(client, commune_officer).post(url(OfficialPopulation, "add"), figure(area_tree.other_village))

    assert response.status_code == 200
    assert "area" in response.context["adminform"].form.errors
    assert not OfficialPopulation.objects.exists()


def test_a_correction_keeps_area_and_year_and_warns_below_the_register(client: Client, area_tree, province_officer):
    stored = OfficialPopulationFactory(area=area_tree.commune, year=2025, total=500)

    response = logged_in(client, province_officer).post(
        url(OfficialPopulation, "change", stored.pk), {"total": "600", "source": "công an xã"}
    )

    assert response.status_code == 302
    stored.refresh_from_db()
    assert (stored.total, stored.year, stored.entered_by) == (600, 2025, province_officer)


def test_a_viewer_may_not_add(client: Client, area_tree):
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    response = logged_in(client, viewer).post(url(OfficialPopulation, "add"), figure(area_tree.village))
    assert response.status_code == 403
    assert not OfficialPopulation.objects.exists()
