"""The dashboard's "Nhận báo cáo tháng qua email" section (issue 17): subscribe and stop, as a request does.

An officer or viewer of a commune or province sees the section and its buttons (POST, CSRF); a
team member never does, and their POST is refused with nothing saved; another user's subscription
and an area out of scope answer 404.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from fieldteam.choices import AreaRoleKind
from fieldteam.models import ReportSubscription
from tests.factories import AreaRoleFactory, ReportSubscriptionFactory

pytestmark = pytest.mark.django_db


def _dashboard(area) -> str:
    return reverse("dashboards:area", kwargs={"area_id": area.pk})


def _subscribe(area) -> str:
    return reverse("dashboards:subscribe", kwargs={"area_id": area.pk})


def _stop(subscription) -> str:
    return reverse(
        "dashboards:unsubscribe", kwargs={"area_id": subscription.area_id, "subscription_id": subscription.pk}
    )


def test_an_officer_subscribes_from_the_dashboard_and_stops_again(client: Client, area_tree, commune_officer):
    client.force_login(commune_officer)
    page = client.get(_dashboard(area_tree.commune)).content.decode()
    assert 'id="report-mail"' in page
    assert "Nhận báo cáo tháng qua email" in page
    assert f'action="{_subscribe(area_tree.commune)}"' in page

    answer = client.post(_subscribe(area_tree.commune), {"format": "csv"}, follow=True)
    assert answer.redirect_chain[-1][0].endswith(f"{_dashboard(area_tree.commune)}#report-mail")
    subscription = ReportSubscription.objects.get()
    assert (subscription.user, subscription.area, subscription.format) == (commune_officer, area_tree.commune, "csv")
    page = answer.content.decode()
    assert 'data-format="csv"' in page
    assert f'action="{_stop(subscription)}"' in page
    assert 'value="csv"' not in page.split('id="report-mail"')[1].split("</section>")[0]  # offered no more

    client.post(_stop(subscription))
    assert not ReportSubscription.objects.exists()


def test_a_viewer_of_the_province_subscribes_too(client: Client, area_tree):
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    client.force_login(viewer)
    client.post(_subscribe(area_tree.province), {"format": "xlsx"})
    assert ReportSubscription.objects.get().user == viewer


def test_without_the_csrf_token_nothing_is_saved(area_tree, commune_officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(commune_officer)
    assert client.post(_subscribe(area_tree.commune), {"format": "xlsx"}).status_code == 403
    assert not ReportSubscription.objects.exists()


def test_a_member_sees_no_section_and_is_refused(client: Client, area_tree, member):
    client.force_login(member)
    page = client.get(_dashboard(area_tree.village)).content.decode()
    assert 'id="report-mail"' not in page
    answer = client.post(_subscribe(area_tree.village), {"format": "xlsx"}, follow=True)
    assert answer.status_code == 200
    assert "Chỉ cán bộ hoặc người xem của địa bàn này" in answer.content.decode()
    assert client.post(_subscribe(area_tree.commune), {"format": "xlsx"}).status_code == 404  # not in their scope
    assert not ReportSubscription.objects.exists()


def test_a_bad_format_is_refused_with_its_message(client: Client, area_tree, commune_officer):
    client.force_login(commune_officer)
    answer = client.post(_subscribe(area_tree.commune), {"format": "pdf"}, follow=True)
    assert "Chọn XLSX hoặc CSV." in answer.content.decode()
    assert not ReportSubscription.objects.exists()


def test_anothers_subscription_cannot_be_stopped(client: Client, area_tree, commune_officer):
    colleague = AreaRoleFactory(area=area_tree.commune).user
    theirs = ReportSubscriptionFactory(user=colleague, area=area_tree.commune)
    client.force_login(commune_officer)
    assert client.post(_stop(theirs)).status_code == 404
    assert client.get(_subscribe(area_tree.commune)).status_code == 405
    assert ReportSubscription.objects.filter(pk=theirs.pk).exists()


def test_an_officer_without_email_is_told(client: Client, area_tree, commune_officer):
    commune_officer.email = ""
    commune_officer.save(update_fields=["email"])
    client.force_login(commune_officer)
    assert "chưa có địa chỉ email" in client.get(_dashboard(area_tree.commune)).content.decode()
