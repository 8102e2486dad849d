"""Not-done reasons (issue 17): subjects counted once, a later "done" clears, small cells hidden, offices only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fieldteam.choices import (
    AdoptionSource,
    AreaRoleKind,
    AssistanceChannel,
    AssistanceOutcome,
    MembershipRole,
    NotDoneReason,
    PeriodKind,
    ResidentStatus,
)
from fieldteam.models import Area, Capability, Household, Resident, Team, User
from fieldteam.periods import Period
from fieldteam.selectors import reasons
from fieldteam.selectors.breakdowns import SUPPRESSED
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.services import adoption, people
from fieldteam.services.assistance import ItemInput, log_assistance
from tests.conftest import AreaTree
from tests.factories import (
    AreaRoleFactory,
    CapabilityFactory,
    HouseholdFactory,
    MembershipFactory,
    ResidentFactory,
    TeamFactory,
    UserFactory,
)

PAPERS = reasons.resident_measure(NotDoneReason.MISSING_DOCUMENTS)
DEVICE = reasons.resident_measure(NotDoneReason.NO_DEVICE)
DECLINED = reasons.resident_measure(NotDoneReason.DECLINED)
SIGNAL = reasons.HOUSEHOLDS_WITHOUT_SIGNAL
HOUSEHOLD_SIGNAL = reasons.household_measure(NotDoneReason.NO_SIGNAL)
SEPTEMBER = Period(PeriodKind.MONTH, dt.date(2026, 9, 1))
OCTOBER = Period(PeriodKind.MONTH, dt.date(2026, 10, 1))


def at(day: str) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(dt.date.fromisoformat(day), dt.time(9)))


class Field:
    """A team serving the whole province, its member, and a way to log outcomes."""

    def __init__(self, tree: AreaTree) -> None:
        self.tree = tree
        self.team: Team = TeamFactory(village=tree.village, areas=[tree.province])
        self.worker: User = MembershipFactory(team=self.team).user
        self.phone: Capability = CapabilityFactory(code="smartphone")
        self.account: Capability = CapabilityFactory(code="payment_account")
        self.fibre: Capability = CapabilityFactory(code="fibre", for_household=True)

    def log(
        self, subject: Resident | Household, day: str, *items: tuple[Capability, str], done: Capability | None = None
    ) -> None:
        inputs = [ItemInput(capability, AssistanceOutcome.NOT_DONE, reason) for capability, reason in items]
        if done is not None:
            inputs.append(ItemInput(done, AssistanceOutcome.DONE))
        kind = "resident" if isinstance(subject, Resident) else "household"
        log_assistance(
            actor=self.worker,
            team=self.team,
            occurred_at=at(day),
            channel=AssistanceChannel.HOME_VISIT,
            items=inputs,
            **{kind: subject},
        )

    def people(self, village: Area, count: int) -> list[Resident]:
        household = HouseholdFactory(village=village)
        return [ResidentFactory(household=household) for _ in range(count)]


# Who sees the reasons of which areas: an office's area roles (their subtree); team members nothing.
OFFICE_ROLES = ("member", "leader", "commune_officer", "province_officer", "viewer", "superuser", "outsider")


def office_users(tree: AreaTree, field: Field) -> dict[str, User]:
    """A user of each of ``OFFICE_ROLES`` (the member and leader of the field team serving the province)."""
    return {
        "member": field.worker,
        "leader": MembershipFactory(team=field.team, role=MembershipRole.LEADER).user,
        "commune_officer": AreaRoleFactory(area=tree.commune, role=AreaRoleKind.COMMUNE_OFFICER).user,
        "province_officer": AreaRoleFactory(area=tree.province, role=AreaRoleKind.PROVINCE_OFFICER).user,
        "viewer": AreaRoleFactory(area=tree.province, role=AreaRoleKind.VIEWER).user,
        "superuser": UserFactory(superuser=True),
        "outsider": AreaRoleFactory(area=tree.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user,
    }


def office_sees(role: str, tree: AreaTree, area: Area) -> bool:
    """Whether ``role`` of ``office_users`` sees the reasons of ``area``."""
    roots = {
        "commune_officer": [tree.commune],
        "province_officer": [tree.province],
        "viewer": [tree.province],
        "superuser": [tree.province, tree.other_province],
        "outsider": [tree.other_province],
    }.get(role, [])
    return any(area.path.startswith(root.path) for root in roots)


@pytest.fixture
def field(area_tree: AreaTree) -> Field:
    return Field(area_tree)


@pytest.fixture
def unsuppressed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting tests read every number: no cell is small."""
    monkeypatch.setattr(reasons, "SMALL_CELL", 1)


def _village(counts: reasons.ReasonCounts, village: Area) -> reasons.Counts:
    return next(row.counts for row in counts.children if row.area.pk == village.pk)


def test_a_person_visited_three_times_is_one_person(field: Field, superuser, unsuppressed) -> None:
    (anh,) = field.people(field.tree.village, 1)
    for day in ("2026-09-02", "2026-09-10", "2026-09-20"):
        field.log(anh, day, (field.phone, NotDoneReason.MISSING_DOCUMENTS), (field.account, NotDoneReason.MISSING_DOCUMENTS))
    counts = reasons.reason_counts(user=superuser, area=field.tree.commune, period=SEPTEMBER)
    assert _village(counts, field.tree.village)[PAPERS] == 1
    assert counts.total.counts[PAPERS] == 1
    assert counts.total.counts[DEVICE] == 0


def test_a_later_done_clears_and_the_latest_reason_is_the_one(field: Field, superuser, unsuppressed) -> None:
    binh, chi = field.people(field.tree.village, 2)
    field.log(binh, "2026-09-05", (field.phone, NotDoneReason.MISSING_DOCUMENTS))
    field.log(binh, "2026-10-03", done=field.phone)
    field.log(chi, "2026-09-05", (field.phone, NotDoneReason.NO_DEVICE))
    field.log(chi, "2026-10-03", (field.phone, NotDoneReason.DECLINED))
    september = reasons.reason_counts(user=superuser, area=field.tree.village, period=SEPTEMBER).total.counts
    october = reasons.reason_counts(user=superuser, area=field.tree.village, period=OCTOBER).total.counts
    # Still open at September's end; cleared (Bình) or changed (Chi) in October.
    assert (september[PAPERS], september[DEVICE], september[DECLINED]) == (1, 1, 0)
    assert (october[PAPERS], october[DEVICE], october[DECLINED]) == (0, 0, 1)


def test_a_done_recorded_before_a_late_not_done_of_an_earlier_day_still_clears(field: Field, superuser, unsuppressed) -> None:
    (dung,) = field.people(field.tree.village, 1)
    field.log(dung, "2026-09-20", done=field.phone)
    # Synced late from a phone that was offline: the visit happened before the "done".
    field.log(dung, "2026-09-02", (field.phone, NotDoneReason.NO_DEVICE))
    assert reasons.reason_counts(user=superuser, area=field.tree.village, period=SEPTEMBER).total.counts[DEVICE] == 0


def test_holding_the_capability_or_leaving_the_village_ends_the_lack(field: Field, superuser, unsuppressed) -> None:
    em, giang, ha = field.people(field.tree.village, 3)
    for person in (em, giang, ha):
        field.log(person, "2026-09-02", (field.phone, NotDoneReason.NO_DEVICE))
    adoption.set_adoption(
        actor=None, capability=field.phone, since=dt.date(2026, 10, 5), source=AdoptionSource.SURVEY, resident=em
    )
    people.record_departure(actor=None, resident=giang, status=ResidentStatus.MOVED_OUT, on=dt.date(2026, 10, 9))
    september = reasons.reason_counts(user=superuser, area=field.tree.village, period=SEPTEMBER).total.counts
    october = reasons.reason_counts(user=superuser, area=field.tree.village, period=OCTOBER).total.counts
    assert september[DEVICE] == 3  # both after September's end
    assert october[DEVICE] == 1


def test_a_household_is_without_signal_through_itself_or_any_of_its_people(field: Field, superuser, unsuppressed) -> None:
    tree = field.tree
    first = HouseholdFactory(village=tree.village)
    khanh, lan = ResidentFactory(household=first), ResidentFactory(household=first)
    field.log(khanh, "2026-09-03", (field.phone, NotDoneReason.NO_SIGNAL))
    field.log(lan, "2026-09-03", (field.account, NotDoneReason.NO_SIGNAL))
    field.log(first, "2026-09-03", (field.fibre, NotDoneReason.NO_SIGNAL))
    second = HouseholdFactory(village=tree.village2)
    field.log(second, "2026-09-04", (field.fibre, NotDoneReason.NO_SIGNAL))
    third = HouseholdFactory(village=tree.village2)
    field.log(ResidentFactory(household=third), "2026-09-04", (field.phone, NotDoneReason.NO_SIGNAL))
    counts = reasons.reason_counts(user=superuser, area=tree.commune, period=SEPTEMBER)
    assert (_village(counts, tree.village)[SIGNAL], _village(counts, tree.village2)[SIGNAL]) == (1, 2)
    assert counts.total.counts[SIGNAL] == 3
    # As the subject of a household capability: two households.
    assert counts.total.counts[HOUSEHOLD_SIGNAL] == 2
    assert counts.total.counts[reasons.resident_measure(NotDoneReason.NO_SIGNAL)] == 3


def test_counts_add_up_the_tree_and_a_province_lists_its_communes(field: Field, superuser, unsuppressed) -> None:
    tree = field.tree
    for village, number in ((tree.village, 2), (tree.village2, 3), (tree.other_village, 4)):
        for person in field.people(village, number):
            field.log(person, "2026-09-03", (field.phone, NotDoneReason.MISSING_DOCUMENTS))
    counts = reasons.reason_counts(user=superuser, area=tree.province, period=SEPTEMBER)
    assert [(row.area.name, row.counts[PAPERS]) for row in counts.children] == [("Xã Ia Grai", 5), ("Xã Ia Hrung", 4)]
    assert counts.total.counts[PAPERS] == 9


def test_the_lists_rank_villages_and_hold_names_of_places_only(field: Field, superuser, unsuppressed) -> None:
    tree = field.tree
    for village, number in ((tree.village, 2), (tree.village2, 3)):
        for person in field.people(village, number):
            field.log(person, "2026-09-03", (field.phone, NotDoneReason.NO_DEVICE))
    listed = reasons.reason_list(user=superuser, area=tree.province, period=SEPTEMBER, kind=reasons.NO_DEVICE_LIST)
    assert [(row.place, row.village, row.count) for row in listed.rows] == [
        ("Xã Ia Grai", "Thôn 2", 3),
        ("Xã Ia Grai", "Thôn 1", 2),
    ]
    assert reasons.reason_list(user=superuser, area=tree.province, period=SEPTEMBER, kind=reasons.NO_SIGNAL_LIST).rows == []


def test_one_statement_for_the_counts_and_one_for_the_areas(field: Field, superuser, django_assert_num_queries) -> None:
    tree = field.tree
    for village in (tree.village, tree.village2, tree.other_village):
        for person in field.people(village, 2):
            field.log(person, "2026-09-03", (field.phone, NotDoneReason.NO_DEVICE))
    reasons.reason_counts(user=superuser, area=tree.province, period=SEPTEMBER)  # the scope, cached on the user
    with django_assert_num_queries(2):
        reasons.reason_counts(user=superuser, area=tree.province, period=SEPTEMBER)
    with django_assert_num_queries(2):
        reasons.reason_list(user=superuser, area=tree.commune, period=SEPTEMBER, kind=reasons.NO_DEVICE_LIST)


# --- small cells -----------------------------------------------------------------------------


def test_small_counts_are_hidden_with_the_smallest_sibling_and_everywhere_alike(field: Field, superuser) -> None:
    tree = field.tree
    for village, number in ((tree.village, 3), (tree.village2, 6), (tree.other_village, 8)):
        for person in field.people(village, number):
            field.log(person, "2026-09-03", (field.phone, NotDoneReason.MISSING_DOCUMENTS))
    commune = reasons.reason_counts(user=superuser, area=tree.commune, period=SEPTEMBER)
    # 3 is small; 6 would give it back from the commune's 9: hidden with it.
    assert (_village(commune, tree.village)[PAPERS], _village(commune, tree.village2)[PAPERS]) == (None, None)
    assert commune.total.counts[PAPERS] == 9
    province = reasons.reason_counts(user=superuser, area=tree.province, period=SEPTEMBER)
    assert [row.counts[PAPERS] for row in province.children] == [9, 8]
    listed = reasons.reason_list(user=superuser, area=tree.province, period=SEPTEMBER, kind=reasons.MISSING_DOCUMENTS_LIST)
    assert [(row.village, row.text) for row in listed.rows] == [
        ("Làng Dố", "8"),
        ("Thôn 1", SUPPRESSED),
        ("Thôn 2", SUPPRESSED),
    ]


def test_a_hidden_area_is_not_given_back_by_its_children() -> None:
    # A commune hidden beside a small sibling, whose villages are 7 and 0: one of them hides too.
    counts = {"P": 10, "PA": 7, "PB": 3, "PAX": 7, "PAY": 0, "PBX": 3}
    families = [("P", ["PA", "PB"]), ("PA", ["PAX", "PAY"]), ("PB", ["PBX"])]
    hidden = reasons.hidden_cells(counts, families)
    assert hidden == {"PA", "PB", "PBX", "PAY"}
    assert reasons.hidden_cells({"P": 0, "PA": 0}, [("P", ["PA"])]) == set()


# --- who sees it -----------------------------------------------------------------------------


def test_offices_see_their_areas_and_team_members_nothing(field: Field, area_tree: AreaTree, commune_officer, province_officer) -> None:
    viewer = AreaRoleFactory(area=area_tree.province, role="viewer").user
    leader = MembershipFactory(team=field.team, role="leader").user
    allowed = {
        commune_officer: {area_tree.commune, area_tree.village},
        province_officer: {area_tree.province, area_tree.commune, area_tree.other_village},
        viewer: {area_tree.province, area_tree.village2},
    }
    for user, areas in allowed.items():
        for area in areas:
            assert reasons.reason_counts(user=user, area=area, period=SEPTEMBER).area == area
    refused = [
        (commune_officer, area_tree.province),
        (commune_officer, area_tree.other_commune),
        (province_officer, area_tree.far_commune),
        (field.worker, area_tree.village),
        (leader, area_tree.province),
    ]
    for user, area in refused:
        with pytest.raises(OutOfScope):
            reasons.reason_counts(user=user, area=area, period=SEPTEMBER)
        with pytest.raises(OutOfScope):
            reasons.reason_list(user=user, area=area, period=SEPTEMBER, kind=reasons.NO_SIGNAL_LIST)


def test_a_commune_officer_sees_only_the_commune_s_villages(field: Field, commune_officer, unsuppressed) -> None:
    tree = field.tree
    for village in (tree.village, tree.other_village):
        for person in field.people(village, 1):
            field.log(person, "2026-09-03", (field.phone, NotDoneReason.NO_DEVICE))
    counts = reasons.reason_counts(user=commune_officer, area=tree.commune, period=SEPTEMBER)
    assert {row.area.name for row in counts.children} == {"Thôn 1", "Thôn 2"}
    listed = reasons.reason_list(user=commune_officer, area=tree.commune, period=SEPTEMBER, kind=reasons.NO_DEVICE_LIST)
    assert [row.village for row in listed.rows] == ["Thôn 1"]
