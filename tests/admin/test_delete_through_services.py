"""The admin deletes only through the services (``ServiceFormAdminMixin.delete_row``).

Every table whose admin saves through a service deletes through one too, from the delete page and
from the "delete selected" action: the service's permission rule applies, a refusal is shown and
nothing is deleted (of the whole selection), and a table with no delete service offers no delete
to anyone. As a request runs it, on both databases.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client

from fieldteam.admin.base import ServiceFormAdminMixin
from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import (
    Area,
    AreaRole,
    CapabilityDerivation,
    FollowUpRule,
    IndicatorPopulationBound,
    Membership,
    MemberTraining,
    OfficialPopulation,
    ReportSubscription,
    Target,
    Team,
)
from tests.admin.test_admin import logged_in, url
from tests.factories import AreaRoleFactory, IndicatorFactory, MembershipFactory, TargetFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

DELETING_ADMINS = {
    Area,
    AreaRole,
    CapabilityDerivation,
    FollowUpRule,
    IndicatorPopulationBound,
    Membership,
    MemberTraining,
    OfficialPopulation,
    ReportSubscription,
    Target,
    Team,
}


def _confirm(client: Client, model: type, pk: int):
    return client.post(url(model, "delete", pk), {"post": "yes"})


def _delete_selected(client: Client, model: type, pks: list[int]):
    return client.post(
        url(model, "changelist"), {"action": "delete_selected", "_selected_action": [str(pk) for pk in pks], "post": "yes"}
    )


def test_only_the_admins_with_a_delete_service_offer_delete(rf, superuser):
    """A service-saved table without ``delete_row`` cannot be deleted from, even by a superuser."""
    request = rf.get("/admin/")
    request.user = superuser
    offered = {
        model
        for model, model_admin in admin.site._registry.items()
        if isinstance(model_admin, ServiceFormAdminMixin) and model_admin.has_delete_permission(request)
    }
    assert offered == DELETING_ADMINS


def test_a_membership_is_deleted_by_its_service_and_refused_outside_the_officers_area(
    client: Client, area_tree, commune_officer
):
    here = MembershipFactory(team=TeamFactory(village=area_tree.village), role=MembershipRole.MEMBER)
    elsewhere = MembershipFactory(team=TeamFactory(village=area_tree.other_village), role=MembershipRole.MEMBER)
    logged_in(client, commune_officer)

    assert _confirm(client, Membership, elsewhere.pk).status_code in (302, 403, 404)
    assert Membership.objects.filter(pk=elsewhere.pk).exists()

    assert _confirm(client, Membership, here.pk).status_code == 302
    assert not Membership.objects.filter(pk=here.pk).exists()


def test_an_officer_cannot_revoke_their_own_role_from_the_delete_page(client: Client, area_tree, commune_officer):
    own = AreaRole.objects.get(user=commune_officer)
    logged_in(client, commune_officer)

    assert _confirm(client, AreaRole, own.pk).status_code in (302, 403)
    assert AreaRole.objects.filter(pk=own.pk).exists()
    other = AreaRoleFactory(area=area_tree.village, role=AreaRoleKind.VIEWER)
    assert _confirm(client, AreaRole, other.pk).status_code == 302
    assert not AreaRole.objects.filter(pk=other.pk).exists()


def test_one_refusal_in_a_selection_deletes_none_of_it(client: Client, area_tree, province_officer):
    empty = TeamFactory(village=area_tree.village, name="Tổ Trống")
    staffed = TeamFactory(village=area_tree.village2, name="Tổ Có Người")
    MembershipFactory(team=staffed, role=MembershipRole.LEADER)
    logged_in(client, province_officer)

    response = _delete_selected(client, Team, [empty.pk, staffed.pk])

    assert response.status_code == 302
    assert set(Team.objects.filter(pk__in=[empty.pk, staffed.pk]).values_list("pk", flat=True)) == {empty.pk, staffed.pk}
    page = client.get(response.url).content.decode()
    assert "Tổ Trống" in page and "Tổ Có Người" in page

    assert _delete_selected(client, Team, [empty.pk]).status_code == 302
    assert not Team.objects.filter(pk=empty.pk).exists()


def test_a_target_is_deleted_only_by_a_province_officer(client: Client, area_tree, commune_officer, province_officer):
    target = TargetFactory(indicator=IndicatorFactory(), area=area_tree.commune, year=2030)

    logged_in(client, commune_officer)
    _confirm(client, Target, target.pk)
    assert Target.objects.filter(pk=target.pk).exists()

    logged_in(client, province_officer)
    assert _confirm(client, Target, target.pk).status_code == 302
    assert not Target.objects.filter(pk=target.pk).exists()


def test_a_village_in_use_is_kept_with_a_message(client: Client, area_tree, commune_officer):
    TeamFactory(village=area_tree.village)
    logged_in(client, commune_officer)

    response = _confirm(client, Area, area_tree.village.pk)

    assert response.status_code == 302
    assert Area.objects.filter(pk=area_tree.village.pk).exists()
    empty = area_tree.village2
    assert _confirm(client, Area, empty.pk).status_code == 302
    assert not Area.objects.filter(pk=empty.pk).exists()
    area_tree.commune.refresh_from_db()
    assert area_tree.commune.numchild == 1
