"""Members' own training and team coverage (issue 15)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from fieldteam.models import MemberTraining
from fieldteam.periods import today
from fieldteam.selectors.coverage import team_coverage
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services.member_training import record_member_training
from tests.factories import MembershipFactory, TeamFactory, UserFactory, VillageFactory


def _errors(excinfo: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return set(excinfo.value.message_dict)


def test_an_officer_records_a_members_training(team, member, commune_officer):
    row = record_member_training(
        actor=commune_officer, team=team, user=member, topic="  Kỹ năng số   cơ bản ", trained_on=dt.date(2025, 3, 1)
    )
    assert (row.user, row.team, row.topic, row.recorded_by) == (member, team, "Kỹ năng số cơ bản", commune_officer)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"topic": "  "}, "topic"),
        ({"topic": "x" * 201}, "topic"),
        ({"trained_on": None}, "trained_on"),
        ({"trained_on": dt.date(2999, 1, 1)}, "trained_on"),
        ({"trained_on": dt.date(1999, 12, 31)}, "trained_on"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(team, member, commune_officer, change, field):
    values = {"topic": "VNeID", "trained_on": dt.date(2025, 3, 1), **change}
    with pytest.raises(ValidationError) as excinfo:
        record_member_training(actor=commune_officer, team=team, user=member, **values)
    assert _errors(excinfo) == {field}
    assert not MemberTraining.objects.exists()


def test_not_a_member_twice_or_not_an_officer_is_refused(team, member, commune_officer, area_tree):
    stranger = UserFactory()
    with pytest.raises(ValidationError) as excinfo:
        record_member_training(actor=commune_officer, team=team, user=stranger, topic="VNeID", trained_on=today())
    assert _errors(excinfo) == {"user"}
    record_member_training(actor=commune_officer, team=team, user=member, topic="VNeID", trained_on=today())
    with pytest.raises(ValidationError) as excinfo:
        record_member_training(actor=commune_officer, team=team, user=member, topic="VNeID", trained_on=today())
    assert _errors(excinfo) == {"topic"}
    # A member does not certify their own training; an officer elsewhere cannot either.
    for actor in (member, UserFactory(staff=True)):
        with pytest.raises(ValidationError):
            record_member_training(actor=actor, team=team, user=member, topic="Thanh toán", trained_on=today())
    assert MemberTraining.objects.count() == 1


def test_team_coverage_per_commune_and_province(area_tree, team, member, leader, commune_officer, province_officer, client):
    # Commune: villages 1 and 2, the team serves village 1 with 2 members, one trained.
    # Other commune: one village, a team that is not active, and a new village without a team.
    record_member_training(actor=commune_officer, team=team, user=member, topic="VNeID", trained_on=today())
    MembershipFactory(team=team, ended=True)  # a past member does not count
    TeamFactory(village=area_tree.other_village, is_active=False)
    VillageFactory(parent=area_tree.other_commune)

    coverage = team_coverage(user=province_officer, area=area_tree.province)
    total = coverage.total
    assert (total.villages, total.villages_with_team, total.teams, total.members, total.members_trained) == (4, 1, 1, 2, 1)
    assert (total.village_share, total.members_per_team, total.trained_share) == (Decimal("25.0"), Decimal("2.0"), Decimal("50.0"))
    by_name = {c.area.name: c for c in coverage.children}
    assert (by_name["Xã Ia Grai"].villages, by_name["Xã Ia Grai"].villages_with_team) == (2, 1)
    assert (by_name["Xã Ia Hrung"].villages, by_name["Xã Ia Hrung"].villages_with_team, by_name["Xã Ia Hrung"].teams) == (2, 0, 0)

    with pytest.raises(OutOfScope):
        team_coverage(user=commune_officer, area=area_tree.province)
    client.force_login(province_officer)
    answer = client.get(reverse("api:area-team-coverage", args=[area_tree.province.pk])).json()
    assert answer["total"]["village_share"] == "25.0" and len(answer["children"]) == 2
    page = client.get(reverse("dashboards:area", args=[area_tree.province.pk])).content.decode()
    assert 'id="team-coverage"' in page and "1/4" in page
