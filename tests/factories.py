"""factory_boy factories for the whole suite.

Areas are made through treebeard (``Area.objects.add_root`` / ``add_child``), so paths, depth and
``numchild`` are right: a ``VillageFactory()`` brings its commune and province along. Households
and residents are made by the real services (``fieldteam.services.people``), so a factory-made
resident has its identifiers encrypted, hashed and masked, and the roll-up counts in step, exactly
as in production. Those services are imported when first used, so this module imports even where
they do not exist yet.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from fieldteam.choices import (
    AreaKind,
    AreaRoleKind,
    CapabilitySubject,
    DerivationKind,
    IndicatorGroup,
    IndicatorKind,
    MembershipRole,
    PopulationKind,
    Sex,
)
from fieldteam.models import (
    Area,
    AreaRole,
    Capability,
    CapabilityDerivation,
    Household,
    Indicator,
    IndicatorPopulationBound,
    IndicatorValue,
    Membership,
    Resident,
    RetirementAge,
    Target,
    Team,
    User,
)
from fieldteam.models.capabilities import MAX_CAPABILITY_BIT

TEST_PASSWORD = "test-password-123"


# --- identifiers -------------------------------------------------------------------------------


def make_citizen_id(*, birth_year: int, sex: str, province_code: str = "001", serial: int = 123456) -> str:
    """A well-formed 12-digit CCCD (``PPP G YY RRRRRR``) that agrees with ``birth_year`` and ``sex``."""
    century_digit = (birth_year // 100 - 19) * 2 + (1 if sex == Sex.FEMALE else 0)
    return f"{province_code}{century_digit}{birth_year % 100:02d}{serial:06d}"


def make_phone(serial: int = 1234567, *, prefix: str = "09") -> str:
    """A well-formed Vietnamese mobile number in its normal ``0xxxxxxxxx`` form."""
    return f"{prefix}{serial % 10**8:08d}"


def _factory_actor() -> User:
    """The actor for service calls made by factories: one superuser, so no scope check gets in the way."""
    user, created = User.objects.get_or_create(
        username="factory-admin", defaults={"is_superuser": True, "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


# --- users -------------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="vi_VN")
    last_name = factory.Faker("last_name", locale="vi_VN")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.test")
    password = factory.django.Password(TEST_PASSWORD)
    is_active = True

    class Params:
        superuser = factory.Trait(is_superuser=True, is_staff=True)
        staff = factory.Trait(is_staff=True)


# --- areas -------------------------------------------------------------------------------------


class AreaFactory(DjangoModelFactory):
    """An area made through treebeard. Pass ``parent=`` for a child; without one it is a root.

    ``province`` is filled in: the area itself for a province, else the parent's province.
    Codes grow with the sequence, so a new area sorts after its siblings and no existing path moves.
    """

    class Meta:
        model = Area

    code = factory.Sequence(lambda n: f"T{n:06d}")
    name = factory.Sequence(lambda n: f"Area {n}")
    kind = AreaKind.PROVINCE
    parent = None

    @classmethod
    def _create(cls, model_class: type[Area], *args: Any, parent: Area | None = None, **kwargs: Any) -> Area:
        from fieldteam.selectors.population import official_figures_changed

        if parent is None:
            area = model_class.objects.add_root(create_kwargs=kwargs)
            if area.province_id is None and area.is_province:
                area.province = area
                area.save(update_fields=["province"])
            return area
        kwargs.setdefault("province", parent if parent.is_province else parent.province)
        area = model_class.objects.add_child(parent, create_kwargs=kwargs)
        # As the area services do: the province's cached official figures follow its tree.
        official_figures_changed(area.province_id)
        return area

    @classmethod
    def _build(cls, model_class: type[Area], *args: Any, parent: Area | None = None, **kwargs: Any) -> Area:
        if parent is not None:
            kwargs.setdefault("province", parent if parent.is_province else parent.province)
        return model_class(*args, **kwargs)


class ProvinceFactory(AreaFactory):
    kind = AreaKind.PROVINCE
    name = factory.Sequence(lambda n: f"Tỉnh {n}")


class CommuneFactory(AreaFactory):
    kind = AreaKind.COMMUNE
    name = factory.Sequence(lambda n: f"Xã {n}")
    parent = factory.SubFactory(ProvinceFactory)


class VillageFactory(AreaFactory):
    kind = AreaKind.THON
    name = factory.Sequence(lambda n: f"Thôn {n}")
    parent = factory.SubFactory(CommuneFactory)


# --- teams -------------------------------------------------------------------------------------


class TeamFactory(DjangoModelFactory):
    """A team serving ``village`` (made if not given). ``areas=[...]`` replaces the areas served.

    ``TeamFactory(village=v)`` is the usual call; for a team serving several areas pass both
    ``village=`` (the first, for the province and name) and ``areas=``.
    """

    class Meta:
        model = Team
        skip_postgeneration_save = True

    village = factory.SubFactory(VillageFactory)
    name = factory.LazyAttribute(lambda o: f"Tổ công nghệ số cộng đồng {o.village.name}")
    province = factory.LazyAttribute(lambda o: o.village if o.village.is_province else o.village.province)
    founded_on = dt.date(2023, 3, 1)
    decision_ref = ""
    is_active = True

    @classmethod
    def _create(cls, model_class: type[Team], *args: Any, village: Area, **kwargs: Any) -> Team:
        team = super()._create(model_class, *args, **kwargs)
        team._factory_village = village
        return team

    @classmethod
    def _build(cls, model_class: type[Team], *args: Any, village: Area, **kwargs: Any) -> Team:
        return super()._build(model_class, *args, **kwargs)

    @factory.post_generation
    def areas(self, create: bool, extracted: list[Area] | None, **kwargs: Any) -> None:
        if not create:
            return
        if extracted is not None:
            self.areas.set(extracted)
        else:
            self.areas.add(self._factory_village)


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = MembershipRole.MEMBER
    affiliation = ""
    started_on = dt.date(2024, 1, 1)
    ended_on = None

    class Params:
        leader = factory.Trait(role=MembershipRole.LEADER)
        ended = factory.Trait(ended_on=dt.date(2024, 12, 31))


class AreaRoleFactory(DjangoModelFactory):
    class Meta:
        model = AreaRole

    user = factory.SubFactory(UserFactory, staff=True)
    area = factory.SubFactory(CommuneFactory)
    role = AreaRoleKind.COMMUNE_OFFICER


# --- capabilities and indicators ---------------------------------------------------------------


class CapabilityFactory(DjangoModelFactory):
    """A capability; ``bit`` comes from a sequence and skips bits already taken (e.g. by fixtures)."""

    class Meta:
        model = Capability

    code = factory.Sequence(lambda n: f"capability-{n}")
    name = factory.Sequence(lambda n: f"Capability {n}")
    subject = CapabilitySubject.RESIDENT
    bit = factory.Sequence(lambda n: n % (MAX_CAPABILITY_BIT + 1))
    province = None
    sort_order = 100
    is_active = True

    class Params:
        for_household = factory.Trait(subject=CapabilitySubject.HOUSEHOLD)

    @classmethod
    def _create(cls, model_class: type[Capability], *args: Any, **kwargs: Any) -> Capability:
        bit = kwargs.get("bit")
        if bit is not None and 0 <= bit <= MAX_CAPABILITY_BIT:
            taken = set(model_class.objects.values_list("bit", flat=True))
            if bit in taken:
                free = [b for b in range(MAX_CAPABILITY_BIT + 1) if b not in taken]
                if not free:
                    raise RuntimeError("every capability bit is taken")
                kwargs["bit"] = free[0]
        return super()._create(model_class, *args, **kwargs)


class IndicatorFactory(DjangoModelFactory):
    """A computed indicator (adults 18+ holding a new capability); ``reported=True`` for a hand-reported one."""

    class Meta:
        model = Indicator

    code = factory.Sequence(lambda n: f"indicator-{n}")
    name = factory.Sequence(lambda n: f"Indicator {n}")
    group = IndicatorGroup.DIGITAL_SOCIETY
    kind = IndicatorKind.COMPUTED
    capability = factory.SubFactory(CapabilityFactory)
    population = PopulationKind.RESIDENTS
    min_age = 18
    max_age = None
    unit = "%"

    class Params:
        reported = factory.Trait(
            kind=IndicatorKind.REPORTED,
            group=IndicatorGroup.DIGITAL_ECONOMY,
            capability=None,
            population="",
            min_age=None,
        )
        households = factory.Trait(
            capability=factory.SubFactory(CapabilityFactory, for_household=True),
            population=PopulationKind.HOUSEHOLDS,
            min_age=None,
        )


class TargetFactory(DjangoModelFactory):
    class Meta:
        model = Target

    indicator = factory.SubFactory(IndicatorFactory)
    area = factory.SubFactory(ProvinceFactory)
    year = 2025
    value = Decimal("80.00")
    source = "test plan"


class IndicatorValueFactory(DjangoModelFactory):
    """A closed month's snapshot of an area's indicator (as the month close or a report stores it)."""

    class Meta:
        model = IndicatorValue

    area = factory.SubFactory(CommuneFactory)
    province = factory.LazyAttribute(lambda o: o.area.province or o.area)
    indicator = factory.SubFactory(IndicatorFactory)
    period_kind = "month"
    period_start = dt.date(2026, 1, 1)
    numerator = 1
    denominator = 2
    value = Decimal("50.000")


class NationalTargetFactory(DjangoModelFactory):
    """A national target of Decision 411/QĐ-TTg (``fieldteam.selectors.national``)."""

    class Meta:
        model = "fieldteam.NationalTarget"

    indicator = factory.SubFactory(IndicatorFactory)
    year = 2030
    value = Decimal(95)
    document = "411/QĐ-TTg"
    source = "Quyết định 411/QĐ-TTg"
    adopted_on = dt.date(2022, 3, 31)


class RetirementAgeFactory(DjangoModelFactory):
    """One birth cohort's retirement age; by default one cohort for everyone (the 2025 ages)."""

    class Meta:
        model = RetirementAge
        django_get_or_create = ("sex", "born_from")

    sex = Sex.MALE
    born_from = dt.date(1900, 1, 1)
    age_months = factory.LazyAttribute(lambda o: 61 * 12 + 3 if o.sex == Sex.MALE else 56 * 12 + 8)


class CapabilityDerivationFactory(DjangoModelFactory):
    """A derivation rule: by default a resident capability implying another (``any_member=True``: household from member)."""

    class Meta:
        model = CapabilityDerivation

    kind = DerivationKind.IMPLIES
    source = factory.SubFactory(CapabilityFactory)
    target = factory.SubFactory(CapabilityFactory)

    class Params:
        any_member = factory.Trait(
            kind=DerivationKind.ANY_MEMBER, target=factory.SubFactory(CapabilityFactory, for_household=True)
        )


class PopulationBoundFactory(DjangoModelFactory):
    """A province's own age bounds for a resident indicator (adults from 16, as a province may define them)."""

    class Meta:
        model = IndicatorPopulationBound

    province = factory.SubFactory(ProvinceFactory)
    indicator = factory.SubFactory(IndicatorFactory)
    min_age = 16
    max_age = None
    source = "test plan"


# --- people (through the services) -------------------------------------------------------------


class HouseholdFactory(DjangoModelFactory):
    """A household registered by ``fieldteam.services.people.register_household``."""

    class Meta:
        model = Household

    actor = factory.LazyFunction(_factory_actor)
    village = factory.SubFactory(VillageFactory)
    code = factory.Sequence(lambda n: f"HH{n:06d}")
    head_name = factory.Faker("name", locale="vi_VN")
    address = ""

    @classmethod
    def _create(cls, model_class: type[Household], *args: Any, **kwargs: Any) -> Household:
        from fieldteam.services.people import register_household

        return register_household(**kwargs)

    @classmethod
    def _build(cls, model_class: type[Household], *args: Any, actor: User | None = None, **kwargs: Any) -> Household:
        village = kwargs["village"]
        kwargs.setdefault("province", village if village.is_province else village.province)
        return model_class(*args, **kwargs)


class ResidentFactory(DjangoModelFactory):
    """A resident registered by ``fieldteam.services.people.register_resident``.

    Without ``citizen_id``/``phone`` none is stored; ``with_ids=True`` gives consistent ones.
    """

    class Meta:
        model = Resident

    actor = factory.LazyFunction(_factory_actor)
    household = factory.SubFactory(HouseholdFactory)
    full_name = factory.Faker("name", locale="vi_VN")
    sex = Sex.FEMALE
    birth_date = None
    birth_year = factory.LazyAttribute(lambda o: o.birth_date.year if o.birth_date else 1985)
    citizen_id = ""
    phone = ""
    ethnicity = ""

    class Params:
        with_ids = factory.Trait(
            citizen_id=factory.LazyAttributeSequence(
                lambda o, n: make_citizen_id(birth_year=o.birth_year, sex=o.sex, serial=n)
            ),
            phone=factory.Sequence(make_phone),
        )

    @classmethod
    def _create(cls, model_class: type[Resident], *args: Any, **kwargs: Any) -> Resident:
        from fieldteam.services.consent import ConsentInput
        from fieldteam.services.people import register_resident

        # Identifiers are stored only with consent: a resident made with them gave it in person.
        if (kwargs.get("citizen_id") or kwargs.get("phone")) and "consent" not in kwargs:
            kwargs["consent"] = ConsentInput(channel="in_person")
        return register_resident(**kwargs)

    @classmethod
    def _build(cls, model_class: type[Resident], *args: Any, **kwargs: Any) -> Resident:
        for service_only in ("actor", "citizen_id", "phone"):
            kwargs.pop(service_only, None)
        household = kwargs["household"]
        kwargs.setdefault("village", household.village)
        kwargs.setdefault("province_id", household.province_id)
        resident = model_class(*args, **kwargs)
        resident.derive_birth_month_index()
        return resident


# --- official population (issue 15) -----------------------------------------------------------


class OfficialPopulationFactory(DjangoModelFactory):
    """An area's official population for a year, entered through the service (by the system)."""

    class Meta:
        model = "fieldteam.OfficialPopulation"

    area = factory.SubFactory(CommuneFactory)
    year = 2026
    total = 1000

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        from fieldteam.services.population import set_official_population

        return set_official_population(actor=None, **kwargs).figure


# --- reports by email (issue 17) --------------------------------------------------------------


class ReportSubscriptionFactory(DjangoModelFactory):
    """A user's monthly report of an area by email (XLSX); give ``user`` a role on ``area`` to receive it."""

    class Meta:
        model = "fieldteam.ReportSubscription"

    user = factory.SubFactory(UserFactory, staff=True)
    area = factory.SubFactory(CommuneFactory)
    period_kind = "month"
    format = "xlsx"


class ReportDeliveryFactory(DjangoModelFactory):
    """What became of one subscription's report of a month (written by ``deliver_approved_reports`` in the app)."""

    class Meta:
        model = "fieldteam.ReportDelivery"

    subscription = factory.SubFactory(ReportSubscriptionFactory)
    period_start = dt.date(2025, 1, 1)
    status = "sent"
    attempts = 1
    attempted_at = factory.LazyFunction(timezone.now)
    sent_at = factory.LazyAttribute(lambda o: o.attempted_at)
