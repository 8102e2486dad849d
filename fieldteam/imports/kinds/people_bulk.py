"""Households and residents written in bulk: the rows as checked, and the writes that keep the
services' invariants (identifiers, adoptions and masks in step, the village counts moved by summed deltas).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fieldteam import audit, identifiers
from fieldteam.choices import (
    AdoptionSource,
    ConsentChannel,
    ResidentStatus,
)
from fieldteam.imports.base import LOOKUP_CHUNK, resolved
from fieldteam.imports.bulk import INSERT_BATCH, bulk_insert
from fieldteam.models import (
    Adoption,
    Area,
    AuditEntry,
    Capability,
    ConsentRecord,
    Household,
    Resident,
    User,
)
from fieldteam.models.people import ethnic_group_of
from fieldteam.names import fold_name
from fieldteam.resources.people import open_consent_given_at
from fieldteam.rollup import rules
from fieldteam.rollup.derivations import refresh_households
from fieldteam.services.consent import (
    CURRENT_NOTICE_VERSION,
    DEFAULT_PURPOSES,
    ConsentInput,
    consent_record,
)
from fieldteam.services.people import update_resident


@dataclass(slots=True)
class HouseholdPart:
    """The household columns of a row, and its household capabilities (capability id → since)."""

    village_code: str
    code: str
    head_name: str
    address: str
    capabilities: dict[int, date]
    village: Area | None = None
    key: tuple[Any, ...] = ()
    existing: dict[str, Any] | None = None


@dataclass(slots=True)
class ResidentRow:
    row: int
    household: HouseholdPart
    full_name: str
    sex: str
    birth_year: int
    birth_date: date | None
    citizen_id: str
    phone: str
    ethnicity: str
    capabilities: dict[int, date]
    citizen_hash: str | None = None
    phone_hash: str | None = None
    existing: dict[str, Any] | None = None
    fill_citizen_id: bool = False
    fill_phone: bool = False
    # The day the resident signed the paper consent form ("Ngày ký đồng ý"), if the file gives it.
    consent_date: date | None = None
    # The citizen ID is held only by residents outside the importing user's areas: imported like a
    # new number, marked disputed (``fieldteam.services.people._attach_citizen_id``).
    citizen_disputed: bool = False


@dataclass(slots=True)
class HouseholdRow:
    row: int
    household: HouseholdPart


def merge_household_capabilities(items: Iterable[ResidentRow]) -> dict[tuple[Any, ...], dict[int, date]]:
    """Per household key, the household capabilities of all its rows (the earliest date wins)."""
    merged: dict[tuple[Any, ...], dict[int, date]] = defaultdict(dict)
    for item in items:
        target = merged[item.household.key]
        for capability_id, since in item.household.capabilities.items():
            if capability_id not in target or since < target[capability_id]:
                target[capability_id] = since
    return merged


# --- bulk writes of households and residents ----------------------------------------------------------


class _Counting:
    """Rules and deltas per province for one bulk write (the shared counts lock is taken once each)."""

    def __init__(self) -> None:
        self.rules: dict[int, rules.CountingRules] = {}
        self.deltas: dict[int, rules.Deltas] = {}

    def province(self, province_id: int) -> rules.Deltas:
        if province_id not in self.rules:
            self.rules[province_id] = rules.rules_for_writes(province_id)
            self.deltas[province_id] = defaultdict(rules.empty_cell)
        return self.deltas[province_id]

    def resident(self, province_id: int, before: rules.ResidentFacts | None, after: rules.ResidentFacts | None) -> None:
        deltas = self.province(province_id)
        rules.resident_contribution(self.rules[province_id], before, -1, deltas)
        rules.resident_contribution(self.rules[province_id], after, +1, deltas)

    def household(
        self, province_id: int, before: rules.HouseholdFacts | None, after: rules.HouseholdFacts | None
    ) -> None:
        deltas = self.province(province_id)
        rules.household_contribution(self.rules[province_id], before, -1, deltas)
        rules.household_contribution(self.rules[province_id], after, +1, deltas)

    def members(self, province_id: int, household_ids: Iterable[int]) -> None:
        """Bring the households' holdings through members in step (after the members' rows are written)."""
        self.province(province_id)
        for change in refresh_households(self.rules[province_id].derivations, household_ids):
            self.household(province_id, *rules.derived_change(change))

    def apply(self) -> None:
        for province_id in sorted(self.deltas):
            rules.apply_deltas(province_id, self.deltas[province_id])


def _mask_of(capability_ids: Iterable[int], capabilities: dict[int, Capability]) -> int:
    mask = 0
    for capability_id in capability_ids:
        mask |= capabilities[capability_id].mask
    return mask


def _adopt_existing(
    *,
    field_name: str,
    wanted: dict[int, dict[int, date]],
    capabilities: dict[int, Capability],
    actor: User | None,
    adoptions: list[tuple[Any, ...]],
    province_of: dict[int, int],
) -> dict[int, tuple[int, int]]:
    """Adoptions for existing subjects (locked here), as ``set_adoption`` would record them.

    ``wanted``: subject id → {capability id → since}. A capability already held keeps its open
    adoption (its start moves back to an earlier date); one not held gets a new adoption. Returns
    subject id → (old mask, new mask) for the subjects whose mask changes.
    """
    if not wanted:
        return {}
    model = Resident if field_name == "resident" else Household
    ids = sorted(wanted)
    masks: dict[int, int] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        # Locked in pk order, like every service that locks subjects: no deadlock with a logging member.
        masks.update(
            model.objects.select_for_update().filter(pk__in=chunk).order_by("pk").values_list("pk", "capability_mask")
        )
    open_rows: dict[tuple[int, int], Adoption] = {}
    for start in range(0, len(ids), LOOKUP_CHUNK):
        chunk = ids[start : start + LOOKUP_CHUNK]
        for adoption in Adoption.objects.filter(**{f"{field_name}_id__in": chunk}, ended_on__isnull=True):
            open_rows[(getattr(adoption, f"{field_name}_id"), adoption.capability_id)] = adoption
    moved_back: list[Adoption] = []
    changes: dict[int, tuple[int, int]] = {}
    for subject_id in ids:
        old = masks[subject_id]
        new = old
        for capability_id, since in sorted(wanted[subject_id].items()):
            current = open_rows.get((subject_id, capability_id))
            if current is not None:
                if since < current.since:
                    current.since = since
                    moved_back.append(current)
                continue
            adoptions.append(_adoption(field_name, subject_id, province_of[subject_id], capability_id, since, actor))
            new |= capabilities[capability_id].mask
        if new != old:
            changes[subject_id] = (old, new)
    if moved_back:
        Adoption.objects.bulk_update(moved_back, ["since"], batch_size=INSERT_BATCH)
        audit.record_bulk(moved_back, action=AuditEntry.Action.UPDATE, fields=["since"])
    for subject_id, (_old, new) in changes.items():
        model.objects.filter(pk=subject_id).update(capability_mask=new)
    return changes


def paper_consent(signed_on: date) -> ConsentInput:
    """The consent form a resident signed on ``signed_on`` (to the current notice), as the file states it.

    Given at the start of that day, local time: the form carries a date, not a time.
    """
    return ConsentInput(
        channel=ConsentChannel.PAPER,
        notice_version=CURRENT_NOTICE_VERSION,
        purposes=DEFAULT_PURPOSES,
        given_at=timezone.make_aware(datetime.combine(signed_on, datetime.min.time())),
    )


def _record_paper_consents(
    signed: dict[int, tuple[int, date]], actor: User | None, *, villages: dict[tuple[str, int], int] | None = None
) -> int:
    """A paper consent, recorded by ``actor``, for each resident id → (province id, date signed).

    The caller leaves out residents who already have an open consent; ``villages``: as
    ``bulk_insert`` takes them (the residents it just inserted). Returns the number recorded.
    """
    # A province's forms were signed on a few hundred days: ``consent_record`` makes the record of
    # each (province, day) once, and every resident's row is that record's with its own resident.
    records: dict[tuple[int, date], tuple[Any, ...]] = {}
    at = CONSENT_FIELDS.index("resident_id")
    rows = []
    for resident_id, (province_id, signed_on) in signed.items():
        record = records.get((province_id, signed_on))
        if record is None:
            made = consent_record(
                actor=actor, resident_id=resident_id, province_id=province_id, consent=paper_consent(signed_on)
            )
            record = records[(province_id, signed_on)] = tuple(getattr(made, name) for name in CONSENT_FIELDS)
        rows.append((*record[:at], resident_id, *record[at + 1 :]))
    bulk_insert(ConsentRecord, CONSENT_FIELDS, rows, villages=villages)
    return len(rows)


# The columns of a consent record ``consent_record`` fills (the others keep their defaults).
CONSENT_FIELDS = ("province_id", "resident_id", "purposes", "channel", "notice_version", "given_at", "recorded_by_id")


def _birth_month_index(birth_year: int, birth_date: date | None) -> int:
    """As ``Resident.derive_birth_month_index`` computes it."""
    if birth_date is not None:
        return Resident.month_index(birth_date.year, birth_date.month)
    return Resident.month_index(birth_year, settings.FIELDTEAM_YEAR_ONLY_BIRTH_MONTH)


ADOPTION_FIELDS = ("province_id", "capability_id", "resident_id", "household_id", "since", "source", "recorded_by_id")
HOUSEHOLD_FIELDS = (
    "province_id",
    "village_id",
    "code",
    "head_name",
    "address",
    "capability_mask",
    "derived_mask",
    "is_active",
)
RESIDENT_FIELDS = (
    "province_id",
    "village_id",
    "household_id",
    "full_name",
    "sex",
    "birth_year",
    "birth_date",
    "birth_month_index",
    "ethnicity",
    "ethnic_group",
    "citizen_id_ciphertext",
    "citizen_id_hash",
    "citizen_id_masked",
    "phone_ciphertext",
    "phone_hash",
    "phone_masked",
    "status",
    "capability_mask",
    "citizen_id_disputed",
    "search_name",
)


def _adoption(
    subject: str, subject_id: int, province_id: int, capability_id: int, since: date, actor: User | None
) -> tuple[Any, ...]:
    """An adoption row (``ADOPTION_FIELDS``) recorded by the import, as ``set_adoption`` would write it."""
    resident_id, household_id = (subject_id, None) if subject == "resident" else (None, subject_id)
    actor_id = actor.pk if actor is not None else None
    return (province_id, capability_id, resident_id, household_id, since, AdoptionSource.IMPORT.value, actor_id)


@transaction.atomic
def households_import_bulk(
    *, actor: User | None, parts: list[HouseholdPart], capabilities: dict[int, Capability]
) -> dict[str, int]:
    """Register new households and record household capabilities, in bulk, keeping the counts right.

    The parts come checked (villages resolved and in the actor's scope, existing households
    matched). New households are counted in the household indicators' denominators (and numerators
    for the capabilities they hold); existing ones gain adoptions as ``set_adoption`` would add them.
    """
    tally = _Counting()
    wanted: dict[tuple[Any, ...], dict[int, date]] = defaultdict(dict)
    by_key: dict[tuple[Any, ...], HouseholdPart] = {}
    for part in parts:
        by_key.setdefault(part.key, part)
        for capability_id, since in part.capabilities.items():
            if capability_id not in wanted[part.key] or since < wanted[part.key][capability_id]:
                wanted[part.key][capability_id] = since
    new_keys = [key for key, part in by_key.items() if part.existing is None]
    existing = {part.existing["id"]: part for part in by_key.values() if part.existing is not None}
    adoptions = _write_households(by_key, new_keys, wanted, existing, capabilities, actor, tally)
    bulk_insert(Adoption, ADOPTION_FIELDS, adoptions, villages=_inserted_households(by_key))
    tally.apply()
    return {"households_new": len(new_keys), "households_existing": len(existing), "adoptions_new": len(adoptions)}


def _inserted_households(parts: dict[tuple[Any, ...], HouseholdPart]) -> dict[tuple[str, int], int]:
    """("household", id) → village id of the households ``_write_households`` inserted."""
    return {
        ("household", part.existing["id"]): part.existing["village_id"]
        for part in parts.values()
        if part.existing is not None and part.existing.get("new")
    }


def _write_households(
    parts: dict[tuple[Any, ...], HouseholdPart],
    new_keys: list[tuple[Any, ...]],
    wanted: dict[tuple[Any, ...], dict[int, date]],
    existing: dict[int, HouseholdPart],
    capabilities: dict[int, Capability],
    actor: User | None,
    tally: _Counting,
    head_names: dict[tuple[Any, ...], str] | None = None,
    member_masks: dict[tuple[Any, ...], int] | None = None,
) -> list[tuple[Any, ...]]:
    """Insert the new households, lock the existing ones and give both their capabilities.

    Sets ``part.existing``-like ids on the new parts (``part.new_id``) and returns the adoption rows.
    ``member_masks``: per household key, what its new members hold together (their masks or-ed):
    a new household's members are all new rows of the file, so its holdings through them
    (``derived_mask``) go in with it, not locked and updated after its members are written.
    """
    for province_id in sorted({p.village.province_id or p.village.pk for p in parts.values() if p.village}):
        tally.province(province_id)
    rows = []
    for key in new_keys:
        part = parts[key]
        village = resolved(part.village)
        province_id = village.province_id or village.id
        derived = 0
        if member_masks and member_masks.get(key):
            derived = tally.rules[province_id].derivations.from_members([member_masks[key]])
        rows.append(
            (
                province_id,
                village.id,
                part.code,
                part.head_name or (head_names or {}).get(key, ""),
                part.address,
                _mask_of(wanted.get(key, {}), capabilities),
                derived,
                True,
            )
        )
    adoptions: list[tuple[Any, ...]] = []
    for key, row, household_id in zip(new_keys, rows, bulk_insert(Household, HOUSEHOLD_FIELDS, rows), strict=True):
        province_id, village_id, mask, derived = row[0], row[1], row[5], row[6]
        parts[key].existing = {"id": household_id, "province_id": province_id, "village_id": village_id, "new": True}
        # Counted with its holdings through members (``rules.household_facts``).
        tally.household(province_id, None, rules.HouseholdFacts(village_id, True, mask | derived))
        adoptions.extend(
            _adoption("household", household_id, province_id, capability_id, since, actor)
            for capability_id, since in sorted(wanted.get(key, {}).items())
        )
    changes = _adopt_existing(
        field_name="household",
        wanted={hh_id: wanted[p.key] for hh_id, p in existing.items() if wanted.get(p.key)},
        capabilities=capabilities,
        actor=actor,
        adoptions=adoptions,
        province_of={hh_id: resolved(p.existing)["province_id"] for hh_id, p in existing.items()},
    )
    for hh_id, (old, new_mask) in changes.items():
        facts = resolved(existing[hh_id].existing)
        tally.household(
            facts["province_id"],
            rules.HouseholdFacts(facts["village_id"], True, old),
            rules.HouseholdFacts(facts["village_id"], True, new_mask),
        )
    return adoptions


@transaction.atomic
def residents_import_bulk(
    *, actor: User | None, rows: list[ResidentRow], capabilities: dict[int, Capability]
) -> dict[str, int]:
    """Register residents (and their new households) and record their capabilities, in bulk.

    Rows come checked (``ResidentsImport.check``). In one transaction, as ``register_household``,
    ``register_resident``, ``update_resident`` and ``set_adoption`` would do one by one:

    - new households and residents are inserted with their identifiers encrypted, hashed and masked
      and their capability masks set from the adoptions inserted with them;
    - matched residents and households are locked (pk order) and gain the adoptions they lack (an
      earlier date moves an open adoption's start back); a matched resident without a citizen ID or
      phone gets the file's through ``update_resident``;
    - the village counts move by the summed deltas, one upsert per province, under the province's
      shared counts lock.
    """
    tally = _Counting()
    household_caps = merge_household_capabilities(rows)
    parts: dict[tuple[Any, ...], HouseholdPart] = {}
    head_names: dict[tuple[Any, ...], str] = {}
    for item in rows:
        parts.setdefault(item.household.key, item.household)
        head_names.setdefault(item.household.key, item.full_name)
    new_keys = [key for key, part in parts.items() if part.existing is None]
    existing_households = {p.existing["id"]: p for p in parts.values() if p.existing is not None}
    masks = {c.id: c.mask for c in capabilities.values()}
    adoptions = _write_households(
        parts,
        new_keys,
        household_caps,
        existing_households,
        capabilities,
        actor,
        tally,
        head_names,
        _new_members_masks(rows, masks),
    )

    # New residents go in with their masks; every row of a household shares its (now known) id.
    new_rows: list[ResidentRow] = [i for i in rows if i.existing is None]
    resident_rows: list[tuple[Any, ...]] = []
    facts = []
    active = ResidentStatus.ACTIVE.value
    for item in new_rows:
        part = parts[item.household.key]
        household = part.existing or {}
        mask = 0
        for capability_id in item.capabilities:
            mask |= masks[capability_id]
        village = resolved(part.village)
        province_id, village_id, sex = household["province_id"], village.id, str(item.sex)
        month = _birth_month_index(item.birth_year, item.birth_date)
        group = ethnic_group_of(item.ethnicity)  # as ``Resident.save`` derives it
        resident_rows.append(
            (
                province_id,
                village_id,
                household["id"],
                item.full_name,
                sex,
                item.birth_year,
                item.birth_date,
                month,
                item.ethnicity,
                group,
                identifiers.encrypt(item.citizen_id),
                item.citizen_hash,
                identifiers.mask_citizen_id(item.citizen_id),
                identifiers.encrypt(item.phone),
                item.phone_hash,
                identifiers.mask_phone(item.phone),
                active,
                mask,
                item.citizen_disputed,
                fold_name(item.full_name),
            )
        )
        facts.append((province_id, rules.ResidentFacts(village_id, month, sex, True, mask, group)))
    resident_ids = bulk_insert(Resident, RESIDENT_FIELDS, resident_rows)
    # Where the rows inserted here lie: the trail of their adoptions and consents need not read it back.
    village_at = RESIDENT_FIELDS.index("village_id")
    inserted = _inserted_households(parts)
    inserted.update(
        (("resident", resident_id), row[village_at])
        for resident_id, row in zip(resident_ids, resident_rows, strict=True)
    )
    signed: dict[int, tuple[int, date]] = {
        resident_id: (province_id, item.consent_date)
        for item, (province_id, _after), resident_id in zip(new_rows, facts, resident_ids, strict=True)
        if item.consent_date is not None
    }
    for item, (province_id, after), resident_id in zip(new_rows, facts, resident_ids, strict=True):
        tally.resident(province_id, None, after)
        adoptions.extend(
            _adoption("resident", resident_id, province_id, capability_id, since, actor)
            for capability_id, since in sorted(item.capabilities.items())
        )

    matched = [i for i in rows if i.existing is not None]
    _adopt_matched_residents(matched, capabilities, actor, adoptions, tally)
    # Households hold what their members give them (``rollup.derivations``): the existing households
    # of residents who gained (new households went in with theirs: ``_write_households``).
    members_changed: dict[int, set[int]] = defaultdict(set)
    for item in rows:
        holder = item.existing if item.existing is not None else parts[item.household.key].existing
        if item.capabilities and holder is not None and not holder.get("new"):
            household_id = holder["household_id"] if item.existing is not None else holder["id"]
            members_changed[holder["province_id"]].add(household_id)
    for province_id, household_ids in sorted(members_changed.items()):
        tally.members(province_id, household_ids)
    bulk_insert(Adoption, ADOPTION_FIELDS, adoptions, villages=inserted)
    tally.apply()
    # Registered residents get the file's consent only if they have no open one (never a second);
    # those given identifiers below then hold one, which ``update_resident`` requires.
    matched_signed: dict[int, tuple[int, date]] = {}
    for item in matched:
        if item.consent_date is not None and item.existing is not None:
            matched_signed.setdefault(item.existing["id"], (item.existing["province_id"], item.consent_date))
    for resident_id in open_consent_given_at(list(matched_signed)):
        del matched_signed[resident_id]
    _record_paper_consents({**signed, **matched_signed}, actor, villages=inserted)
    filled = _fill_identifiers(matched, actor)
    return {
        "households_new": len(new_keys),
        "households_existing": len(existing_households),
        "residents_new": len(new_rows),
        "residents_existing": len(matched),
        "adoptions_new": len(adoptions),
        "identifiers_added": filled,
    }


def _new_members_masks(rows: list[ResidentRow], masks: dict[int, int]) -> dict[tuple[Any, ...], int]:
    """Per household key, the capability masks of its new residents in the file, or-ed together."""
    combined: dict[tuple[Any, ...], int] = defaultdict(int)
    for item in rows:
        if item.existing is None:  # a matched resident stays in the household it is in
            for capability_id in item.capabilities:
                combined[item.household.key] |= masks[capability_id]
    return combined


def _adopt_matched_residents(
    matched: list[ResidentRow],
    capabilities: dict[int, Capability],
    actor: User | None,
    adoptions: list[tuple[Any, ...]],
    tally: _Counting,
) -> None:
    """Matched residents gain the capabilities they lack (their counts move with their masks)."""
    wanted: dict[int, dict[int, date]] = defaultdict(dict)
    facts_of: dict[int, dict[str, Any]] = {}
    for item in matched:
        existing = item.existing or {}
        facts_of[existing["id"]] = existing
        target = wanted[existing["id"]]
        for capability_id, since in item.capabilities.items():
            if capability_id not in target or since < target[capability_id]:
                target[capability_id] = since
    changes = _adopt_existing(
        field_name="resident",
        wanted={pk: caps for pk, caps in wanted.items() if caps},
        capabilities=capabilities,
        actor=actor,
        adoptions=adoptions,
        province_of={pk: facts["province_id"] for pk, facts in facts_of.items()},
    )
    for resident_id, (old, new_mask) in changes.items():
        facts = facts_of[resident_id]
        active = facts["status"] == ResidentStatus.ACTIVE
        group = facts["ethnic_group"]
        before = rules.ResidentFacts(facts["village_id"], facts["birth_month_index"], facts["sex"], active, old, group)
        after = rules.ResidentFacts(facts["village_id"], facts["birth_month_index"], facts["sex"], active, new_mask, group)
        tally.resident(facts["province_id"], before, after)


def _fill_identifiers(matched: list[ResidentRow], actor: User | None) -> int:
    """A matched resident without a citizen ID or phone gets the file's, through ``update_resident``.

    Under the resident's open consent: checked before (``check_consent``) or recorded just before
    from the file's consent date (``_record_paper_consents``).
    """
    filled = 0
    for item in matched:
        changes: dict[str, Any] = {}
        if item.fill_citizen_id:
            changes["citizen_id"] = item.citizen_id
        if item.fill_phone:
            changes["phone"] = item.phone
        if changes and item.existing is not None:
            update_resident(
                actor=actor, resident=Resident.objects.get(pk=item.existing["id"]), check_rate=False, **changes
            )
            filled += 1
    return filled
