"""Where each role starts: "/" and the page after signing in (``fieldteam.selectors.homes``)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Team, User
from fieldteam.selectors.homes import ADMIN, DASHBOARDS, FIELD_APP, homes_for
from tests.conftest import AreaTree
from tests.factories import TEST_PASSWORD, AreaRoleFactory, MembershipFactory, UserFactory


def demo_user(role: str, tree: AreaTree, team: Team) -> User:
    """One user per demo login of ``make run`` (and a person holding both kinds of role)."""
    if role == "admin":
        return UserFactory(superuser=True)
    if role == "canbo.tinh":
        return AreaRoleFactory(area=tree.province, role=AreaRoleKind.PROVINCE_OFFICER).user
    if role == "canbo.xa":
        return AreaRoleFactory(area=tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    if role == "xem.tinh":
        return AreaRoleFactory(area=tree.province, role=AreaRoleKind.VIEWER).user
    if role == "totruong":
        return MembershipFactory(team=team, role=MembershipRole.LEADER).user
    if role == "thanhvien":
        return MembershipFactory(team=team, role=MembershipRole.MEMBER).user
    if role == "quoc.gia":  # a ministry's analyst: the national level, no area role
        user = UserFactory()
        user.user_permissions.add(Permission.objects.get(codename="view_nation", content_type__app_label="fieldteam"))
        return user
    if role == "both":
        user = AreaRoleFactory(area=tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
        MembershipFactory(team=team, user=user, role=MembershipRole.MEMBER)
        return user
    return UserFactory()  # signed up, in no team and with no role yet


# role -> (where "/" and signing in take them, the other doors linked from there)
ROLES = {
    "admin": (DASHBOARDS, [ADMIN]),
    "canbo.tinh": (DASHBOARDS, [ADMIN]),
    "canbo.xa": (DASHBOARDS, [ADMIN]),
    "xem.tinh": (DASHBOARDS, [ADMIN]),
    "totruong": (FIELD_APP, [DASHBOARDS]),
    "thanhvien": (FIELD_APP, []),
    "both": (FIELD_APP, [DASHBOARDS, ADMIN]),
    "quoc.gia": (DASHBOARDS, []),
    "nobody": (FIELD_APP, []),
}


@pytest.mark.parametrize("role", list(ROLES))
def test_each_role_starts_at_its_home(area_tree: AreaTree, team: Team, role: str) -> None:
    user = demo_user(role, area_tree, team)

    homes = homes_for(user=user)

    assert (homes.start, homes.others) == ROLES[role]


@pytest.mark.parametrize("role", list(ROLES))
def test_signing_in_and_slash_lead_to_the_home(area_tree: AreaTree, team: Team, role: str) -> None:
    user = demo_user(role, area_tree, team)
    user.set_password(TEST_PASSWORD)
    user.save()
    client = Client()

    signed_in = client.post(reverse("web:login"), {"username": user.username, "password": TEST_PASSWORD})
    slash = client.get(reverse("web:home"))

    start, _others = ROLES[role]
    assert signed_in.status_code == 302
    assert signed_in["Location"] == reverse(start)
    if start == FIELD_APP:
        assert slash.status_code == 200
    else:
        assert slash.status_code == 302
        assert slash["Location"] == reverse(start)


def test_a_commune_officer_is_never_told_to_ask_the_commune_officer(client: Client, area_tree: AreaTree) -> None:
    officer = AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user
    client.force_login(officer)

    page = client.get(reverse("web:home"), follow=True)

    assert page.redirect_chain[-1][0] == reverse("dashboards:area", kwargs={"area_id": area_tree.commune.pk})
    assert "Bạn chưa thuộc tổ nào" not in page.content.decode()


def test_a_person_with_both_roles_sees_both_doors(client: Client, area_tree: AreaTree, team: Team) -> None:
    user = demo_user("both", area_tree, team)
    client.force_login(user)

    field_app = client.get(reverse("web:home")).content.decode()
    dashboard = client.get(reverse("dashboards:area", kwargs={"area_id": area_tree.commune.pk})).content.decode()

    assert f'href="{reverse("dashboards:home")}"' in field_app
    assert f'href="{reverse("admin:index")}"' in field_app
    assert f'href="{reverse("web:home")}"' in dashboard


def test_a_member_is_not_offered_the_dashboards_or_the_admin(client: Client, member: User) -> None:
    client.force_login(member)

    page = client.get(reverse("web:home")).content.decode()

    assert f'href="{reverse("dashboards:home")}"' not in page
    assert f'href="{reverse("admin:index")}"' not in page
