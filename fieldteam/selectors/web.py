"""Reads for the mobile web. Every function takes the acting user and applies ``scope_for``.

Pages answer 404 for anything outside the user's scope (its existence is not revealed), exactly
like the API. A team member's scope is their teams' villages; the roster (the offline copy of the
villages' people) is narrower still: only the villages the member's own teams serve, never a
staff user's whole commune or province.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from fieldteam import identifiers
from fieldteam.choices import (
    VILLAGE_KINDS,
    AssistanceOutcome,
    CapabilitySubject,
    IndicatorKind,
    MembershipRole,
    PeriodKind,
    ResidentStatus,
    Sex,
)
from fieldteam.models import (
    Adoption,
    Area,
    AssistanceItem,
    AssistanceLog,
    Capability,
    Household,
    Membership,
    Resident,
    Team,
    TrainingAttendance,
    TrainingSession,
    User,
)
from fieldteam.periods import Period, month_index, today
from fieldteam.permissions import scope_for
from fieldteam.rollup.derivations import implied_by
from fieldteam.rollup.rules import load_rules
from fieldteam.selectors.activity import HELP_GIVEN
from fieldteam.selectors.follow_ups import FollowUpCounts, follow_up_counts_by_member, follow_ups
from fieldteam.selectors.indicators import IndicatorReading, TargetInfo, area_indicator_values
from fieldteam.selectors.people import (
    households_visible,
    name_matches,
    name_rank,
    residents_by_identifier,
    residents_visible,
)
from fieldteam.selectors.status import Status, reached_months, reading_status, target_status

MAX_MASK_BIT = 63


def bits_of(mask: int) -> list[int]:
    """The set bits of a capability mask, for JavaScript (whose numbers cannot hold 63 bits)."""
    return [bit for bit in range(MAX_MASK_BIT) if mask >> bit & 1]


# --- the member's villages -----------------------------------------------------------------------


@dataclass(frozen=True)
class MemberVillage:
    village: Area
    team: Team
    commune: Area | None
    role: str


def member_villages(*, user: User) -> list[MemberVillage]:
    """The villages served by the user's open memberships of active teams (a commune-level team:
    the villages under it, or the commune itself where it has none), in scope, by name."""
    scope = scope_for(user)
    if not scope.team_ids:
        return []
    roles = dict(
        Membership.objects.filter(user=user, ended_on__isnull=True, team_id__in=scope.team_ids).values_list(
            "team_id", "role"
        )
    )
    found: dict[int, MemberVillage] = {}
    for team in Team.objects.filter(pk__in=scope.team_ids).prefetch_related("areas").order_by("pk"):
        for area in team.areas.all():
            if area.is_village:
                villages = [area]
            else:
                villages = list(Area.objects.filter(path__startswith=area.path, kind__in=VILLAGE_KINDS)) or [area]
            for village in villages:
                if village.pk not in found and scope.contains(village):
                    found[village.pk] = MemberVillage(village, team, None, roles.get(team.pk, MembershipRole.MEMBER))
    if not found:
        return []
    parents = {
        a.path: a for a in Area.objects.filter(path__in={v.village.path[: -Area.steplen] for v in found.values()})
    }
    return sorted(
        (
            MemberVillage(v.village, v.team, parents.get(v.village.path[: -Area.steplen]), v.role)
            for v in found.values()
        ),
        key=lambda v: v.village.name,
    )


def team_for_village(*, user: User, village: Area) -> Team | None:
    """The user's team that serves ``village`` (directly or through an ancestor), if any."""
    scope = scope_for(user)
    if not scope.team_ids:
        return None
    return Team.objects.filter(pk__in=scope.team_ids, areas__path__in=Area.ancestor_paths(village.path)).order_by("pk").first()


def visible_village(*, user: User, village_id: int) -> MemberVillage:
    """One of the member's villages, else 404."""
    for item in member_villages(user=user):
        if item.village.pk == village_id:
            return item
    raise Http404(_("No such village."))


# --- home: activity and progress -----------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    logs: int = 0
    people: int = 0
    done: int = 0
    trainings: int = 0


FIRST_BIRTH_YEAR = 1890  # the earliest a resident may be born (the model's constraint)


def training_populations(*, capabilities: list[Capability], province_id: int | None) -> dict[str, dict[str, object]]:
    """Whom a session may count, for the training page: per capability code and sex, ``[first, last]`` birth year.

    From the counting rules of this month (``rollup.rules``), a year admitted if any of its months
    is (the phone knows birth years only; the service checks the exact month). A capability no
    indicator counts is absent (everyone); ``None`` for a sex: no one of it.
    """
    rules = load_rules(month_index(today()), province_id)
    found: dict[str, dict[str, object]] = {}
    for capability in capabilities:
        counting = [rule for rule in rules.residents if rule.bit_mask & (1 << capability.bit)]
        if not counting:
            continue
        by_sex: dict[str, object] = {}
        for sex in Sex.values:
            years = [
                year
                for year in range(FIRST_BIRTH_YEAR, today().year + 1)
                if any(rule.in_population(year * 12 + month, sex) for rule in counting for month in range(12))
            ]
            by_sex[sex] = [years[0], years[-1]] if years else None
        found[capability.code] = by_sex
    return found


def _activity(logs: QuerySet[AssistanceLog], trainings: QuerySet[TrainingSession]) -> Activity:
    totals = logs.aggregate(
        logs=HELP_GIVEN,
        residents=Count("resident", distinct=True),
        households=Count("household", distinct=True),
    )
    done = AssistanceItem.objects.filter(log__in=logs.values("pk"), outcome=AssistanceOutcome.DONE).count()
    return Activity(
        logs=totals["logs"],
        people=totals["residents"] + totals["households"],
        done=done,
        trainings=trainings.count(),
    )


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


@dataclass
class MyWork:
    today: Activity
    month: Activity


def my_work(*, user: User) -> MyWork:
    """The user's own logs and training sessions today and this month (in scope)."""
    scope = scope_for(user)
    now = today()
    logs = scope.filter(AssistanceLog.objects.filter(member=user))
    trainings = scope.filter(TrainingSession.objects.filter(trainer=user))
    day, month = _day_start(now), _day_start(now.replace(day=1))
    return MyWork(
        today=_activity(logs.filter(occurred_at__gte=day), trainings.filter(started_at__gte=day)),
        month=_activity(logs.filter(occurred_at__gte=month), trainings.filter(started_at__gte=month)),
    )


@dataclass
class MemberActivity:
    user: User
    logs: int
    # Issue 17: the member's follow-ups due within the week, done on time this month, overdue.
    follow_ups: FollowUpCounts = field(default_factory=FollowUpCounts)


@dataclass(frozen=True)
class ProgressLine:
    """One line of the progress list: a reading, its status and each of its targets' (``selectors.status``)."""

    reading: IndicatorReading
    status: Status
    targets: list[tuple[TargetInfo, Status]]


@dataclass
class VillageProgress:
    place: MemberVillage
    residents: int
    households: int
    month_logs: int
    readings: list[IndicatorReading]
    team_activity: list[MemberActivity] = field(default_factory=list)
    lines: list[ProgressLine] = field(default_factory=list)


def village_progress(*, user: User, place: MemberVillage) -> VillageProgress:
    """Head counts, this month's team work and the live indicator values of one of the member's villages."""
    village = place.village
    month_start = _day_start(today().replace(day=1))
    readings = [
        r
        for r in area_indicator_values(user=user, area=village, period=Period.containing(PeriodKind.MONTH, today()))
        if r.indicator.kind == IndicatorKind.COMPUTED
    ]
    # A session counts in the village it was held in (as on the dashboards), wherever its attendees live.
    here = Q(village=village, training_session__isnull=True) | Q(training_session__village=village)
    month_logs = AssistanceLog.objects.filter(here, occurred_at__gte=month_start)
    progress = VillageProgress(
        place=place,
        residents=Resident.objects.filter(village=village, status=ResidentStatus.ACTIVE).count(),
        households=Household.objects.filter(village=village, is_active=True).count(),
        month_logs=month_logs.aggregate(n=HELP_GIVEN)["n"],
        readings=readings,
    )
    # The words and colours of the dashboards: one rule, so a target whose year is over reads "missed".
    reached = reached_months(user=user, area=village, readings=readings)
    progress.lines = [
        ProgressLine(
            r,
            reading_status(r, reached),
            [(info, target_status(r, info, reached)) for _year, info in sorted(r.targets.items())],
        )
        for r in readings
    ]
    if place.team.pk in scope_for(user).led_team_ids:
        # A leader also sees the team's activity: this month's logs by each member.
        counts = dict(
            month_logs.filter(team=place.team).values_list("member").annotate(n=HELP_GIVEN).values_list("member", "n")
        )
        members = User.objects.filter(memberships__team=place.team, memberships__ended_on__isnull=True).order_by(
            "first_name", "username"
        )
        follow_up_counts = follow_up_counts_by_member(user=user, villages=[village])
        progress.team_activity = sorted(
            (MemberActivity(m, counts.get(m.pk, 0), follow_up_counts.get(m.pk, FollowUpCounts())) for m in members),
            key=lambda a: -a.logs,
        )
    return progress


# --- people --------------------------------------------------------------------------------------


def looks_like_identifier(text: str) -> bool:
    """A phone number or a citizen ID (digits, maybe with spaces, dots, dashes or +84)."""
    compact = identifiers.normalize_phone(text.strip())
    return len(compact) >= 9 and compact.isascii() and compact.isdigit()


@sensitive_variables("query", "value", "words")
def search_residents(*, user: User, query: str, limit: int = 30, village_id: int | None = None) -> list[Resident]:
    """Residents in scope by the words of their name or exactly by household code, phone or citizen ID.

    Each word typed begins a word of the name, accents optional ("nguyen an" finds "Nguyễn Văn An"
    and "Nguyễn Anh", never "Nguyễn Bình" of "Làng An"); the name as typed comes first, then the
    same name without accents, then names starting so. ``village_id`` narrows to one village (a
    filter, never matched against the words). Digits that make a phone number or a CCCD are matched
    through the keyed hash only (the identifier is never compared in clear, never stored, never put
    in a URL: the form posts).
    """
    query = " ".join(query.split())
    if not query:
        return []
    if looks_like_identifier(query):
        found: list[Resident] = []
        for kind, validate in (("phone", identifiers.validate_phone), ("citizen_id", identifiers.validate_citizen_id)):
            try:
                value = validate(query)
            except ValidationError:
                continue
            found += residents_by_identifier(user=user, **{kind: value}).select_related("household")[:limit]
        return found
    residents = residents_visible(user=user).filter(status=ResidentStatus.ACTIVE).select_related("household")
    if village_id is not None:
        residents = residents.filter(village_id=village_id)  # in scope or nothing: the scope filters first
    # The stored ``search_name`` is folded like the query (any case, accents or Unicode form), so
    # both databases compare it alike, in SQL. The household code is matched first, on its own:
    # an OR of the name with a joined household's code is one no index answers (PostgreSQL joined
    # every resident in scope to its household, 3 s at 1,000,000 residents), an OR of two columns
    # of the resident's own is answered by indexes (the name's trigram index, migration 0028). A
    # resident lives in its household's village, so the same scope and village filter the codes.
    households = households_visible(user=user).filter(code__iexact=query)
    if village_id is not None:
        households = households.filter(village_id=village_id)
    coded = list(households.order_by().values_list("pk", flat=True))
    condition = name_matches(query) | Q(household_id__in=coded)
    return list(residents.filter(condition).order_by(name_rank(query), "full_name", "pk")[:limit])


@dataclass
class HeldCapability:
    capability: Capability
    since: dt.date | None
    source: str = ""
    # Held with no adoption, by a derivation rule (``derivations.implied_by``): what it is held
    # through, a member's capability when ``through_member``. Shown apart: no one logged it.
    derived_from: list[Capability] = field(default_factory=list)
    through_member: bool = False


@dataclass
class LogEntry:
    log: AssistanceLog
    items: list[AssistanceItem]


@dataclass
class ResidentPage:
    resident: Resident
    held: list[HeldCapability]
    capabilities: list[HeldCapability]  # every active capability a resident can hold, missing first
    logs: list[LogEntry]
    trainings: list[TrainingAttendance]
    team: Team | None


def capabilities_for(subject: str, province_id: int | None) -> list[Capability]:
    return list(
        Capability.objects.filter(is_active=True, subject=subject)
        .filter(Q(province__isnull=True) | Q(province_id=province_id))
        .order_by("sort_order", "code")
    )


def _log_entries(logs: QuerySet[AssistanceLog]) -> list[LogEntry]:
    logs = logs.select_related("member", "team").prefetch_related(
        Prefetch("items", queryset=AssistanceItem.objects.select_related("capability").order_by("pk"))
    )
    return [LogEntry(log, list(log.items.all())) for log in logs]


def derived_holdings(subject: Resident | Household) -> dict[int, HeldCapability]:
    """Capability id -> how ``subject`` holds it without an adoption (a derivation rule), for the pages that list holdings."""
    if isinstance(subject, Household):
        derived = implied_by(subject.capability_mask, CapabilitySubject.HOUSEHOLD, subject.derived_mask)
    else:
        derived = implied_by(subject.capability_mask, CapabilitySubject.RESIDENT)
    return {
        capability.pk: HeldCapability(
            capability,
            None,
            derived_from=through,
            through_member=any(source.subject != capability.subject for source in through),
        )
        for capability, through in derived
    }


def _held(
    adoptions: QuerySet[Adoption], capabilities: list[Capability], derived: dict[int, HeldCapability]
) -> tuple[list[HeldCapability], list]:
    """The adopted capabilities (with since when), and every row of the page: missing, then derived, then adopted."""
    by_capability = {a.capability_id: a for a in adoptions.filter(ended_on__isnull=True)}
    held = [
        HeldCapability(c, by_capability[c.pk].since, by_capability[c.pk].get_source_display())
        for c in capabilities
        if c.pk in by_capability
    ]
    missing = [c for c in capabilities if c.pk not in by_capability]
    rows = [HeldCapability(c, None) for c in missing if c.pk not in derived]
    rows += [derived[c.pk] for c in missing if c.pk in derived]
    return held, rows + held


def resident_page(*, user: User, resident_id: int, history: int = 30) -> ResidentPage:
    """A resident in scope (else 404): capabilities held and since when, the history of help."""
    resident = residents_visible(user=user).select_related("household", "merged_into").filter(pk=resident_id).first()
    if resident is None:
        raise Http404(_("No such resident."))
    capabilities = capabilities_for(CapabilitySubject.RESIDENT, resident.province_id)
    held, rows = _held(resident.adoptions.all(), capabilities, derived_holdings(resident))
    return ResidentPage(
        resident=resident,
        held=held,
        capabilities=rows,
        logs=_log_entries(resident.assistance_logs.order_by("-occurred_at")[:history]),
        trainings=list(
            resident.attendances.select_related("session", "session__capability").order_by("-session__started_at")[
                :history
            ]
        ),
        team=team_for_village(user=user, village=resident.village)
        if resident.status == ResidentStatus.ACTIVE
        else None,
    )


@dataclass
class HouseholdPage:
    household: Household
    members: list[Resident]
    held: list[HeldCapability]
    capabilities: list[HeldCapability]
    logs: list[LogEntry]
    team: Team | None


def household_page(*, user: User, household_id: int, history: int = 30) -> HouseholdPage:
    """A household in scope (else 404): its people, capabilities held and the help it had."""
    household = households_visible(user=user).filter(pk=household_id).first()
    if household is None:
        raise Http404(_("No such household."))
    capabilities = capabilities_for(CapabilitySubject.HOUSEHOLD, household.province_id)
    held, rows = _held(household.adoptions.all(), capabilities, derived_holdings(household))
    return HouseholdPage(
        household=household,
        members=list(household.residents.filter(status=ResidentStatus.ACTIVE).order_by("birth_year", "pk")),
        held=held,
        capabilities=rows,
        logs=_log_entries(household.assistance_logs.order_by("-occurred_at")[:history]),
        team=team_for_village(user=user, village=household.village) if household.is_active else None,
    )


def my_logs(*, user: User) -> QuerySet[AssistanceLog]:
    """The user's own assistance logs in scope, newest first (paginate it)."""
    return (
        scope_for(user)
        .filter(AssistanceLog.objects.filter(member=user))
        .select_related("resident", "household", "village")
        .prefetch_related(
            Prefetch("items", queryset=AssistanceItem.objects.select_related("capability").order_by("pk"))
        )
        .order_by("-occurred_at")
    )


def my_training_sessions(*, user: User, limit: int = 20) -> list[TrainingSession]:
    return list(
        scope_for(user)
        .filter(TrainingSession.objects.filter(trainer=user))
        .select_related("village", "capability")
        .annotate(attendees=Count("attendances"))
        .order_by("-started_at")[:limit]
    )


# --- the offline roster --------------------------------------------------------------------------


def roster(*, user: User) -> dict[str, object]:
    """The member's villages, their active households and residents, for offline use.

    Identifiers only masked; no ethnicity, no birth date (the year is enough to tell people
    apart). Capabilities as lists of bits of the catalogue sent along.
    """
    places = member_villages(user=user)
    village_ids = [p.village.pk for p in places]
    province_ids = {p.village.province_id for p in places}
    capabilities = Capability.objects.filter(is_active=True).filter(
        Q(province__isnull=True) | Q(province_id__in=province_ids)
    )
    households = Household.objects.filter(village_id__in=village_ids, is_active=True).order_by(
        "village_id", "code", "pk"
    )
    residents = Resident.objects.filter(village_id__in=village_ids, status=ResidentStatus.ACTIVE).order_by(
        "household_id", "birth_year", "pk"
    )
    members_by_household: dict[int, int] = defaultdict(int)
    resident_rows = []
    for r in residents.values_list(
        "pk",
        "household_id",
        "village_id",
        "full_name",
        "birth_year",
        "sex",
        "phone_masked",
        "citizen_id_masked",
        "capability_mask",
    ):
        members_by_household[r[1]] += 1
        resident_rows.append(
            {"i": r[0], "h": r[1], "v": r[2], "n": r[3], "y": r[4], "s": r[5], "p": r[6], "c": r[7], "b": bits_of(r[8])}
        )
    return {
        "user": user.get_username(),
        "generated_at": timezone.now().isoformat(),
        "capabilities": [
            {"code": c.code, "name": c.name, "subject": c.subject, "bit": c.bit}
            for c in capabilities.order_by("sort_order", "code")
        ],
        "villages": [
            {
                "id": p.village.pk,
                "name": p.village.name,
                "team": p.team.pk,
                "commune": p.commune.name if p.commune else "",
            }
            for p in places
        ],
        "households": [
            {"i": h[0], "v": h[1], "k": h[2], "n": h[3], "b": bits_of(h[4]), "m": members_by_household.get(h[0], 0)}
            for h in households.values_list("pk", "village_id", "code", "head_name", "capability_mask")
        ],
        "residents": resident_rows,
        # Issue 17: the open follow-ups, soonest due first, so the work list shows them offline too.
        "follow_ups": [
            {
                "s": f.subject,
                "i": f.subject_id,
                "h": f.household_id,
                "v": f.village_id,
                "n": f.name,
                "c": f.capability_code,
                "r": f.reason,
                "l": f.reason_label,
                "a": timezone.localdate(f.visited_at).isoformat(),
                "d": f.due_on.isoformat(),
            }
            for f in follow_ups(user=user, villages=[p.village for p in places])
        ],
    }
