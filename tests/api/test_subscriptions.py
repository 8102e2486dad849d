"""Reports by email over the API (issue 17): list, create and delete one's own subscriptions.

Every role: officers and viewers subscribe to a commune or province they see, a team member is
refused (403), an area out of scope is "does not exist" (400), bad input names the field (400),
another user's subscription is a 404 and stays.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from fieldteam.choices import AreaRoleKind
from fieldteam.models import ReportSubscription
from tests.factories import AreaRoleFactory, ReportSubscriptionFactory

pytestmark = pytest.mark.django_db

LIST = reverse("api:report-subscription-list")


def _detail(subscription: ReportSubscription) -> str:
    return reverse("api:report-subscription-detail", kwargs={"pk": subscription.pk})


def _as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_an_officer_creates_lists_and_deletes_their_own(area_tree, commune_officer):
    client = _as(commune_officer)
    answer = client.post(LIST, {"area": area_tree.commune.pk, "format": "csv"}, format="json")
    assert answer.status_code == 201, answer.json()
    body = answer.json()
    assert {k: body[k] for k in ("area", "area_name", "period_kind", "format")} == {
        "area": area_tree.commune.pk,
        "area_name": "Xã Ia Grai",
        "period_kind": "month",
        "format": "csv",
    }
    # Again: the same subscription.
    assert client.post(LIST, {"area": area_tree.commune.pk, "format": "csv"}, format="json").json()["id"] == body["id"]
    ReportSubscriptionFactory(
        user=AreaRoleFactory(area=area_tree.commune).user, area=area_tree.commune
    )  # a colleague's
    listed = client.get(LIST).json()["results"]
    assert [row["id"] for row in listed] == [body["id"]]

    assert client.delete(_detail(ReportSubscription.objects.get(pk=body["id"]))).status_code == 204
    assert not ReportSubscription.objects.filter(user=commune_officer).exists()


@pytest.mark.parametrize(
    ("who", "where", "status", "field", "code"),
    [
        ("viewer", "province", 201, None, None),
        ("province_officer", "other_commune", 201, None, None),
        ("member", "village", 403, "area", "read_only"),
        ("member", "commune", 400, "area", "does_not_exist"),
        ("commune_officer", "other_commune", 400, "area", "does_not_exist"),
        ("commune_officer", "village", 400, "area", "not_signing_area"),
    ],
)
def test_every_role(area_tree, commune_officer, province_officer, who, where, status, field, code, request):
    actor = {
        "viewer": lambda: AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user,
        "province_officer": lambda: province_officer,
        "member": lambda: request.getfixturevalue("member"),
        "commune_officer": lambda: commune_officer,
    }[who]()
    answer = _as(actor).post(LIST, {"area": getattr(area_tree, where).pk}, format="json")
    assert answer.status_code == status, answer.json()
    if field is not None:
        assert answer.json()["codes"] == {field: [code]}
        assert not ReportSubscription.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"period_kind": "quarter"}, "period_kind", "invalid_choice"),
        ({"period_kind": "week"}, "period_kind", "invalid_choice"),
        ({"format": "pdf"}, "format", "invalid_choice"),
        ({"area": "abc"}, "area", "incorrect_type"),
        ({"area": None}, "area", "null"),
        ({"area": 10**30}, "area", "incorrect_type"),
    ],
)
def test_bad_input_names_the_field(area_tree, commune_officer, data, field, code):
    answer = _as(commune_officer).post(LIST, {"area": area_tree.commune.pk, **data}, format="json")
    assert answer.status_code == 400
    assert answer.json()["codes"] == {field: [code]}
    assert not ReportSubscription.objects.exists()


def test_anothers_subscription_is_not_found(area_tree, commune_officer):
    theirs = ReportSubscriptionFactory(user=AreaRoleFactory(area=area_tree.commune).user, area=area_tree.commune)
    client = _as(commune_officer)
    assert client.delete(_detail(theirs)).status_code == 404
    assert client.delete("/api/v1/report-subscriptions/abc/").status_code == 404
    assert ReportSubscription.objects.filter(pk=theirs.pk).exists()
    assert APIClient().get(LIST).status_code == 401
