"""Likely duplicate residents, for officers to review and merge (``services.duplicates.merge_residents``).

Two records are likely the same person when they share the citizen ID's keyed hash, or have the
same name (folded: case, accents, spacing and Unicode form aside, ``Resident.search_name``), birth
year and household. A citizen ID registered while another resident outside the registering user's
areas held it (``citizen_id_disputed``) shows here for an officer who sees both. Both are found with GROUP BY queries
over the actor's scope (narrowed to an area when given), never by decrypting anything; merged
records are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, F, Q, QuerySet

from fieldteam.choices import PROVINCE_KINDS, ResidentStatus
from fieldteam.models import Area, Resident, User
from fieldteam.permissions import scope_for

SAME_CITIZEN_ID = "citizen_id"
SAME_NAME_YEAR_HOUSEHOLD = "name_year_household"


@dataclass
class DuplicateGroup:
    reason: str  # SAME_CITIZEN_ID or SAME_NAME_YEAR_HOUSEHOLD
    residents: list[Resident] = field(default_factory=list)

    @property
    def keep_candidate(self) -> Resident:
        """The record to keep by default: the one with the most identifiers, then the oldest."""
        return sorted(
            self.residents,
            key=lambda r: (not r.citizen_id_hash, not r.phone_hash, r.status != ResidentStatus.ACTIVE, r.pk),
        )[0]


def _residents_in_scope(actor: User, area: Area | None) -> QuerySet[Resident]:
    queryset = scope_for(actor).filter(Resident.objects.exclude(status=ResidentStatus.MERGED), area_field="village")
    if area is not None:
        if area.kind in PROVINCE_KINDS:
            queryset = queryset.filter(province_id=area.pk)
        else:
            queryset = queryset.filter(village__path__startswith=area.path)
    return queryset


def likely_duplicate_residents(*, actor: User, area: Area | None = None, limit: int = 100) -> list[DuplicateGroup]:
    """Groups of residents in the actor's scope that are likely one person (at most ``limit`` groups).

    Three queries for the keys plus one for the rows, whatever the size of the scope.
    """
    residents = _residents_in_scope(actor, area)
    groups: list[DuplicateGroup] = []
    hashes = list(
        residents.filter(citizen_id_hash__isnull=False)
        .values("citizen_id_hash")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("citizen_id_hash")
        .values_list("citizen_id_hash", flat=True)[:limit]
    )
    people = list(
        residents.annotate(name_key=F("search_name"))
        .values("household_id", "name_key", "birth_year")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .order_by("household_id", "name_key", "birth_year")[: max(0, limit - len(hashes))]
    )
    if not hashes and not people:
        return []
    condition = Q(citizen_id_hash__in=hashes)
    for person in people:
        condition |= Q(
            household_id=person["household_id"], name_key=person["name_key"], birth_year=person["birth_year"]
        )
    rows = (
        residents.annotate(name_key=F("search_name"))
        .filter(condition)
        .select_related("village", "household")
        .order_by("pk")
    )
    by_hash: dict[str, DuplicateGroup] = {}
    by_person: dict[tuple[int, str, int], DuplicateGroup] = {}
    wanted_people = {(k["household_id"], k["name_key"], k["birth_year"]) for k in people}
    for resident in rows:
        citizen_id_hash = resident.citizen_id_hash
        if citizen_id_hash is not None and citizen_id_hash in hashes:
            by_hash.setdefault(citizen_id_hash, DuplicateGroup(SAME_CITIZEN_ID)).residents.append(resident)
        key = (resident.household_id, resident.name_key, resident.birth_year)
        if key in wanted_people:
            by_person.setdefault(key, DuplicateGroup(SAME_NAME_YEAR_HOUSEHOLD)).residents.append(resident)
    groups.extend(by_hash.values())
    seen = {frozenset(r.pk for r in g.residents) for g in groups}
    for group in by_person.values():
        if frozenset(r.pk for r in group.residents) not in seen:
            groups.append(group)
    return groups[:limit]
