"""The scoping matrix: every endpoint × every role × an object in each of four places.

Out of scope answers 404 (existence never revealed), or, for a reference inside a request body, a
400 naming the field with the same message as a missing object. A role that sees but may not
write (a viewer) gets 403. See ``conftest.py`` for the places and ``SEES``/``WRITES``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.utils import timezone

from fieldteam.choices import AreaRoleKind
from fieldteam.permissions import scope_for
from tests.api.conftest import PLACES, ROLES, SEES, WRITES, World
from tests.factories import AreaRoleFactory, MembershipFactory

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Read:
    """A GET of one object of a place: 200 where the role sees the place, else 404."""

    name: str
    url: Callable[[World, str], str]


READS = [
    Read("area", lambda w, p: f"/api/v1/areas/{w.places[p].village.pk}/"),
    Read("area children", lambda w, p: f"/api/v1/areas/{w.places[p].village.pk}/children/"),
    Read("area indicators", lambda w, p: f"/api/v1/areas/{w.places[p].village.pk}/indicators/"),
    Read("area indicators of children", lambda w, p: f"/api/v1/areas/{w.places[p].village.pk}/indicators/children/"),
    Read("team", lambda w, p: f"/api/v1/teams/{w.places[p].team.pk}/"),
    Read("team members", lambda w, p: f"/api/v1/teams/{w.places[p].team.pk}/members/"),
    Read("household", lambda w, p: f"/api/v1/households/{w.places[p].household.pk}/"),
    Read("resident", lambda w, p: f"/api/v1/residents/{w.places[p].resident.pk}/"),
    Read("assistance log", lambda w, p: f"/api/v1/assistance-logs/{w.places[p].log.pk}/"),
    Read("training session", lambda w, p: f"/api/v1/training-sessions/{w.places[p].session.pk}/"),
    Read("reported value", lambda w, p: f"/api/v1/reported-values/{w.reported[p].pk}/"),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("read", READS, ids=lambda r: r.name)
def test_an_object_is_seen_in_scope_and_is_a_404_outside(world: World, client_for, role: str, read: Read) -> None:
    client = client_for(world.users[role])
    wrong = []
    for place in PLACES:
        expected = 200 if place in SEES[role] else 404
        response = client.get(read.url(world, place))
        if response.status_code != expected:
            wrong.append((place, expected, response.status_code))
        if expected == 404:
            assert response.json() == {
                "errors": {"detail": [response.json()["errors"]["detail"][0]]},
                "codes": {"detail": ["not_found"]},
            }
    assert not wrong, f"{role} / {read.name}: (place, expected, got) {wrong}"


def test_a_missing_object_and_an_out_of_scope_one_answer_alike(world: World, client_for) -> None:
    client = client_for(world.member)
    hidden = client.get(f"/api/v1/residents/{world.places['VF'].resident.pk}/")
    missing = client.get("/api/v1/residents/999999/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    assert (
        client.get(f"/api/v1/assistance-logs/{uuid.uuid4()}/").json()
        == client.get(f"/api/v1/assistance-logs/{world.places['VF'].log.pk}/").json()
    )


@dataclass(frozen=True)
class Listing:
    """A list endpoint: exactly the objects of the places the role sees."""

    name: str
    url: str
    ids: Callable[[World, str], set[object]]
    params: tuple[tuple[str, str], ...] = ()


LISTS = [
    Listing("households", "/api/v1/households/", lambda w, p: {w.places[p].household.pk}),
    Listing("residents", "/api/v1/residents/", lambda w, p: {w.places[p].resident.pk}),
    Listing("teams", "/api/v1/teams/", lambda w, p: {w.places[p].team.pk}),
    Listing("training sessions", "/api/v1/training-sessions/", lambda w, p: {str(w.places[p].session.pk)}),
    Listing("reported values", "/api/v1/reported-values/", lambda w, p: {w.reported[p].pk}),
    Listing(
        "villages",
        "/api/v1/areas/",
        lambda w, p: {w.places[p].village.pk},
        (("kind", "thon"),),
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("listing", LISTS, ids=lambda r: r.name)
def test_a_list_holds_exactly_what_the_role_sees(world: World, client_for, role: str, listing: Listing) -> None:
    response = client_for(world.users[role]).get(listing.url, {"page_size": 200, **dict(listing.params)})
    assert response.status_code == 200
    got = {row["id"] for row in response.json()["results"]}
    expected: set[object] = set()
    for place in SEES[role]:
        expected |= listing.ids(world, place)
    assert got == expected


def _log_ids(world: World, role: str) -> set[str]:
    """The activity a role sees: officers their subtree, a leader the team's, a member their own."""
    places = SEES[role]
    ids = {str(world.places[p].log.pk) for p in places}
    ids |= {str(log.pk) for p in places for log in world.places[p].session.logs.all()}
    if role != "member" and "V1" in places:
        ids.add(str(world.colleague_log.pk))
    return ids


@pytest.mark.parametrize("role", ROLES)
def test_assistance_logs_follow_the_activity_rule(world: World, client_for, role: str) -> None:
    client = client_for(world.users[role])
    listed = {row["id"] for row in client.get("/api/v1/assistance-logs/", {"page_size": 200}).json()["results"]}
    assert listed == _log_ids(world, role)
    colleague = client.get(f"/api/v1/assistance-logs/{world.colleague_log.pk}/")
    assert colleague.status_code == (404 if role in ("member", "outsider") else 200)


# --- writes ----------------------------------------------------------------------------------------


def _write_status(role: str, place: str) -> int:
    if place in WRITES[role]:
        return 201
    if place in SEES[role]:
        return 403  # seen, but the role may only view
    return 400  # the reference in the body reads as missing; the field is named


@pytest.mark.parametrize("role", ROLES)
def test_registering_a_household_needs_write_rights_on_the_village(world: World, client_for, role: str) -> None:
    client = client_for(world.users[role])
    for place in PLACES:
        response = client.post("/api/v1/households/", {"village": world.places[place].village.pk}, format="json")
        expected = _write_status(role, place)
        assert response.status_code == expected, (place, response.json())
        if expected != 201:
            assert "village" in response.json()["errors"]


@pytest.mark.parametrize("role", ROLES)
def test_registering_a_resident_needs_write_rights_on_the_household(world: World, client_for, role: str) -> None:
    client = client_for(world.users[role])
    for place in PLACES:
        body = {
            "household": world.places[place].household.pk,
            "full_name": "Siu H'Ben",
            "sex": "female",
            "birth_year": 1990,
        }
        response = client.post("/api/v1/residents/", body, format="json")
        expected = _write_status(role, place)
        assert response.status_code == expected, (place, response.json())
        if expected != 201:
            assert "household" in response.json()["errors"]


@pytest.mark.parametrize("role", ROLES)
def test_correcting_a_resident_needs_write_rights(world: World, client_for, role: str) -> None:
    client = client_for(world.users[role])
    for place in PLACES:
        response = client.patch(
            f"/api/v1/residents/{world.places[place].resident.pk}/", {"full_name": "Ksor Nga"}, format="json"
        )
        expected = {201: 200, 403: 403, 400: 404}[_write_status(role, place)]
        assert response.status_code == expected, (place, response.json())


@pytest.mark.usefixtures("log_path")  # on both logging paths
@pytest.mark.parametrize("role", ROLES)
def test_logging_assistance_needs_membership_of_the_team(world: World, client_for, role: str, request) -> None:
    if role == "superuser":
        # Not a member of the team: the one statement leaves a superuser's logs to the ORM path.
        request.applymarker(pytest.mark.log_fallback("a superuser logs by the ORM path"))
    client = client_for(world.users[role])
    when = (timezone.now() - dt.timedelta(hours=1)).isoformat()
    for place in PLACES:
        body = {
            "team": world.places[place].team.pk,
            "resident": world.places[place].resident.pk,
            "occurred_at": when,
            "channel": "home_visit",
            "items": [{"capability": "smartphone", "outcome": "done"}],
        }
        response = client.post("/api/v1/assistance-logs/", body, format="json")
        own = world.places[place].worker == world.users[role] or (role == "leader" and place == "V1")
        expected = 201 if role == "superuser" or own else 400
        assert response.status_code == expected, (place, response.json())
        if expected == 400:
            assert "team" in response.json()["errors"]


@pytest.mark.usefixtures("log_path")  # on both logging paths
@pytest.mark.parametrize("role", ROLES)
def test_syncing_follows_the_same_rights(world: World, client_for, role: str) -> None:
    client = client_for(world.users[role])
    items = [
        {"kind": "household", "client_id": str(uuid.uuid4()), "data": {"village": world.places[p].village.pk}}
        for p in PLACES
    ]
    results = client.post("/api/v1/sync/", {"items": items}, format="json").json()["results"]
    for place, result in zip(PLACES, results, strict=True):
        expected = "created" if place in WRITES[role] else "rejected"
        assert result["status"] == expected, (place, result)
        if expected == "rejected":
            assert list(result["errors"]) == ["village"]


@pytest.mark.parametrize("role", ROLES)
def test_reporting_a_value_is_for_province_officers_in_their_subtree(world: World, client_for, role: str) -> None:
    """Reported values are province-level figures: a commune officer is refused like a viewer (403)."""
    client = client_for(world.users[role])
    officer = role in ("province_officer", "superuser")
    for place in PLACES:
        body = {
            "indicator": world.grdp.code,
            "area": world.places[place].village.pk,
            "period": "2025-Q4",
            "value": "10.5",
        }
        response = client.post("/api/v1/reported-values/", body, format="json")
        if place not in SEES[role]:
            expected = 400
        elif officer and place in WRITES[role]:
            expected = 201
        else:
            expected = 403
        assert response.status_code == expected, (place, response.json())
        if expected != 201:
            assert "area" in response.json()["errors"]


# --- the can_edit gap, closed ------------------------------------------------------------------------


def test_a_viewer_who_is_also_a_team_member_writes_only_in_the_team_villages(world: World, client_for) -> None:
    # Given a province viewer who is also a member of the team of V2
    viewer = world.users["viewer"]
    MembershipFactory(user=viewer, team=world.places["V2"].team)
    scope = scope_for(viewer)
    # Then they may write in V2 only, though they see the whole province
    assert scope.can_edit
    assert scope.can_edit_area(world.places["V2"].village)
    assert not scope.can_edit_area(world.places["V1"].village)
    assert scope.contains(world.places["V3"].village)
    client = client_for(viewer)
    assert (
        client.post("/api/v1/households/", {"village": world.places["V2"].village.pk}, format="json").status_code == 201
    )
    refused = client.post("/api/v1/households/", {"village": world.places["V1"].village.pk}, format="json")
    assert refused.status_code == 403
    assert refused.json()["codes"] == {"village": ["read_only"]}


def test_a_commune_officer_with_a_viewer_role_on_the_province_writes_only_in_the_commune(world: World) -> None:
    officer = world.users["commune_officer"]
    AreaRoleFactory(user=officer, area=world.tree.province, role=AreaRoleKind.VIEWER)
    scope = scope_for(officer)
    assert scope.contains(world.places["V3"].village)
    assert scope.can_edit_area(world.places["V2"].village)
    assert not scope.can_edit_area(world.places["V3"].village)
