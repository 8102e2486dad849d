"""Teams, memberships and area roles through ``fieldteam.services.teams`` (issue 14 item 7).

Good input is saved and recorded in the audit trail; bad input is refused naming the field, with
nothing saved. The writes that lock a row also run as a request runs them (``transaction=True``).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from fieldteam.choices import AreaRoleKind, MembershipRole
from fieldteam.models import AreaRole, AuditEntry, Membership, Team, User
from fieldteam.services import teams
from tests.clock import tomorrow, yesterday
from tests.factories import AreaRoleFactory, MembershipFactory, TeamFactory, UserFactory


def _fields(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


def _state() -> tuple:
    return (
        list(Team.objects.order_by("pk").values_list("pk", "name", "province_id", "founded_on")),
        list(Team.areas.through.objects.order_by("pk").values_list("team_id", "area_id")),
        list(Membership.objects.order_by("pk").values_list("pk", "role", "started_on", "ended_on")),
        list(AreaRole.objects.order_by("pk").values_list("pk", "area_id", "role")),
        list(User.objects.order_by("pk").values_list("pk", "username")),
        AuditEntry.objects.count(),
    )


def _refused(call, **kwargs) -> dict[str, list[str]]:
    before = _state()
    with pytest.raises(ValidationError) as refused:
        call(**kwargs)
    assert _state() == before
    return _fields(refused.value)


def _on_the_day(kwargs: dict) -> dict:
    """The parameters with each date read now (a parameter holds ``tomorrow``, not its value at import)."""
    return {name: value() if callable(value) else value for name, value in kwargs.items()}


@pytest.mark.django_db
def test_a_commune_officer_founds_a_team_for_their_villages(area_tree, commune_officer) -> None:
    team = teams.create_team(
        actor=commune_officer, name=" Tổ 1 ", areas=[area_tree.village, area_tree.village2], founded_on=yesterday()
    )
    assert (team.name, team.province_id) == ("Tổ 1", area_tree.province.pk)
    assert set(team.areas.all()) == {area_tree.village, area_tree.village2}
    assert AuditEntry.objects.filter(object_pk=str(team.pk), action=AuditEntry.Action.CREATE).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("areas", "kwargs", "field", "code"),
    [
        (lambda t: [], {}, "areas", "required"),
        (lambda t: [t.village, t.far_village], {}, "areas", "out_of_scope"),
        (lambda t: [t.other_village], {}, "areas", "out_of_scope"),
        (lambda t: [t.village], {"founded_on": tomorrow}, "founded_on", "future"),
        (lambda t: [t.village], {"name": "  "}, "name", "blank"),
    ],
    ids=["no_area", "two_provinces", "another_commune", "future", "no_name"],
)
def test_a_bad_team_is_refused_naming_the_field(area_tree, commune_officer, areas, kwargs, field, code) -> None:
    values = {"name": "Tổ 1", "founded_on": yesterday(), **_on_the_day(kwargs)}
    fields = _refused(teams.create_team, actor=commune_officer, areas=areas(area_tree), **values)
    assert code in fields[field]


@pytest.mark.django_db
def test_two_provinces_or_a_province_are_refused_even_to_a_superuser(area_tree, superuser) -> None:
    fields = _refused(teams.create_team, actor=superuser, name="Tổ", areas=[area_tree.province], founded_on=yesterday())
    assert fields == {"areas": ["province"]}
    fields = _refused(
        teams.create_team,
        actor=superuser,
        name="Tổ",
        areas=[area_tree.village, area_tree.far_village],
        founded_on=yesterday(),
    )
    assert fields == {"areas": ["several_provinces"]}


@pytest.mark.django_db
def test_a_team_cannot_be_taken_to_areas_out_of_reach(area_tree, commune_officer, team) -> None:
    assert _refused(teams.update_team, actor=commune_officer, team=team, areas=[area_tree.other_village]) == {
        "areas": ["out_of_scope"]
    }
    far_team = TeamFactory(village=area_tree.far_village)
    assert _refused(teams.update_team, actor=commune_officer, team=far_team, name="X") == {"areas": ["out_of_scope"]}


@pytest.mark.django_db
def test_a_viewer_may_not_add_a_member(area_tree, team) -> None:
    viewer = AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user
    fields = _refused(teams.add_membership, actor=viewer, team=team, user=UserFactory(), started_on=yesterday())
    assert fields == {"team": ["read_only"]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"started_on": tomorrow}, "started_on", "future"),
        ({"started_on": yesterday, "ended_on": lambda: yesterday() - dt.timedelta(days=3)}, "ended_on", "before_start"),
        ({"started_on": yesterday, "role": "boss"}, "role", "invalid_choice"),
    ],
)
def test_a_bad_membership_is_refused_naming_the_field(team, commune_officer, kwargs, field, code) -> None:
    fields = _refused(teams.add_membership, actor=commune_officer, team=team, user=UserFactory(), **_on_the_day(kwargs))
    assert code in fields[field]


@pytest.mark.django_db
def test_one_open_membership_per_person_and_team(team, commune_officer, member) -> None:
    fields = _refused(teams.add_membership, actor=commune_officer, team=team, user=member, started_on=yesterday())
    assert fields == {"user": ["duplicate"]}


@pytest.mark.django_db
def test_a_member_user_is_created_and_filled_in(team, commune_officer) -> None:
    user = teams.create_member_user(actor=commune_officer, team=team, username="tv.moi", first_name="Lan")
    assert not user.has_usable_password()
    teams.fill_member_details(actor=commune_officer, team=team, user=user, first_name="Khác", last_name="Trần")
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Lan", "Trần")  # what was there is kept
    assert _refused(teams.create_member_user, actor=commune_officer, team=team, username="tv.moi") == {
        "username": ["username_taken"]
    }
    assert _refused(teams.create_member_user, actor=commune_officer, team=team, username="a b!") == {
        "username": ["invalid_username"]
    }


@pytest.mark.django_db
def test_area_roles_follow_who_may_grant_them(area_tree, commune_officer, province_officer) -> None:
    someone = UserFactory(staff=True)
    role = teams.grant_area_role(
        actor=commune_officer, user=someone, area=area_tree.village, role=AreaRoleKind.COMMUNE_OFFICER
    )
    assert AuditEntry.objects.filter(object_pk=str(role.pk), action=AuditEntry.Action.CREATE).exists()
    # A commune officer makes no province officers; a province officer does.
    grant = {"user": someone, "area": area_tree.commune, "role": AreaRoleKind.PROVINCE_OFFICER}
    assert "role" in _refused(teams.grant_area_role, actor=commune_officer, **grant)
    teams.grant_area_role(actor=province_officer, **grant)
    # Nobody changes their own roles; nobody grants out of reach; the role must be one of ours.
    own = AreaRole.objects.get(user=commune_officer)
    assert _refused(teams.revoke_area_role, actor=commune_officer, area_role=own) == {"user": ["own_role"]}
    far = {"user": someone, "area": area_tree.far_village, "role": AreaRoleKind.VIEWER}
    assert _refused(teams.grant_area_role, actor=commune_officer, **far) == {"area": ["out_of_scope"]}
    bad = {"user": someone, "area": area_tree.village, "role": "king"}
    assert _refused(teams.grant_area_role, actor=commune_officer, **bad) == {"role": ["invalid_choice"]}
    teams.revoke_area_role(actor=commune_officer, area_role=role)
    assert not AreaRole.objects.filter(pk=role.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_membership_changes_as_a_request_runs_them(area_tree, commune_officer) -> None:
    """Outside the test's transaction: the service's own holds the lock and the refusal."""
    team = TeamFactory(village=area_tree.village)
    membership = MembershipFactory(team=team, started_on=dt.date(2024, 1, 1))
    teams.update_membership(actor=commune_officer, membership=membership, role=MembershipRole.DEPUTY)
    teams.end_membership(actor=commune_officer, membership=membership, on=yesterday())
    membership.refresh_from_db()
    assert (membership.role, membership.ended_on) == (MembershipRole.DEPUTY, yesterday())
    fields = _refused(
        teams.update_membership, actor=commune_officer, membership=membership, ended_on=dt.date(2023, 1, 1)
    )
    assert fields == {"ended_on": ["before_start"]}
    outsider = AreaRoleFactory(area=area_tree.far_commune).user
    assert _refused(teams.update_team, actor=outsider, team=team, name="X") == {"areas": ["out_of_scope"]}
