"""A small province with history: indicators and targets, people, adoptions, teams, logs, snapshots.

Every test in this directory runs on 15 June 2026 (``freeze_time``): June is the open (live)
month, January to May 2026 are closed and frozen as snapshots by the real ``close_month``.

    province (Gia Lai, targets 2025/2030) ─┬─ commune ─┬─ village   team A: leader, member, idle
                                           │           └─ village2  team B: member2
                                           └─ other_commune ── other_village  team C
    other_province ── far_commune ── far_village
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.utils import timezone
from freezegun import freeze_time

from fieldteam.choices import (
    AdoptionSource,
    AreaRoleKind,
    AssistanceChannel,
    AssistanceOutcome,
    MembershipRole,
    PeriodKind,
    Sex,
)
from fieldteam.models import Area, Indicator, Team, TrainingSession, User
from fieldteam.periods import Period
from fieldteam.rollup import recompute
from fieldteam.services import adoption as adoption_services
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.indicators import report_indicator_value
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    ResidentFactory,
    RetirementAgeFactory,
    TargetFactory,
    TeamFactory,
    UserFactory,
)

TODAY = "2026-06-15"
CLOSED_MONTHS = [dt.date(2026, m, 1) for m in range(1, 6)]


@pytest.fixture(autouse=True)
def _frozen_today():
    with freeze_time(TODAY, tick=False):
        yield


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def at(day: str, hour: int = 9) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour)))


@dataclass
class Scenario:
    tree: AreaTree
    adults: Indicator  # computed: residents 18+ holding a capability; targets 80 (2025) and 95 (2030)
    households: Indicator  # computed over households; target 100 (2030)
    reported: Indicator  # reported by hand; target 30 (2030)
    team: Team
    team2: Team
    other_team: Team
    leader: User
    member: User
    idle: User  # a member of ``team`` with no activity at all
    member2: User
    other_member: User
    commune_officer: User
    other_commune_officer: User
    province_officer: User
    far_officer: User


def _adults(village: Area, count: int, *, adopted_since: list[dt.date], indicator: Indicator, phone_from: int = 0):
    """``count`` adults in one household of ``village``; the first ones adopt on the given dates."""
    household = HouseholdFactory(village=village)
    residents = []
    for i in range(count):
        resident = ResidentFactory(household=household, birth_year=1980 + i, sex=Sex.FEMALE if i % 2 else Sex.MALE)
        if i < len(adopted_since):
            adoption_services.set_adoption(
                actor=None,
                capability=indicator.capability,
                since=adopted_since[i],
                source=AdoptionSource.SURVEY,
                resident=resident,
            )
        residents.append(resident)
    return household, residents


def build_scenario(tree: AreaTree) -> Scenario:
    RetirementAgeFactory(sex=Sex.MALE)
    RetirementAgeFactory(sex=Sex.FEMALE)
    adults = IndicatorFactory(min_age=18, name="Adults with a smartphone", sort_order=10)
    households = IndicatorFactory(households=True, name="Households with fibre", sort_order=20)
    reported = IndicatorFactory(reported=True, name="Digital economy share of GRDP", sort_order=30)
    TargetFactory(indicator=adults, area=tree.province, year=2025, value=Decimal(80))
    TargetFactory(indicator=adults, area=tree.province, year=2030, value=Decimal(95))
    TargetFactory(indicator=households, area=tree.province, year=2030, value=Decimal(100))
    TargetFactory(indicator=reported, area=tree.province, year=2030, value=Decimal(30))

    jan, feb, mar, apr = (dt.date(2026, m, 5) for m in (1, 2, 3, 4))
    household, residents = _adults(tree.village, 4, adopted_since=[jan, mar], indicator=adults)
    ResidentFactory(household=household, birth_year=2016, full_name="Em Nhỏ")  # a child: not in the population
    adoption_services.set_adoption(
        actor=None, capability=households.capability, since=feb, source=AdoptionSource.SURVEY, household=household
    )
    HouseholdFactory(village=tree.village, code="HH-EMPTY")  # a household without fibre
    _adults(tree.village2, 5, adopted_since=[jan, feb, apr], indicator=adults)
    _adults(tree.other_village, 2, adopted_since=[jan, jan], indicator=adults)
    _adults(tree.far_village, 3, adopted_since=[jan], indicator=adults)

    team = TeamFactory(village=tree.village, name="Tổ A")
    team2 = TeamFactory(village=tree.village2, name="Tổ B")
    other_team = TeamFactory(village=tree.other_village, name="Tổ C")
    leader = MembershipFactory(
        team=team, role=MembershipRole.LEADER, user__last_name="Rơ Mah", user__first_name="Hlim"
    ).user
    member = MembershipFactory(team=team, user__last_name="Ksor", user__first_name="Nga").user
    idle = MembershipFactory(team=team, user__last_name="Siu", user__first_name="Thư").user
    member2 = MembershipFactory(team=team2, user__last_name="Nay", user__first_name="Bình").user
    other_member = MembershipFactory(team=other_team, user__last_name="Đinh", user__first_name="Minh").user

    # The team helps the village's residents who had nothing: logs set their adoptions.
    log_assistance(
        actor=member,
        team=team,
        occurred_at=at("2026-05-20"),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(adults.capability, AssistanceOutcome.DONE)],
        resident=residents[2],
    )
    log_assistance(
        actor=member,
        team=team,
        occurred_at=at("2026-06-02"),
        channel=AssistanceChannel.PHONE,
        items=[ItemInput(adults.capability, AssistanceOutcome.NOT_DONE, "absent")],
        resident=residents[3],
    )
    log_assistance(
        actor=leader,
        team=team,
        occurred_at=at("2026-06-10"),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(adults.capability, AssistanceOutcome.NOT_DONE, "no_device")],
        resident=residents[3],
    )
    log_assistance(
        actor=member2,
        team=team2,
        occurred_at=at("2026-05-04"),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(households.capability, AssistanceOutcome.NOT_DONE, "declined")],
        household=HouseholdFactory(village=tree.village2),
    )
    TrainingSession.objects.create(
        province=tree.province,
        team=team,
        village=tree.village,
        topic="Bình dân học vụ số",
        started_at=at("2026-06-12", 14),
        trainer=leader,
        capability=adults.capability,
    )

    for month in CLOSED_MONTHS:
        recompute.close_month(province_id=tree.province.pk, month=month)
        recompute.close_month(province_id=tree.other_province.pk, month=month)
    report_indicator_value(
        actor=UserFactory(superuser=True),
        indicator=reported,
        area=tree.province,
        period=Period(PeriodKind.MONTH, dt.date(2026, 5, 1)),
        value=Decimal("12.5"),
    )

    def officer(area: Area, role: str) -> User:
        return AreaRoleFactory(area=area, role=role).user

    return Scenario(
        tree=tree,
        adults=adults,
        households=households,
        reported=reported,
        team=team,
        team2=team2,
        other_team=other_team,
        leader=leader,
        member=member,
        idle=idle,
        member2=member2,
        other_member=other_member,
        commune_officer=officer(tree.commune, AreaRoleKind.COMMUNE_OFFICER),
        other_commune_officer=officer(tree.other_commune, AreaRoleKind.COMMUNE_OFFICER),
        province_officer=officer(tree.province, AreaRoleKind.PROVINCE_OFFICER),
        far_officer=officer(tree.far_commune, AreaRoleKind.COMMUNE_OFFICER),
    )


@pytest.fixture
def scenario(area_tree: AreaTree) -> Scenario:
    return build_scenario(area_tree)


@pytest.fixture
def june() -> Period:
    return Period.parse("2026-06")


def login(client, user: User):
    client.force_login(user)
    return client
