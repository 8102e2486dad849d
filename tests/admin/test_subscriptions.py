"""Reports by email in the admin (issue 17): one's own subscriptions, added and deleted through the service."""

from __future__ import annotations

import pytest
from django.test import Client

from fieldteam.choices import AreaRoleKind
from fieldteam.models import ReportSubscription
from tests.admin.test_admin import logged_in, url
from tests.factories import AreaRoleFactory, ReportSubscriptionFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _add(client: Client, area, fmt: str = "xlsx"):
    return client.post(url(ReportSubscription, "add"), {"area": area.pk, "period_kind": "month", "format": fmt})


def test_a_viewer_subscribes_in_the_admin_and_sees_only_their_own(client: Client, area_tree):
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    colleague = AreaRoleFactory(area=area_tree.commune).user
    theirs = ReportSubscriptionFactory(user=colleague, area=area_tree.commune)
    logged_in(client, viewer)

    added = _add(client, area_tree.province)
    assert added.status_code == 302, added.context["adminform"].form.errors
    mine = ReportSubscription.objects.get(user=viewer)
    assert (mine.area, mine.format) == (area_tree.province, "xlsx")
    listing = client.get(url(ReportSubscription, "changelist")).content.decode()
    assert url(ReportSubscription, "change", mine.pk) in listing
    assert url(ReportSubscription, "change", theirs.pk) not in listing
    assert (
        client.get(url(ReportSubscription, "change", theirs.pk)).status_code == 302
    )  # out of reach: back to the index

    assert client.post(url(ReportSubscription, "delete", mine.pk), {"post": "yes"}).status_code == 302
    assert list(ReportSubscription.objects.all()) == [theirs]


def test_a_refused_subscription_is_shown_on_the_field(client: Client, area_tree, commune_officer):
    logged_in(client, commune_officer)
    answer = _add(client, area_tree.village)
    assert answer.status_code == 200
    assert answer.context["adminform"].form.errors["area"]
    assert _add(client, area_tree.commune, fmt="pdf").status_code == 200
    assert not ReportSubscription.objects.exists()
