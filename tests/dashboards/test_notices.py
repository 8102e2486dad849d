"""The notice band of the dashboards (issue 17): a returned month for the commune's officer, communes
waiting for approval or late for the province's, on the pages they open (home and area)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from fieldteam.choices import AreaRoleKind
from fieldteam.models import User
from fieldteam.selectors.approvals import due_date
from fieldteam.services import approvals
from tests.clock import last_month
from tests.factories import AreaRoleFactory
from tests.services.test_approvals import closed

__all__ = ["closed"]

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen_today() -> None:
    """Not this directory's 15 June 2026: the sign-off's months (``closed``) count from the real today."""


def page(user: User, url: str) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(url, HTTP_ACCEPT_LANGUAGE="vi", follow=True)
    assert response.status_code == 200
    return response.content.decode()


def band(html: str) -> str:
    start = html.index('class="notices"')
    return html[start : html.index("</section>", start)]


def test_the_commune_officer_finds_the_returned_month_on_the_dashboards(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.return_month(actor=province_officer, area=closed.commune, month=last_month(), comment="Thiếu ghi chú")
    for url in (reverse("dashboards:home"), reverse("dashboards:area", args=[closed.commune.pk])):
        notices = band(page(commune_officer, url))
        assert 'data-kind="month_returned"' in notices
        assert f"Báo cáo tháng {last_month():%m/%Y} của Xã Ia Grai đã bị trả lại: Thiếu ghi chú" in notices
        assert "Cập nhật lúc" in notices
    # The province officer returned it: nothing to tell them about it.
    assert 'data-kind="month_returned"' not in page(province_officer, reverse("dashboards:home"))


def test_the_province_officer_finds_who_waits_and_who_is_late(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with freeze_time(due_date(last_month()).replace(day=20)):
        notices = band(page(province_officer, reverse("dashboards:area", args=[closed.province.pk])))
    assert 'data-kind="months_submitted"' in notices and "chờ bạn duyệt: Xã Ia Grai" in notices
    assert 'data-kind="communes_late"' in notices and "Xã Ia Hrung" in notices
    link = f"{reverse('dashboards:area', args=[closed.province.pk])}?period={last_month():%Y-%m}#sign-off"
    assert f'href="{link}"' in notices


def test_a_viewer_gets_no_band(closed, commune_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    viewer = AreaRoleFactory(area=closed.province, role=AreaRoleKind.VIEWER).user
    assert 'class="notices"' not in page(viewer, reverse("dashboards:area", args=[closed.province.pk]))
