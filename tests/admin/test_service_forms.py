"""Admin saves through the services from public hooks (``ServiceFormAdminMixin``, issue 14 item 7).

The service runs once, from ``save_model`` (or an inline's ``save_formset``); a refusal lands on the
field it names, the page is shown again, and nothing of the save is kept: not the main row, not an
inline row. On both databases, as a request runs it (outside the test's own transaction).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from fieldteam.admin import areas as area_admin
from fieldteam.choices import AreaKind, MembershipRole
from fieldteam.models import Area, Household, Membership, Team
from fieldteam.services import areas
from tests.admin.test_admin import logged_in, url
from tests.factories import HouseholdFactory, MembershipFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

NO_RESIDENTS = {"residents-TOTAL_FORMS": "0", "residents-INITIAL_FORMS": "0"}
VILLAGE = {"code": "V-NEW", "name": "Thôn Mới", "kind": AreaKind.THON, "is_active": "on"}


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Every call of the area service the admin makes."""
    calls: list[dict] = []

    def create_area(**kwargs):
        calls.append(kwargs)
        return areas.create_area(**kwargs)

    monkeypatch.setattr(area_admin, "create_area", create_area)
    return calls


def test_the_service_runs_once_and_a_refusal_lands_on_its_field(client: Client, area_tree, commune_officer, counted):
    logged_in(client, commune_officer)
    response = client.post(url(Area, "add"), {**VILLAGE, "parent": area_tree.commune.pk})
    assert response.status_code == 302
    assert len(counted) == 1
    assert Area.objects.filter(code="V-NEW").count() == 1

    # The same code again: the service refuses, once; the page shows it on "code"; nothing is added.
    before = Area.objects.count()
    response = client.post(url(Area, "add"), {**VILLAGE, "name": "Thôn Khác", "parent": area_tree.commune.pk})
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert len(counted) == 2
    assert Area.objects.count() == before
    area_tree.commune.refresh_from_db()
    assert area_tree.commune.numchild == 3  # treebeard's count is rolled back with the rest


def test_a_refused_inline_undoes_the_main_row_too(client: Client, area_tree, commune_officer):
    team = TeamFactory(village=area_tree.village, name="Tổ Cũ")
    member = MembershipFactory(team=team, started_on=dt.date(2024, 1, 1)).user
    logged_in(client, commune_officer)
    data = {
        "name": "Tổ Mới",
        "areas": [area_tree.village.pk],
        "founded_on": "2023-03-01",
        "decision_ref": "",
        "is_active": "on",
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": str(Membership.objects.get(user=member).pk),
        "memberships-0-team": str(team.pk),
        "memberships-0-user": str(member.pk),
        "memberships-0-role": MembershipRole.MEMBER,
        "memberships-0-started_on": "2024-01-01",
        # A second open membership of the same person: the service refuses it.
        "memberships-1-team": str(team.pk),
        "memberships-1-user": str(member.pk),
        "memberships-1-role": MembershipRole.LEADER,
        "memberships-1-started_on": "2024-02-01",
    }
    response = client.post(url(Team, "change", team.pk), data)
    assert response.status_code == 200
    assert [e.code for e in response.context["adminform"].form.non_field_errors().as_data()] == ["duplicate"]
    team.refresh_from_db()
    assert team.name == "Tổ Cũ"
    assert Membership.objects.filter(team=team).count() == 1

    # Without the duplicate, the change and the new member are saved through the services.
    newcomer = MembershipFactory(team=TeamFactory(village=area_tree.village2)).user  # a user in sight
    response = client.post(url(Team, "change", team.pk), {**data, "memberships-1-user": str(newcomer.pk)})
    assert response.status_code == 302
    team.refresh_from_db()
    assert team.name == "Tổ Mới"
    assert Membership.objects.get(team=team, user=newcomer).role == MembershipRole.LEADER


def test_a_household_change_goes_through_its_service(client: Client, area_tree, commune_officer):
    household = HouseholdFactory(village=area_tree.village, code="H-1")
    HouseholdFactory(village=area_tree.village, code="H-2")
    logged_in(client, commune_officer)
    data = {"code": "H-2", "head_name": "Rơ Mah Hlim", "address": "Xóm 1", **NO_RESIDENTS}
    response = client.post(url(Household, "change", household.pk), data)
    assert response.status_code == 200
    assert "code" in response.context["adminform"].form.errors
    assert Household.objects.get(pk=household.pk).code == "H-1"
    response = client.post(url(Household, "change", household.pk), {**data, "code": "H-3"})
    assert response.status_code == 302
    assert Household.objects.get(pk=household.pk).code == "H-3"
