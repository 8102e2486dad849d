"""The national page and report: who sees them, and that they show the selectors' numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from fieldteam.choices import AreaRoleKind
from fieldteam.periods import Period
from fieldteam.selectors.national import national_indicator_values
from tests.dashboards.conftest import login
from tests.factories import AreaRoleFactory, NationalTargetFactory, PopulationBoundFactory, UserFactory

MAY = "2026-05"
NATION = reverse("dashboards:nation")
REPORT = reverse("dashboards:nation_report")


def national_viewer():
    user = UserFactory(username="bo.tttt")
    user.user_permissions.add(Permission.objects.get(codename="view_nation", content_type__app_label="fieldteam"))
    return user


def user_for(who: str, scenario):
    if who == "viewer":
        return AreaRoleFactory(area=scenario.tree.province, role=AreaRoleKind.VIEWER).user
    if who == "national_viewer":
        return national_viewer()
    if who == "superuser":
        return UserFactory(superuser=True)
    return getattr(scenario, who)


STRANGERS = ["member", "leader", "commune_officer", "province_officer", "viewer"]
ALLOWED = ["national_viewer", "superuser"]


@pytest.mark.django_db
@pytest.mark.parametrize("who", STRANGERS)
def test_the_national_page_and_report_are_404_to_everyone_else(client, scenario, who):
    login(client, user_for(who, scenario))

    assert client.get(NATION).status_code == 404
    assert client.post(REPORT, {"period": MAY, "format": "csv"}).status_code == 404
    assert client.post(REPORT, {"period": "nonsense", "format": "csv"}).status_code == 404
    home = client.get(reverse("dashboards:home") + "?all=1")
    assert NATION not in home.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ALLOWED)
def test_national_viewers_and_superusers_see_the_page_linked_from_home(client, scenario, who):
    login(client, user_for(who, scenario))

    home = client.get(reverse("dashboards:home"))
    page = client.get(NATION, {"period": MAY})

    assert home.status_code == 200 and NATION in home.content.decode()
    assert page.status_code == 200
    assert scenario.tree.province.name in page.content.decode()
    assert scenario.tree.other_province.name in page.content.decode()


@pytest.mark.django_db
def test_a_national_viewer_with_one_province_is_not_sent_past_the_national_link(client, scenario):
    user = national_viewer()
    AreaRoleFactory(user=user, area=scenario.tree.province, role=AreaRoleKind.VIEWER)
    login(client, user)

    home = client.get(reverse("dashboards:home"))

    assert home.status_code == 200
    assert NATION in home.content.decode()


@pytest.mark.django_db
def test_anonymous_is_sent_to_log_in(client, scenario):
    assert client.get(NATION).status_code == 302


@pytest.mark.django_db
def test_the_page_shows_the_national_sums_and_targets(client, scenario):
    user = UserFactory(superuser=True)
    NationalTargetFactory(indicator=scenario.adults, year=2030, value=Decimal(95))
    login(client, user)

    page = client.get(NATION, {"period": MAY}).content.decode()
    reading = next(
        r for r in national_indicator_values(user=user, period=Period.parse(MAY)) if r.indicator == scenario.adults
    )

    assert reading.numerator is not None and reading.provinces_with_value == 2
    assert f"{reading.numerator}/{reading.denominator}" in page
    assert "≥95%" in page
    assert 'id="provinces"' in page
    assert "độ tuổi riêng" not in page


@pytest.mark.django_db
def test_the_page_names_the_provinces_counting_over_their_own_age_bounds(client, scenario):
    user = UserFactory(superuser=True)
    PopulationBoundFactory(province=scenario.tree.province, indicator=scenario.adults, min_age=15)
    login(client, user)

    page = client.get(NATION, {"period": MAY}, HTTP_ACCEPT_LANGUAGE="vi").content.decode()

    assert f"Các tỉnh tính theo độ tuổi riêng: {scenario.tree.province.name}" in page


@pytest.mark.django_db
def test_the_default_period_is_the_last_closed_month_and_a_bad_one_falls_back(client, scenario):
    login(client, UserFactory(superuser=True))

    default = client.get(NATION)
    bad = client.get(NATION, {"period": "2026-13"}, follow=True)

    assert default.context["selected_period"] == MAY
    assert bad.context["selected_period"] == MAY
    assert list(bad.context["messages"])


@pytest.mark.django_db
@pytest.mark.parametrize("who", ALLOWED)
def test_the_national_report_lists_the_nation_and_the_provinces(client, scenario, who):
    login(client, user_for(who, scenario))

    response = client.post(REPORT, {"period": MAY, "format": "csv"})

    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.csv"')
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert any(scenario.adults.code in row for row in rows)
    assert any(scenario.tree.other_province.name in row for row in rows)


@pytest.mark.django_db
def test_the_national_report_as_xlsx(client, scenario):
    login(client, UserFactory(superuser=True))

    response = client.post(REPORT, {"period": MAY, "format": "xlsx"})

    assert response.status_code == 200
    assert response.content[:2] == b"PK"


@pytest.mark.django_db
@pytest.mark.parametrize(("data"), [{"period": MAY, "format": "pdf"}, {"period": "2026-13", "format": "csv"}])
def test_a_bad_report_request_says_why_and_makes_nothing(client, scenario, data):
    login(client, UserFactory(superuser=True))

    response = client.post(REPORT, data, follow=True)

    assert response.status_code == 200
    assert "Content-Disposition" not in response
    assert list(response.context["messages"])
