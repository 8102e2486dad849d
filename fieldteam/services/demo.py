"""A believable demo: one real commune of Gia Lai, its villages, teams, people, adoptions and logs.

Everything is made through the real services, so the demo's counts and snapshots are exactly
what production would hold after the same work. Deterministic (a fixed random seed) and
idempotent: a second run finds the demo commune populated and does nothing.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import (
    Affiliation,
    AreaKind,
    AreaRoleKind,
    AssistanceChannel,
    AssistanceOutcome,
    CapabilitySubject,
    MembershipRole,
    NotDoneReason,
    Sex,
)
from fieldteam.models import Area, AreaRole, Capability, Household, Membership, Team, User
from fieldteam.periods import month_index, month_start, today
from fieldteam.rollup import recompute
from fieldteam.services import adoption, areas, people, population, reference
from fieldteam.services.assistance import ItemInput, log_assistance

DEMO_PROVINCE_CODE = "52"  # Gia Lai (merged with Bình Định in 2025)
DEMO_COMMUNE_CODE = "23764"  # Xã Ia Grai
DEMO_VILLAGES = [
    ("01", "Làng Dơr 1", AreaKind.LANG),
    ("02", "Làng Dơr 2", AreaKind.LANG),
    ("03", "Thôn Hợp Thành", AreaKind.THON),
    ("04", "Thôn Tân Lập", AreaKind.THON),
    ("05", "Làng Ia Bă", AreaKind.LANG),
]
HOUSEHOLDS_PER_VILLAGE = 45
HISTORY_MONTHS = 12

# Vietnam's population by 5-year age band (share of residents), 2024, rounded.
AGE_BANDS = [7.5, 8, 8, 7, 6.5, 7.5, 8, 8, 7.5, 7, 6, 5.5, 4.5, 3.5, 2.5, 1.5, 1.5]
# Share of adults holding each capability, near the plans' baselines.
ADOPTION_RATES = {
    "smartphone": 0.72,
    "payment_account": 0.62,
    "digital_signature": 0.14,
    "vneid_level2": 0.55,
    "online_public_services": 0.4,
    "telehealth": 0.1,
    "basic_digital_skills": 0.35,
    "ecommerce": 0.15,
    "internet_use": 0.6,
    "fibre_broadband": 0.6,
    "household_smartphone": 0.85,
    "household_internet": 0.7,
}
FAMILY_NAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Rơ Mah", "Kpă", "Siu", "Rơ Châm", "Ksor", "Hoàng", "Đinh", "Nay"]
GIVEN_NAMES = [
    "An",
    "Bình",
    "Chi",
    "Dũng",
    "H'Linh",
    "Hoa",
    "Hùng",
    "Lan",
    "Minh",
    "Nga",
    "Phúc",
    "Thư",
    "Tuấn",
    "Y Blih",
]


@dataclass
class DemoResult:
    created: bool
    logins: list[tuple[str | Promise, str, str]] = field(default_factory=list)  # (role, username, password)
    households: int = 0
    residents: int = 0
    logs: int = 0


def _user(username: str, password: str, *, first: str, last: str, staff: bool = False, superuser: bool = False) -> User:
    user, _created = User.objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "is_staff": staff or superuser, "is_superuser": superuser},
    )
    user.set_password(password)
    user.save(update_fields=["password"])
    return user


def _age(rng: random.Random) -> int:
    band = rng.choices(range(len(AGE_BANDS)), weights=AGE_BANDS)[0]
    return min(band * 5 + rng.randrange(5), 99)


def seed_demo(
    *, password: str = "fieldteam-demo", rng_seed: int = 2026, households_per_village: int = HOUSEHOLDS_PER_VILLAGE
) -> DemoResult:
    """Build the demo (reference data first if missing). Idempotent: does nothing if it exists."""
    if not Capability.objects.exists():
        reference.load_reference()
    if not Area.objects.filter(code=DEMO_COMMUNE_CODE).exists():
        areas.load_admin_units(province_codes=[DEMO_PROVINCE_CODE])
    commune = Area.objects.get(code=DEMO_COMMUNE_CODE)
    province = Area.objects.get(code=DEMO_PROVINCE_CODE)
    # Each login with its role as the interface names it (printed by ``manage.py seed_demo``).
    logins: list[tuple[str | Promise, str]] = [
        (_("Administrator"), "admin"),
        (AreaRoleKind.PROVINCE_OFFICER.label, "canbo.tinh"),
        (AreaRoleKind.COMMUNE_OFFICER.label, "canbo.xa"),
        (AreaRoleKind.VIEWER.label, "xem.tinh"),
        (MembershipRole.LEADER.label, "totruong.01"),
        (MembershipRole.MEMBER.label, "thanhvien.01.1"),
    ]
    result = DemoResult(created=False, logins=[(role, name, password) for role, name in logins])
    if Household.objects.filter(village__path__startswith=commune.path).exists():
        return result
    rng = random.Random(rng_seed)
    with transaction.atomic():
        _user("admin", password, first="Quản trị", last="", superuser=True)
        for username, area_role, area, names in [
            ("canbo.tinh", AreaRoleKind.PROVINCE_OFFICER, province, ("Hà", "Trần Thu")),
            ("canbo.xa", AreaRoleKind.COMMUNE_OFFICER, commune, ("Bình", "Rơ Mah")),
            ("xem.tinh", AreaRoleKind.VIEWER, province, ("Minh", "Lê Văn")),
        ]:
            user = _user(username, password, first=names[0], last=names[1], staff=True)
            AreaRole.objects.get_or_create(user=user, area=area, role=area_role)
    capabilities = {c.code: c for c in Capability.objects.filter(is_active=True)}
    now = today()
    teams: list[tuple[Team, list[User], Area]] = []
    for number, name, kind in DEMO_VILLAGES:
        village = Area.objects.filter(code=f"{commune.code}-{number}").first() or areas.create_village(
            actor=None, commune=commune, code=f"{commune.code}-{number}", name=name, kind=kind
        )
        with transaction.atomic():
            team = Team.objects.create(
                name=f"Tổ công nghệ số cộng đồng {name}", province=province, founded_on=dt.date(2023, 3, 1)
            )
            team.areas.add(village)
            members = []
            affiliations = [
                Affiliation.VILLAGE_HEAD,
                Affiliation.YOUTH_UNION,
                Affiliation.WOMENS_UNION,
                Affiliation.POLICE,
                Affiliation.TEACHER,
                Affiliation.VOLUNTEER,
            ]
            for position, affiliation in enumerate(affiliations[: rng.randint(5, 6)]):
                username = f"totruong.{number}" if position == 0 else f"thanhvien.{number}.{position}"
                user = _user(username, password, first=rng.choice(GIVEN_NAMES), last=rng.choice(FAMILY_NAMES))
                role = (
                    MembershipRole.LEADER
                    if position == 0
                    else (MembershipRole.DEPUTY if position == 1 else MembershipRole.MEMBER)
                )
                Membership.objects.create(
                    team=team, user=user, role=role, affiliation=affiliation, started_on=dt.date(2023, 3, 1)
                )
                members.append(user)
        teams.append((team, members, village))
    for team, members, village in teams:
        registered = _populate_village(rng, team, members, village, capabilities, now, result, households_per_village)
        _official_population(rng, village, registered, households_per_village, now.year)
    for index in range(month_index(now) - HISTORY_MONTHS, month_index(now)):
        recompute.close_month(province_id=province.pk, month=month_start(index))
    recompute.recompute_province(province_id=province.pk)
    result.created = True
    return result


def _populate_village(
    rng: random.Random,
    team: Team,
    members: list[User],
    village: Area,
    capabilities: dict[str, Capability],
    now: dt.date,
    result: DemoResult,
    households: int,
) -> list[tuple[int, str]]:
    """Register the village's households and residents with their adoptions and logs; their (age, sex)."""
    registered: list[tuple[int, str]] = []
    resident_caps = [c for c in capabilities.values() if c.subject == CapabilitySubject.RESIDENT]
    household_caps = [c for c in capabilities.values() if c.subject == CapabilitySubject.HOUSEHOLD]
    for h in range(households):
        family = rng.choice(FAMILY_NAMES)
        household = people.register_household(
            actor=None,
            village=village,
            code=f"{village.code}-{h + 1:03d}",
            head_name=f"{family} {rng.choice(GIVEN_NAMES)}",
        )
        result.households += 1
        for capability in household_caps:
            if rng.random() < ADOPTION_RATES.get(capability.code, 0.3):
                adoption.set_adoption(
                    actor=None,
                    capability=capability,
                    household=household,
                    source="survey",
                    since=now - dt.timedelta(days=rng.randrange(30, 700)),
                )
        for _person in range(rng.choice([1, 2, 3, 3, 4, 4, 4, 5, 5, 6])):
            age = _age(rng)
            sex = rng.choice(Sex.values)
            born = now - dt.timedelta(days=age * 365 + rng.randrange(365))
            resident = people.register_resident(
                actor=None,
                household=household,
                full_name=f"{family} {rng.choice(GIVEN_NAMES)}",
                sex=sex,
                **({"birth_date": born} if rng.random() < 0.85 else {"birth_year": born.year}),
            )
            result.residents += 1
            registered.append((age, sex))
            if age < 15:
                continue
            for capability in resident_caps:
                if rng.random() >= ADOPTION_RATES.get(capability.code, 0.3):
                    continue
                since = now - dt.timedelta(days=rng.randrange(0, 540))
                if rng.random() < 0.3:  # helped by the team: a log, which sets the adoption
                    occurred = min(
                        timezone.make_aware(dt.datetime.combine(since, dt.time(9 + rng.randrange(8)))),
                        timezone.now(),  # help logged today has not happened later than now
                    )
                    log_assistance(
                        actor=rng.choice(members),
                        team=team,
                        occurred_at=occurred,
                        resident=resident,
                        channel=rng.choice(
                            [
                                AssistanceChannel.HOME_VISIT,
                                AssistanceChannel.HOME_VISIT,
                                AssistanceChannel.PHONE,
                                AssistanceChannel.AT_OFFICE,
                            ]
                        ),
                        items=[ItemInput(capability, AssistanceOutcome.DONE)],
                    )
                    result.logs += 1
                else:
                    adoption.set_adoption(
                        actor=None, capability=capability, resident=resident, source="survey", since=since
                    )
            if rng.random() < 0.08:  # some help that did not succeed
                missing = [c for c in resident_caps if not resident.adoptions.filter(capability=c).exists()]
                if missing:
                    log_assistance(
                        actor=rng.choice(members),
                        team=team,
                        resident=resident,
                        channel=AssistanceChannel.HOME_VISIT,
                        occurred_at=timezone.now() - dt.timedelta(days=rng.randrange(1, 60)),
                        items=[
                            ItemInput(
                                rng.choice(missing),
                                AssistanceOutcome.NOT_DONE,
                                rng.choice([NotDoneReason.NO_DEVICE, NotDoneReason.ABSENT, NotDoneReason.DECLINED]),
                            )
                        ],
                    )
                    result.logs += 1
    return registered


def _official_population(
    rng: random.Random, village: Area, registered: list[tuple[int, str]], households: int, year: int
) -> None:
    """The village's official figures for ``year``: the register covers only part of the population
    (55–85 %), so the dashboards show the official rate, the register's and its coverage apart.

    The commune gets none of its own: its figure is the sum of its villages' ("tổng của các thôn").
    """
    coverage = rng.uniform(0.55, 0.85)

    def official(count: int) -> int:
        return round(count / coverage)

    # Working age: from 15 to about the retirement age (61 for men, 57 for women in the coming years).
    working = {
        sex: sum(1 for age, s in registered if s == sex and 15 <= age < (61 if sex == Sex.MALE else 57))
        for sex in Sex.values
    }
    total = official(len(registered))
    over_14 = min(official(sum(1 for age, _sex in registered if age >= 14)), total)
    over_15 = min(official(sum(1 for age, _sex in registered if age >= 15)), over_14)
    male, female = official(working.get(Sex.MALE, 0)), official(working.get(Sex.FEMALE, 0))
    if male + female > over_15:
        male, female = over_15 // 2, over_15 - over_15 // 2
    population.set_official_population(
        actor=None,
        area=village,
        year=year,
        total=total,
        age_14_plus=over_14,
        age_15_plus=over_15,
        age_18_plus=min(official(sum(1 for age, _sex in registered if age >= 18)), over_15),
        working_age_male=male,
        working_age_female=female,
        households=min(official(households), total),
        source="Công an xã (số liệu minh hoạ)",
    )
