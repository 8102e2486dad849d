"""The work list of a village: who still lacks each capability, the capability closest to its target first.

A team leader walks the list house by house. For each capability (a section) it names the
residents (or households) of the village who do not hold it and who count towards the
indicator(s) built on it, and says how many more holders the village needs to meet the indicator's
target. Sections come in the order the team should work: the target closest to being met first
(fewest people still needed), then capabilities with no target, then targets already met.
Within a section people are listed household by household.

Scoped like every selector (``OutOfScope``, a 404, outside the user's areas); identifiers are
masked. A constant number of queries whatever the size of the village.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import CapabilitySubject, PeriodKind, ResidentStatus, TargetComparison
from fieldteam.errors import field_error
from fieldteam.models import Area, Capability, Household, Resident, RollupState, User
from fieldteam.periods import Period, month_index, today
from fieldteam.permissions import scope_for
from fieldteam.rollup.derivations import load_derivations
from fieldteam.rollup.rules import WORKING_AGE_FROM_YEARS, ResidentRule, load_rules
from fieldteam.selectors.indicators import IndicatorReading, OutOfScope, area_indicator_values

__all__ = ["WorkListEntry", "WorkListSection", "holders_needed", "work_list"]


@dataclass(frozen=True)
class WorkListEntry:
    subject: str  # CapabilitySubject: "resident" or "household"
    id: int
    name: str
    household_id: int
    household_code: str
    household_head: str
    birth_year: int | None = None
    sex: str = ""
    phone_masked: str = ""


@dataclass
class WorkListSection:
    capability: Capability
    # The village's current readings of the indicators counting this capability.
    readings: list[IndicatorReading] = field(default_factory=list)
    # The reading that orders the section: the one whose target needs the fewest more holders.
    reading: IndicatorReading | None = None
    # More holders needed to meet that target (0: met); None when no indicator has a target.
    needed: int | None = None
    entries: list[WorkListEntry] = field(default_factory=list)


def holders_needed(reading: IndicatorReading) -> int | None:
    """How many more holders ``reading``'s area needs to meet its target (0 if met), or None."""
    target, numerator, denominator = reading.target, reading.numerator, reading.denominator
    if target is None or numerator is None or not denominator:
        return None
    exact = target.value * Decimal(denominator) / 100
    required = math.floor(exact) + 1 if target.comparison == TargetComparison.MORE_THAN else math.ceil(exact)
    return max(0, min(required, denominator) - numerator)


def _section_order(section: WorkListSection) -> tuple[int, int, int, str]:
    if section.needed is None:
        group = 1
    elif section.needed == 0:
        group = 2
    else:
        group = 0
    return (group, section.needed or 0, section.capability.sort_order, section.capability.code)


def _counting_month(province_id: int) -> int:
    """The month the province's live counts count ages at (the selector never creates the state row)."""
    month = RollupState.objects.filter(pk=province_id).values_list("month", flat=True).first()
    return month_index(month or today())


def _sections(user: User, village: Area, capabilities: list[Capability]) -> dict[int, WorkListSection]:
    """A section per capability, with the village's live readings of the indicators counting it."""
    readings = area_indicator_values(user=user, area=village, period=Period.containing(PeriodKind.MONTH, today()))
    sections = {c.pk: WorkListSection(capability=c) for c in capabilities}
    for reading in readings:
        indicator = reading.indicator
        if indicator.capability_id in sections and reading.is_live:
            sections[indicator.capability_id].readings.append(reading)
    for section in sections.values():
        with_target = [(n, r) for r in section.readings if (n := holders_needed(r)) is not None]
        if with_target:
            # The nearest unmet target; if every target is met, the section counts as met.
            unmet = [(n, r) for n, r in with_target if n > 0]
            section.needed, section.reading = min(unmet or with_target, key=lambda pair: pair[0])
        elif section.readings:
            section.reading = section.readings[0]
    return sections


def _add_residents(village: Area, sections: list[WorkListSection], province_id: int) -> None:
    """Each resident section's residents who lack its capability and count towards its indicators."""
    counting_month = _counting_month(province_id)
    rules_by_mask: dict[int, list[ResidentRule]] = {}
    counting = load_rules(counting_month, province_id)
    # A rule's ``bit_mask`` is every bit whose holding counts (derived holdings: ``rollup.derivations``).
    for rule in counting.residents:
        rules_by_mask.setdefault(rule.bit_mask, []).append(rule)
    # Capabilities no indicator counts: residents of working age and over (the people teams help).
    fallback_high = counting_month - WORKING_AGE_FROM_YEARS * 12
    rows = list(
        Resident.objects.filter(village=village, status=ResidentStatus.ACTIVE)
        .order_by("household__code", "household_id", "full_name", "id")
        .values_list(
            "id",
            "full_name",
            "household_id",
            "household__code",
            "household__head_name",
            "birth_year",
            "birth_month_index",
            "sex",
            "phone_masked",
            "capability_mask",
        )
    )
    for section in sections:
        mask = counting.derivations.holders(section.capability.mask)
        rules = rules_by_mask.get(mask, [])
        for rid, name, hid, hcode, head, year, bmi, sex, phone, held in rows:
            if held & mask:
                continue
            counted = any(rule.in_population(bmi, sex) for rule in rules) if rules else bmi <= fallback_high
            if counted:
                section.entries.append(
                    WorkListEntry(CapabilitySubject.RESIDENT, rid, name, hid, hcode, head, year, sex, phone)
                )


def _add_households(village: Area, sections: list[WorkListSection]) -> None:
    rows = list(
        Household.objects.filter(village=village, is_active=True)
        .order_by("code", "id")
        .values_list("id", "code", "head_name", "capability_mask", "derived_mask")
    )
    derivations = load_derivations()
    for section in sections:
        # Held by an adoption, through a member, or implied by another holding: not lacking it.
        mask = derivations.holders(section.capability.mask)
        section.entries.extend(
            WorkListEntry(CapabilitySubject.HOUSEHOLD, hid, head or code, hid, code, head)
            for hid, code, head, held, derived in rows
            if not (held | derived) & mask
        )


def work_list(*, user: User, village: Area, capability: Capability | None = None) -> list[WorkListSection]:
    """Who in ``village`` still lacks each active capability (or only ``capability``), as sections.

    ``village`` is an area households belong to: a village, or an area with no villages below it.
    """
    if not scope_for(user).contains(village):
        raise OutOfScope(_("No such area."))
    if not village.is_village and village.numchild:
        raise field_error("village", _("Choose a village: a work list is made per village."), code="not_a_village")
    province_id = village.province_id or village.pk
    capabilities = Capability.objects.filter(is_active=True).filter(
        Q(province__isnull=True) | Q(province_id=province_id)
    )
    if capability is not None:
        capabilities = capabilities.filter(pk=capability.pk)
    capabilities_list = list(capabilities.order_by("sort_order", "code"))
    if not capabilities_list:
        return []
    sections = _sections(user, village, capabilities_list)
    resident_sections = [s for s in sections.values() if s.capability.subject == CapabilitySubject.RESIDENT]
    household_sections = [s for s in sections.values() if s.capability.subject == CapabilitySubject.HOUSEHOLD]
    if resident_sections:
        _add_residents(village, resident_sections, province_id)
    if household_sections:
        _add_households(village, household_sections)
    return sorted(sections.values(), key=_section_order)
