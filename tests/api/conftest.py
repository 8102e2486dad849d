"""Fixtures of the API tests: a small world in four places, the people who look at it, API clients.

Places (from ``area_tree``): ``V1`` the member's village, ``V2`` a sibling village in the same
commune, ``V3`` a village of the other commune of the province, ``VF`` a village of another
province. Each place has a team with a member, a household, a resident, a log and a training
session, so every endpoint can be asked about an object in and out of each role's scope.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from fieldteam.choices import AreaRoleKind, AssistanceChannel, AssistanceOutcome, MembershipRole, Sex
from fieldteam.models import (
    Area,
    AssistanceLog,
    Capability,
    Household,
    Indicator,
    IndicatorValue,
    OfficialPopulation,
    Resident,
    Team,
    TrainingSession,
    User,
)
from fieldteam.periods import Period
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.indicators import report_indicator_value
from fieldteam.services.training import record_training_session
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    OfficialPopulationFactory,
    ResidentFactory,
    TeamFactory,
    make_citizen_id,
    make_phone,
)

PLACES = ("V1", "V2", "V3", "VF")
ROLES = ("member", "leader", "commune_officer", "province_officer", "viewer", "superuser", "outsider")

# Which places each role sees (people, places, teams).
SEES: dict[str, set[str]] = {
    "member": {"V1"},
    "leader": {"V1"},
    "commune_officer": {"V1", "V2"},
    "province_officer": {"V1", "V2", "V3"},
    "viewer": {"V1", "V2", "V3"},
    "superuser": {"V1", "V2", "V3", "VF"},
    "outsider": {"VF"},
}
# Which places each role may write in.
WRITES: dict[str, set[str]] = {**SEES, "viewer": set()}


@dataclass
class Place:
    village: Area
    team: Team
    worker: User  # a member of the place's team; wrote its log and session
    household: Household
    resident: Resident
    log: AssistanceLog
    session: TrainingSession


@dataclass
class World:
    tree: AreaTree
    users: dict[str, User]
    places: dict[str, Place]
    smartphone: Capability
    skills: Capability
    fibre: Capability
    smartphone_indicator: Indicator
    skills_indicator: Indicator
    fibre_indicator: Indicator
    grdp: Indicator
    reported: dict[str, IndicatorValue] = field(default_factory=dict)
    population: dict[str, OfficialPopulation] = field(default_factory=dict)
    colleague_log: AssistanceLog | None = None

    @property
    def member(self) -> User:
        return self.users["member"]


@pytest.fixture
def capabilities(db) -> tuple[Capability, Capability, Capability]:
    smartphone = CapabilityFactory(code="smartphone", name="Smartphone")
    skills = CapabilityFactory(code="basic_digital_skills", name="Basic digital skills")
    fibre = CapabilityFactory(code="fibre_broadband", name="Fibre broadband", for_household=True)
    return smartphone, skills, fibre


def _log(worker: User, team: Team, resident: Resident, capability: Capability, when: dt.datetime) -> AssistanceLog:
    return log_assistance(
        actor=worker,
        team=team,
        occurred_at=when,
        channel=AssistanceChannel.HOME_VISIT,
        resident=resident,
        items=[ItemInput(capability, AssistanceOutcome.DONE)],
    )


@pytest.fixture
def world(area_tree: AreaTree, capabilities, member: User, leader: User, team: Team, superuser: User) -> World:
    smartphone, skills, fibre = capabilities
    # Indicators first: the live counts follow the residents registered from then on.
    indicators = {
        "smartphone_indicator": IndicatorFactory(code="adults-smartphone", capability=smartphone, min_age=18),
        "skills_indicator": IndicatorFactory(code="adults-skills", capability=skills, min_age=15),
        "fibre_indicator": IndicatorFactory(code="households-fibre", capability=fibre, households=True),
        "grdp": IndicatorFactory(code="digital-economy-grdp", reported=True),
    }
    users = {
        "member": member,
        "leader": leader,
        "commune_officer": AreaRoleFactory(area=area_tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user,
        "province_officer": AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.PROVINCE_OFFICER).user,
        "viewer": AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user,
        "superuser": superuser,
    }
    villages = {
        "V1": area_tree.village,
        "V2": area_tree.village2,
        "V3": area_tree.other_village,
        "VF": area_tree.far_village,
    }
    when = timezone.now() - dt.timedelta(days=2)
    places: dict[str, Place] = {}
    serial = 100
    for name, village in villages.items():
        place_team = team if name == "V1" else TeamFactory(village=village)
        worker = member if name == "V1" else MembershipFactory(team=place_team).user
        household = HouseholdFactory(village=village)
        serial += 1
        resident = ResidentFactory(
            household=household,
            birth_year=1980,
            sex=Sex.FEMALE,
            citizen_id=make_citizen_id(birth_year=1980, sex=Sex.FEMALE, serial=serial),
            phone=make_phone(serial),
        )
        log = _log(worker, place_team, resident, smartphone, when)
        session = record_training_session(
            actor=worker,
            team=place_team,
            village=village,
            topic="Kỹ năng số cơ bản",
            started_at=when,
            attendees=[resident],
        )
        places[name] = Place(village, place_team, worker, household, resident, log, session)
    users["outsider"] = places["VF"].worker
    world = World(
        tree=area_tree,
        users=users,
        places=places,
        smartphone=smartphone,
        skills=skills,
        fibre=fibre,
        **indicators,
    )
    # A log in V1 by a colleague of the member: the leader sees it, the member does not.
    colleague = MembershipFactory(team=team, role=MembershipRole.MEMBER).user
    world.colleague_log = _log(colleague, team, places["V1"].resident, skills, when)
    last_year = Period("year", dt.date(timezone.localdate().year - 1, 1, 1))
    for name, area in {
        "V1": area_tree.village,
        "V2": area_tree.village2,
        "V3": area_tree.other_village,
        "VF": area_tree.far_village,
    }.items():
        world.reported[name] = report_indicator_value(
            actor=superuser, indicator=world.grdp, area=area, period=last_year, value=Decimal("12.5")
        )
        world.population[name] = OfficialPopulationFactory(area=area, year=last_year.start.year, total=120)
    return world


@pytest.fixture
def client_for():
    """An API client signed in as ``user`` by token (``how="session"`` for a session with CSRF checks)."""

    def make(user: User, how: str = "token") -> APIClient:
        if how == "session":
            client = APIClient(enforce_csrf_checks=True)
            client.force_login(user)
            return client
        client = APIClient()
        token, _created = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make
