"""The month report from the sign-off section (issue 17): ``areas/<id>/month-report/<yyyy-mm>.<fmt>``.

An office's report (officers and viewers of the area): an area out of scope answers 404 like a
missing one, a team member who sees the area through the team 403, a bad month, format or area kind
400 with the reason in Vietnamese. The download buttons show only where the route answers.
"""

from __future__ import annotations

import io

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import User
from fieldteam.services import approvals
from tests.clock import last_month, this_month
from tests.factories import AreaRoleFactory, MembershipFactory, TeamFactory
from tests.services.test_approvals import closed

__all__ = ["closed"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_today() -> None:
    """Not this directory's 15 June 2026: the sign-off's months (``closed``) count from the real today."""


def report_url(area, month: str | None = None, fmt: str = "xlsx") -> str:
    month = month or f"{last_month():%Y-%m}"
    return reverse("dashboards:month_report", kwargs={"area_id": area.pk, "month": month, "fmt": fmt})


def get(user: User, url: str):
    client = Client()
    client.force_login(user)
    return client.get(url, HTTP_ACCEPT_LANGUAGE="vi")


def test_the_province_officer_downloads_the_month_report_in_both_formats(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    response = get(province_officer, report_url(closed.province))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert "attachment" in response["Content-Disposition"]
    approved, _total, missing = load_workbook(io.BytesIO(response.content)).worksheets
    assert closed.commune.name in {row[1] for row in approved.iter_rows(values_only=True)}
    assert closed.other_commune.name in {row[1] for row in missing.iter_rows(values_only=True)}
    csv = get(province_officer, report_url(closed.province, fmt="csv"))
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert closed.other_commune.name in csv.content.decode("utf-8-sig")


def test_officers_and_viewers_of_the_area_may_download_it(closed, commune_officer):
    viewer = AreaRoleFactory(area=closed.province, role=AreaRoleKind.VIEWER).user
    assert get(viewer, report_url(closed.province)).status_code == 200
    assert get(commune_officer, report_url(closed.commune, fmt="csv")).status_code == 200


def test_everyone_else_is_refused_like_the_other_routes(closed, commune_officer):
    # Out of scope: 404, exactly like an area that does not exist.
    far_officer = AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user
    far_viewer = AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.VIEWER).user
    missing = get(far_officer, reverse("dashboards:month_report", args=[987654321, f"{last_month():%Y-%m}", "xlsx"]))
    assert missing.status_code == 404
    for user, area in (
        (far_officer, closed.province),
        (far_viewer, closed.commune),
        (commune_officer, closed.province),  # a commune officer does not see the province's report
    ):
        response = get(user, report_url(area))
        assert response.status_code == 404, (user, area)
        assert closed.commune.name not in response.content.decode()
    # A team member sees the commune through the team, but the report is an office's: 403.
    commune_team = TeamFactory(village=closed.commune)
    for role in (MembershipRole.MEMBER, MembershipRole.LEADER):
        member = MembershipFactory(team=commune_team, role=role).user
        assert get(member, report_url(closed.commune)).status_code == 403
        assert get(member, report_url(closed.province)).status_code == 404
    village_member = MembershipFactory(team=TeamFactory(village=closed.village)).user
    assert get(village_member, report_url(closed.commune)).status_code == 404
    # Signed out: to the sign-in page.
    assert Client().get(report_url(closed.province)).status_code == 302


@pytest.mark.parametrize(
    ("month", "fmt", "says"),
    [
        ("2026-13", "xlsx", "2026-03"),  # no such month
        ("2026-Q1", "xlsx", "2026-03"),  # a quarter is not a month
        ("tháng-11", "csv", "2026-03"),
        (lambda: f"{last_month():%Y-%m}", "pdf", "XLSX"),  # the formats the reports have
        (lambda: f"{this_month():%Y-%m}", "xlsx", "chưa được chốt số liệu"),  # not closed yet
    ],
)
def test_a_bad_month_or_format_is_a_400_saying_why(closed, province_officer, month, fmt, says):
    month = month() if callable(month) else month  # a month relative to today, read now
    response = get(province_officer, report_url(closed.province, month=month, fmt=fmt))
    assert response.status_code == 400
    assert says in response.content.decode()


def test_a_village_does_not_sign_off_a_month(closed):
    officer = AreaRoleFactory(area=closed.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    response = get(officer, report_url(closed.village))
    assert response.status_code == 400
    assert "xã" in response.content.decode().lower()


def test_the_sign_off_section_offers_the_download_to_the_office_only(closed, province_officer):
    page = reverse("dashboards:area", args=[closed.province.pk]) + f"?period={last_month():%Y-%m}"
    html = get(province_officer, page).content.decode()
    assert f'href="{report_url(closed.province)}"' in html
    assert f'href="{report_url(closed.province, fmt="csv")}"' in html
    member = MembershipFactory(team=TeamFactory(village=closed.commune)).user
    commune_page = reverse("dashboards:area", args=[closed.commune.pk]) + f"?period={last_month():%Y-%m}"
    html = get(member, commune_page).content.decode()
    assert 'id="sign-off"' in html  # the status is shown to the team
    assert "month-report" not in html  # but not the office's report
