"""Imports of households and of residents (with their households): parsing, matching and checking the rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fieldteam import identifiers
from fieldteam.choices import (
    COMMUNE_KINDS,
    VILLAGE_KINDS,
    CapabilitySubject,
    ResidentStatus,
)
from fieldteam.imports.base import LOOKUP_CHUNK, ImportKind, ImportOptions, name_key
from fieldteam.imports.kinds.people_bulk import (
    HouseholdPart,
    HouseholdRow,
    ResidentRow,
    households_import_bulk,
    merge_household_capabilities,
    residents_import_bulk,
)
from fieldteam.models import (
    Capability,
    Household,
    Resident,
    User,
)
from fieldteam.names import normalise_name
from fieldteam.periods import today
from fieldteam.permissions import Scope
from fieldteam.resources import (
    HouseholdResource,
    ResidentResource,
)
from fieldteam.resources.base import DATE_DISPLAY, is_blank, match_key
from fieldteam.resources.people import capability_code_of, open_consent_given_at
from fieldteam.services.consent import (
    check_given_at,
)

EARLIEST_BIRTH_YEAR = 1890


class _PeopleImport(ImportKind):
    """What the household and resident imports share: villages, household keys, capability columns."""

    def __init__(self, *, actor: User | None, options: ImportOptions) -> None:
        super().__init__(actor=actor, options=options)
        self.capabilities: dict[str, Capability] = {c.code: c for c in Capability.objects.filter(is_active=True)}
        self.local_today = today()  # the calendar's today, read once (``self.today`` may be the import date)
        self.capability_by_id = {c.pk: c for c in self.capabilities.values()}

    def not_required(self) -> set[str]:
        return {"village_code"} if (self.options.village or self.options.commune) else set()

    def bind(self, headers: list[Any]) -> None:
        super().bind(headers)
        # (yes/no key, date key, capability id, of households?) for every capability column in the file
        pairs: dict[str, list[str | None]] = {}
        for _position, column in self.columns:
            parsed = capability_code_of(column.key)
            if parsed is None:
                continue
            code, is_date = parsed
            pairs.setdefault(code, [None, None])[1 if is_date else 0] = column.key
        self.capability_columns = [
            (keys[0], keys[1], capability.pk, capability.subject == CapabilitySubject.HOUSEHOLD)
            for code, keys in pairs.items()
            if (capability := self.capabilities.get(code)) is not None
        ]

    def parse_capabilities(
        self, row: int, cells: dict[str, Any], birth: date | None
    ) -> tuple[dict[int, date], dict[int, date]]:
        """Resident and household capabilities of the row: capability id → since."""
        held: dict[int, date] = {}
        household: dict[int, date] = {}
        for yes_key, date_key, capability_id, of_household in self.capability_columns:
            raw_answer = cells.get(yes_key) if yes_key else None
            raw_since = cells.get(date_key) if date_key else None
            if (raw_answer is None or raw_answer == "") and (raw_since is None or raw_since == ""):
                continue  # the usual case: nothing said about this capability
            answer = self.value(row, cells, yes_key) if yes_key else None
            since = self.value(row, cells, date_key) if date_key else None
            if answer is False:
                if since is not None:
                    self.fail(
                        row, date_key or "", _("A date is given but the answer is “không”."), code="date_without_yes"
                    )
                continue
            if answer is None and since is None:
                continue
            since = since or self.today
            if since > self.today:
                self.fail(row, date_key or yes_key or "", _("The date is in the future."), code="future")
                continue
            if birth is not None and since < birth and not of_household:
                self.fail(row, date_key or yes_key or "", _("The date is before the birth."), code="before_birth")
                continue
            target = household if of_household else held
            if capability_id not in target or since < target[capability_id]:
                target[capability_id] = since
        return held, household

    @property
    def household_code_key(self) -> str:
        return "household_code" if "household_code" in self.resource.fields else "code"

    def parse_household(self, row: int, cells: dict[str, Any]) -> HouseholdPart:
        return HouseholdPart(
            village_code=self.value(row, cells, "village_code") or "" if "village_code" in cells else "",
            code=self.value(row, cells, self.household_code_key) or "" if self.household_code_key in cells else "",
            head_name=normalise_name(self.value(row, cells, "head_name")),
            address=self.value(row, cells, "address") or "",
            capabilities={},
        )

    # --- villages and households -------------------------------------------------------------------

    def resolve_villages(self, rows: list[tuple[int, HouseholdPart]]) -> None:
        """Set each household part's village; unknown, wrong or out-of-scope codes are errors."""
        areas = self.areas_by_code(part.village_code for _row, part in rows)
        village, commune = self.options.village, self.options.commune
        for row, part in rows:
            code = part.village_code
            if not code:
                if village is not None or commune is not None:
                    part.village = village or commune
                else:
                    self.fail(row, "village_code", _("Fill in this column."), code="required")
                continue
            area = areas.get(code)
            if area is None:
                self.fail(
                    row,
                    "village_code",
                    _("No village has the code “%(code)s”.") % {"code": code},
                    code="unknown_village",
                )
            elif area.kind not in VILLAGE_KINDS | COMMUNE_KINDS:
                self.fail(
                    row,
                    "village_code",
                    _("“%(code)s” is not a village or residential group.") % {"code": code},
                    code="not_a_village",
                )
            elif village is not None and area.pk != village.pk:
                self.fail(
                    row,
                    "village_code",
                    _("The file is for %(village)s, not “%(code)s”.") % {"village": village.name, "code": code},
                    code="other_village",
                )
            elif commune is not None and not area.path.startswith(commune.path):
                self.fail(
                    row,
                    "village_code",
                    _("“%(code)s” does not lie in %(commune)s.") % {"code": code, "commune": commune.name},
                    code="other_commune",
                )
            elif not self.may_write(area):
                self.fail(
                    row, "village_code", _("“%(code)s” is outside your area.") % {"code": code}, code="out_of_scope"
                )
            else:
                part.village = area

    def household_key(self, row: int, part: HouseholdPart) -> tuple[Any, ...]:
        village = part.village
        assert village is not None  # noqa: S101 - resolve_households skips the parts without a village
        if part.code:
            return (village.pk, "code", part.code)
        if part.head_name:
            return (village.pk, "head", match_key(part.head_name), match_key(part.address))
        return (village.pk, "row", row)

    def resolve_households(self, rows: list[tuple[int, HouseholdPart]]) -> None:
        """Match household parts to existing households (by code, or by head of household and address)."""
        by_village_codes: dict[int, set[str]] = defaultdict(set)
        by_village_heads: dict[int, set[str]] = defaultdict(set)
        for row, part in rows:
            if part.village is None:
                continue
            part.key = self.household_key(row, part)
            if part.code:
                by_village_codes[part.village.pk].add(part.code)
            elif part.head_name:
                by_village_heads[part.village.pk].add(part.head_name)
        found = _existing_households(by_village_codes, by_village_heads)
        for row, part in rows:
            if part.village is None:
                continue
            part.existing = found.get(part.key)
            if part.existing is not None and not part.existing["is_active"]:
                key = self.household_code_key if part.code else "head_name"
                self.fail(row, key, _("This household is no longer active."), code="inactive_household")


def _existing_households(
    by_village_codes: dict[int, set[str]], by_village_heads: dict[int, set[str]]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Existing households by household key: by code, else (no code) by head of household and address."""
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    values = ("id", "village_id", "province_id", "code", "head_name", "address", "is_active", "capability_mask")
    for village_id, codes in by_village_codes.items():
        ordered = sorted(codes)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            for hh in Household.objects.filter(village_id=village_id, code__in=chunk).values(*values):
                found[(village_id, "code", hh["code"])] = hh
    for village_id, heads in by_village_heads.items():
        ordered = sorted(heads)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            rows_found = Household.objects.filter(village_id=village_id, code="", head_name__in=chunk).order_by("pk")
            for hh in rows_found.values(*values):
                found.setdefault((village_id, "head", match_key(hh["head_name"]), match_key(hh["address"])), hh)
    return found


class ResidentsImport(_PeopleImport):
    """Residents with their households, one row per resident.

    A citizen ID or phone is stored only with the date the resident signed the paper consent form
    ("Ngày ký đồng ý"; recorded as a paper consent by the importing officer), or under the open
    consent of a resident already registered.
    """

    name = "residents"
    resource_class = ResidentResource

    def parse(self, row: int, cells: dict[str, Any]) -> ResidentRow | None:
        part = self.parse_household(row, cells)
        full_name = normalise_name(self.value(row, cells, "full_name", required=True))
        sex = self.value(row, cells, "sex", required=True)
        birth_year, birth_date = self.parse_birth(row, cells)
        citizen_id = self.value(row, cells, "citizen_id") if "citizen_id" in cells else ""
        if citizen_id:
            try:
                citizen_id = identifiers.validate_citizen_id(
                    citizen_id, birth_year=birth_year, sex=sex if sex else None
                )
            except ValidationError as exc:
                self.fail(row, "citizen_id", " ".join(exc.messages), code=exc.code or "invalid")
        phone = self.value(row, cells, "phone") if "phone" in cells else ""
        if phone:
            try:
                phone = identifiers.validate_phone(phone)
            except ValidationError as exc:
                self.fail(row, "phone", " ".join(exc.messages), code=exc.code or "invalid")
        ethnicity = self.value(row, cells, "ethnicity") or "" if "ethnicity" in cells else ""
        consent_date = self.value(row, cells, "consent_date") if "consent_date" in cells else None
        if consent_date is not None and consent_date > self.today:
            self.fail(row, "consent_date", _("The date is in the future."), code="future")
        elif consent_date is not None:
            try:  # the same rule as every route: not before 2023-07-01 nor before the birth
                check_given_at(
                    consent_date,
                    birth_year=birth_year,
                    birth_date=birth_date,
                    field="consent_date",
                    today=self.local_today,
                )
            except ValidationError as exc:
                # check_given_at's every refusal has a code.
                given_at_code = exc.error_dict["consent_date"][0].code or "invalid"
                self.fail(row, "consent_date", " ".join(exc.messages), code=given_at_code)
        birth = birth_date or (date(birth_year, 1, 1) if birth_year else None)
        held, household_held = self.parse_capabilities(row, cells, birth)
        part.capabilities = household_held
        if row in self.errors:
            return None
        assert birth_year is not None  # noqa: S101 - parse_birth recorded an error for a row without one
        return ResidentRow(
            row=row,
            household=part,
            full_name=full_name,
            sex=sex,
            birth_year=birth_year,
            birth_date=birth_date,
            citizen_id=citizen_id,
            phone=phone,
            ethnicity=ethnicity,
            capabilities=held,
            citizen_hash=identifiers.keyed_hash("cccd", citizen_id) if citizen_id else None,
            phone_hash=identifiers.keyed_hash("phone", phone) if phone else None,
            consent_date=consent_date,
        )

    def parse_birth(self, row: int, cells: dict[str, Any]) -> tuple[int | None, date | None]:
        """Birth year and date: the date wins, and must agree with a year given beside it."""
        birth_date = self.value(row, cells, "birth_date") if "birth_date" in cells else None
        birth_year = self.value(row, cells, "birth_year") if "birth_year" in cells else None
        if birth_date is not None:
            if birth_date > self.today:
                self.fail(row, "birth_date", _("The birth date is in the future."), code="future")
            elif birth_year is not None and birth_year != birth_date.year:
                self.fail(row, "birth_year", _("The birth year does not match the birth date."), code="mismatch")
            birth_year = birth_date.year
        elif birth_year is None and is_blank(cells.get("birth_year")) and is_blank(cells.get("birth_date")):
            key = "birth_date" if "birth_date" in cells else "birth_year"
            self.fail(row, key, _("Give the birth date or at least the birth year."), code="required")
        if birth_year is not None and not EARLIEST_BIRTH_YEAR <= birth_year <= self.today.year:
            self.fail(
                row,
                "birth_date" if birth_date is not None else "birth_year",
                _("The birth year must be between %(low)s and %(high)s.")
                % {"low": EARLIEST_BIRTH_YEAR, "high": self.today.year},
                code="range",
            )
            birth_year = None
        return birth_year, birth_date

    def check(self, items: list[ResidentRow]) -> None:
        parts = [(i.row, i.household) for i in items]
        self.resolve_villages(parts)
        self.resolve_households(parts)
        self.check_in_file(items)
        self.match_residents([i for i in items if i.household.village is not None and self.is_valid(i.row)])
        self.check_consent([i for i in items if self.is_valid(i.row)])

    def check_consent(self, items: list[ResidentRow]) -> None:
        """A row with a citizen ID or phone needs the date the resident signed the consent form.

        Not needed when the row's resident is already registered with an open consent (the
        identifiers are then stored under that one, as ``update_resident`` does).
        """
        undated = [i for i in items if (i.citizen_id or i.phone) and i.consent_date is None]
        consented = open_consent_given_at([i.existing["id"] for i in undated if i.existing is not None])
        for item in undated:
            if item.existing is None or item.existing["id"] not in consented:
                self.fail(
                    item.row,
                    "consent_date",
                    _(
                        "A citizen ID or phone number is stored only with the date the resident signed the consent form."
                    ),
                    code="consent_required",
                )

    def check_in_file(self, items: list[ResidentRow]) -> None:
        by_hash: dict[str, list[int]] = defaultdict(list)
        by_person: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for item in items:
            if item.citizen_hash:
                by_hash[item.citizen_hash].append(item.row)
            if item.household.key:
                by_person[(item.household.key, name_key(item.full_name), item.birth_year)].append(item.row)
        self.flag_duplicates(by_hash, "citizen_id", _("The same citizen ID is also on row %(rows)s."))
        self.flag_duplicates(
            by_person, "full_name", _("The same name and birth year are also on row %(rows)s of this household.")
        )

    def match_residents(self, items: list[ResidentRow]) -> None:
        """Find each row's resident in the database: by citizen ID, else by name and birth year in the household."""
        by_hash, kept = _residents_by_hash(items)
        # A number held only outside the importing user's areas is answered like an unknown one
        # (the row is a new resident or fills one found by name, the number marked disputed).
        holders = [r["id"] for rows in by_hash.values() for r in rows]
        visible = _visible_ids(self.scope, [*holders, *kept])
        in_household = _residents_in_households(items)
        for item in items:
            household = item.household.existing
            same_person_key = (name_key(item.full_name), item.birth_year)
            held = by_hash.get(item.citizen_hash, []) if item.citizen_hash else []
            found = next((r for r in held if r["id"] in visible), None)
            item.citizen_disputed = bool(held) and found is None
            if found is not None and found["status"] == ResidentStatus.MERGED and found["merged_into_id"] in kept:
                found = kept[found["merged_into_id"]]
                if found["id"] not in visible:
                    found, item.citizen_disputed = None, True
            if found is not None:
                if (name_key(found["full_name"]), found["birth_year"]) != same_person_key:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("This citizen ID is already registered to another resident."),
                        code="duplicate_citizen_id",
                    )
                elif household is None or found["household_id"] != household["id"]:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("This resident is already registered in another household; move them in the admin."),
                        code="other_household",
                    )
                else:
                    item.existing = found
                    item.fill_phone = bool(item.phone_hash) and not found["phone_hash"]
                continue
            if household is None:
                continue
            found = in_household.get((household["id"], *same_person_key))
            if found is None:
                continue
            if item.citizen_hash and found["citizen_id_hash"]:
                self.fail(
                    item.row,
                    "citizen_id",
                    _("The resident of this name and birth year in the household has another citizen ID."),
                    code="other_citizen_id",
                )
                continue
            item.existing = found
            item.fill_citizen_id = bool(item.citizen_hash)
            item.fill_phone = bool(item.phone_hash) and not found["phone_hash"]

    def plan(self, items: list[ResidentRow]) -> dict[str, int]:
        households = {i.household.key: i.household for i in items}
        new_residents = [i for i in items if i.existing is None]
        adoptions = sum(len(i.capabilities) for i in new_residents) + sum(
            1
            for i in items
            if i.existing is not None
            for capability_id in i.capabilities
            if not i.existing["capability_mask"] & self.capability_by_id[capability_id].mask
        )
        household_caps = merge_household_capabilities(items)
        for key, part in households.items():
            for capability_id in household_caps.get(key, {}):
                if (
                    part.existing is None
                    or not part.existing["capability_mask"] & self.capability_by_id[capability_id].mask
                ):
                    adoptions += 1
        return {
            "households_new": sum(1 for p in households.values() if p.existing is None),
            "households_existing": sum(1 for p in households.values() if p.existing is not None),
            "residents_new": len(new_residents),
            "residents_existing": len(items) - len(new_residents),
            "adoptions_new": adoptions,
        }

    def write(self, items: list[ResidentRow]) -> dict[str, int]:
        return residents_import_bulk(actor=self.actor, rows=items, capabilities=self.capability_by_id)

    def preview(self, item: ResidentRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "village": item.household.village.code if item.household.village else "",
            "household": item.household.code or item.household.head_name,
            "full_name": item.full_name,
            "birth": item.birth_date.strftime(DATE_DISPLAY) if item.birth_date else str(item.birth_year),
            "citizen_id": identifiers.mask_citizen_id(item.citizen_id),
            "capabilities": ", ".join(
                # By name, as people read them (the code is the file's, not the page's).
                sorted(self.capability_by_id[c].name for c in (*item.capabilities, *item.household.capabilities))
            ),
        }


_RESIDENT_VALUES = (
    "id",
    "full_name",
    "birth_year",
    "household_id",
    "village_id",
    "province_id",
    "status",
    "merged_into_id",
    "capability_mask",
    "citizen_id_hash",
    "phone_hash",
    "birth_month_index",
    "sex",
    "ethnic_group",
)


def _residents_by_hash(
    items: list[ResidentRow],
) -> tuple[dict[str, list[dict[str, Any]]], dict[int, dict[str, Any]]]:
    """Registered residents by citizen-ID hash (its holders), and the records merged ones were merged into."""
    hashes = sorted({i.citizen_hash for i in items if i.citizen_hash})
    by_hash: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        # Undisputed holders first (a disputed copy of a number is the duplicate).
        found = (
            Resident.objects.filter(citizen_id_hash__in=hashes[start : start + LOOKUP_CHUNK])
            .order_by("citizen_id_disputed", "pk")
            .values(*_RESIDENT_VALUES)
        )
        for resident in found:
            by_hash.setdefault(resident["citizen_id_hash"], []).append(resident)
    merged_into = {r["merged_into_id"] for rows in by_hash.values() for r in rows if r["merged_into_id"]}
    kept = (
        {r["id"]: r for r in Resident.objects.filter(pk__in=merged_into).values(*_RESIDENT_VALUES)}
        if merged_into
        else {}
    )
    return by_hash, kept


def _visible_ids(scope: Scope | None, ids: list[int]) -> set[int]:
    """Which of the residents ``ids`` the importing user's scope covers (all of them for the system)."""
    if scope is None:
        return set(ids)
    ordered, seen = sorted(set(ids)), set[int]()
    for start in range(0, len(ordered), LOOKUP_CHUNK):
        rows = scope.filter(Resident.objects.filter(pk__in=ordered[start : start + LOOKUP_CHUNK]), area_field="village")
        seen.update(rows.values_list("pk", flat=True))
    return seen


def _residents_in_households(items: list[ResidentRow]) -> dict[tuple[int, str, int], dict[str, Any]]:
    """Residents of the matched households by (household, folded name, birth year)."""
    household_ids = sorted({i.household.existing["id"] for i in items if i.household.existing})
    found: dict[tuple[int, str, int], dict[str, Any]] = {}
    for start in range(0, len(household_ids), LOOKUP_CHUNK):
        residents = (
            Resident.objects.filter(household_id__in=household_ids[start : start + LOOKUP_CHUNK])
            .exclude(status=ResidentStatus.MERGED)
            .order_by("pk")
            .values(*_RESIDENT_VALUES)
        )
        for resident in residents:
            found.setdefault(
                (resident["household_id"], name_key(resident["full_name"]), resident["birth_year"]), resident
            )
    return found


class HouseholdsImport(_PeopleImport):
    """Households alone, with their household capabilities."""

    name = "households"
    resource_class = HouseholdResource

    def parse(self, row: int, cells: dict[str, Any]) -> HouseholdRow | None:
        part = self.parse_household(row, cells)
        if not part.code and not part.head_name:
            self.fail(row, "head_name", _("Give the household code or the head of household."), code="required")
        _held, part.capabilities = self.parse_capabilities(row, cells, None)
        if row in self.errors:
            return None
        return HouseholdRow(row=row, household=part)

    def check(self, items: list[HouseholdRow]) -> None:
        parts = [(i.row, i.household) for i in items]
        self.resolve_villages(parts)
        self.resolve_households(parts)
        groups: dict[Any, list[int]] = defaultdict(list)
        for item in items:
            if item.household.key:
                groups[item.household.key].append(item.row)
        key = "code"
        self.flag_duplicates(groups, key, _("The same household is also on row %(rows)s."))

    def plan(self, items: list[HouseholdRow]) -> dict[str, int]:
        new = sum(1 for i in items if i.household.existing is None)
        return {"households_new": new, "households_existing": len(items) - new}

    def write(self, items: list[HouseholdRow]) -> dict[str, int]:
        return households_import_bulk(
            actor=self.actor, parts=[i.household for i in items], capabilities=self.capability_by_id
        )

    def preview(self, item: HouseholdRow) -> dict[str, Any]:
        part = item.household
        return {
            "row": item.row,
            "action": "existing" if part.existing else "new",
            "village": part.village.code if part.village else "",
            "household": part.code,
            "head_name": part.head_name,
        }
