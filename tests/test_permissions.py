"""``scope_for``: the one place that decides which areas, and so which rows, a user may see."""

from __future__ import annotations

import datetime as dt

import pytest

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import Area, Household, User
from fieldteam.permissions import scope_for
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    MembershipFactory,
    TeamFactory,
    UserFactory,
    VillageFactory,
)

pytestmark = pytest.mark.django_db


def visible_areas(user: User) -> set[Area]:
    return set(scope_for(user).filter_areas(Area.objects.all()))


def test_a_superuser_sees_everything(area_tree: AreaTree, superuser: User) -> None:
    scope = scope_for(superuser)
    assert scope.everything
    assert visible_areas(superuser) == set(Area.objects.all())
    assert scope.contains(area_tree.far_village)
    assert scope.can_edit


def test_a_commune_officer_sees_the_commune_subtree_and_not_a_sibling_commune(
    area_tree: AreaTree, commune_officer: User
) -> None:
    # Given an officer of one commune
    # When their scope is applied to the area table
    visible = visible_areas(commune_officer)
    # Then they see the commune and its villages
    assert visible == {area_tree.commune, area_tree.village, area_tree.village2}
    # And not the sibling commune's villages, the province above, or another province
    scope = scope_for(commune_officer)
    assert not scope.contains(area_tree.other_commune)
    assert not scope.contains(area_tree.other_village)
    assert not scope.contains(area_tree.province)
    assert not scope.contains(area_tree.far_village)
    assert scope.can_edit
    assert scope.is_staff_scope


def test_a_commune_officer_sees_villages_added_after_the_role_was_granted(
    area_tree: AreaTree, commune_officer: User
) -> None:
    # Scope is a subtree, not a list: a new village is in scope at once
    new_village = VillageFactory(parent=area_tree.commune)
    assert new_village in visible_areas(commune_officer)


def test_a_province_officer_filters_population_tables_on_their_province_column(
    area_tree: AreaTree, province_officer: User
) -> None:
    # Given a province officer
    scope = scope_for(province_officer)
    assert scope.province_ids == frozenset({area_tree.province.pk})
    # When their scope is applied to a table that carries the province
    sql = str(scope.filter(Household.objects.all()).query)
    # Then it is one filter on the row's own province_id: no join to the area tree
    assert '"province_id" IN' in sql
    assert "path" not in sql
    assert "JOIN" not in sql
    # And on the area table they see the whole province, not the other one
    assert visible_areas(province_officer) == {
        area_tree.province,
        area_tree.commune,
        area_tree.village,
        area_tree.village2,
        area_tree.other_commune,
        area_tree.other_village,
    }


def test_a_commune_officer_filters_population_tables_by_the_area_path(
    area_tree: AreaTree, commune_officer: User
) -> None:
    sql = str(scope_for(commune_officer).filter(Household.objects.all()).query)
    assert "path" in sql
    assert area_tree.commune.path in sql


def test_scoped_population_rows_follow_the_province(
    people_services, area_tree: AreaTree, province_officer: User, commune_officer: User
) -> None:
    # Given households in both communes of the province and one in another province
    mine = HouseholdFactory(village=area_tree.village)
    sibling = HouseholdFactory(village=area_tree.other_village)
    far = HouseholdFactory(village=area_tree.far_village)
    # Then the province officer sees both communes' households, and not the far one
    assert set(scope_for(province_officer).filter(Household.objects.all())) == {mine, sibling}
    # And the commune officer only their commune's
    assert set(scope_for(commune_officer).filter(Household.objects.all())) == {mine}
    assert far not in set(scope_for(commune_officer).filter(Household.objects.all()))


def test_a_member_sees_only_their_teams_villages(area_tree: AreaTree, member: User) -> None:
    # Given a member of the team of one village
    scope = scope_for(member)
    # Then they see that village only: not the sibling village, not the commune above
    assert visible_areas(member) == {area_tree.village}
    assert not scope.contains(area_tree.village2)
    assert not scope.contains(area_tree.commune)
    assert not scope.is_staff_scope
    assert scope.team_ids
    assert not scope.led_team_ids


def test_a_member_of_two_teams_sees_both_villages(area_tree: AreaTree, member: User) -> None:
    MembershipFactory(user=member, team=TeamFactory(village=area_tree.other_village))
    assert visible_areas(member) == {area_tree.village, area_tree.other_village}


def test_a_team_leader_is_known_to_lead_their_team(area_tree: AreaTree, leader: User) -> None:
    scope = scope_for(leader)
    assert scope.led_team_ids == scope.team_ids
    assert visible_areas(leader) == {area_tree.village}


def test_an_ended_membership_gives_nothing(area_tree: AreaTree) -> None:
    # Given someone whose only membership has ended
    user = MembershipFactory(
        team=TeamFactory(village=area_tree.village),
        role=MembershipRole.LEADER,
        started_on=dt.date(2023, 1, 1),
        ended_on=dt.date(2024, 12, 31),
    ).user
    # Then they see no area and no row
    scope = scope_for(user)
    assert scope.is_empty
    assert visible_areas(user) == set()
    assert not scope.filter(Household.objects.all()).exists()
    assert not scope.contains(area_tree.village)
    assert not scope.team_ids


def test_a_member_of_an_inactive_team_sees_nothing(area_tree: AreaTree) -> None:
    user = MembershipFactory(team=TeamFactory(village=area_tree.village, is_active=False)).user
    assert scope_for(user).is_empty


def test_a_user_with_no_role_sees_nothing_and_an_inactive_officer_neither(area_tree: AreaTree) -> None:
    assert scope_for(UserFactory()).is_empty
    officer = AreaRoleFactory(area=area_tree.commune).user
    officer.is_active = False
    assert scope_for(officer).is_empty


def test_a_viewer_sees_but_may_not_edit(area_tree: AreaTree) -> None:
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    scope = scope_for(viewer)
    assert scope.contains(area_tree.other_village)
    assert not scope.can_edit


def test_nested_roles_collapse_to_the_widest_subtree(area_tree: AreaTree, commune_officer: User) -> None:
    # A commune officer who is also province officer of the same province: one path, the province's
    AreaRoleFactory(user=commune_officer, area=area_tree.province, role=AreaRoleKind.PROVINCE_OFFICER)
    scope = scope_for(commune_officer)
    assert scope.paths == (area_tree.province.path,)
    assert scope.province_ids == frozenset({area_tree.province.pk})
