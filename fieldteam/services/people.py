"""Writes about households and residents. Each keeps the village counts right in its transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from fieldteam import audit, identifiers
from fieldteam.choices import COMMUNE_KINDS, VILLAGE_KINDS, ResidentStatus, Sex
from fieldteam.errors import field_error
from fieldteam.models import Area, AuditEntry, Household, Resident, User
from fieldteam.names import normalise_name
from fieldteam.periods import today
from fieldteam.permissions import ensure_can_write, scope_for
from fieldteam.ratelimit import take_identifier_check
from fieldteam.rollup.rules import adjust_counts, household_facts, resident_facts
from fieldteam.services.consent import (
    ConsentInput,
    check_consent_input,
    create_consent,
    require_consent_for_identifiers,
)
from fieldteam.transactions import in_callers_transaction

RESIDENT_FIELDS = frozenset({"full_name", "sex", "birth_year", "birth_date", "citizen_id", "phone", "ethnicity"})
EARLIEST_BIRTH_YEAR = 1890


def _check_village(village: Area) -> None:
    # Households live in villages; a commune-level list without villages may use the commune.
    if village.kind not in VILLAGE_KINDS | COMMUNE_KINDS:
        raise field_error("village", _("Choose a village or residential group."), code="not_a_village")


@transaction.atomic
def register_household(
    *, actor: User | None, village: Area, code: str = "", head_name: str = "", address: str = ""
) -> Household:
    """Create a household in ``village`` and count it in the household indicators' denominators."""
    ensure_can_write(actor, village, field="village")
    _check_village(village)
    code = code.strip()
    if code and Household.objects.filter(village=village, code=code).exists():
        raise field_error("code", _("This household code is already used in the village."), code="duplicate")
    household = Household.objects.create(
        province_id=village.province_id or village.pk,
        village=village,
        code=code,
        head_name=normalise_name(head_name),
        address=address.strip(),
    )
    adjust_counts(household.province_id, households=[(None, household_facts(household))])
    return household


@transaction.atomic
def update_household(
    *,
    actor: User | None,
    household: Household,
    code: str | None = None,
    head_name: str | None = None,
    address: str | None = None,
) -> Household:
    """Change a household's code, head's name or address (``None``: unchanged).

    None of them is counted anywhere; the village and the active flag are, and change through the
    residents (``move_resident``, ``split_household``). Refused unless the actor may write in the
    household's village; a code already used in the village is an error on ``code``.
    """
    ensure_can_write(actor, household.village, field="village")
    row = Household.objects.select_for_update().get(pk=household.pk)
    if code is not None:
        row.code = code.strip()
        if row.code and Household.objects.filter(village_id=row.village_id, code=row.code).exclude(pk=row.pk).exists():
            raise field_error("code", _("This household code is already used in the village."), code="duplicate")
    if head_name is not None:
        row.head_name = normalise_name(head_name)
    if address is not None:
        row.address = address.strip()
    row.full_clean()
    row.save(update_fields=["code", "head_name", "address", "updated_at"])
    return row


def _clean_birth(birth_year: int | None, birth_date: date | None) -> tuple[int, date | None]:
    if birth_date is not None:
        if birth_date > today():
            raise field_error("birth_date", _("The birth date is in the future."), code="future")
        if birth_year is not None and birth_year != birth_date.year:
            raise field_error("birth_year", _("The birth year does not match the birth date."), code="mismatch")
        birth_year = birth_date.year
    if birth_year is None:
        raise field_error("birth_year", _("Give the birth date or at least the birth year."), code="required")
    if not EARLIEST_BIRTH_YEAR <= birth_year <= today().year:
        raise field_error(
            "birth_year",
            _("The birth year must be between %(low)s and %(high)s."),
            code="range",
            params={"low": EARLIEST_BIRTH_YEAR, "high": today().year},
        )
    return birth_year, birth_date


def _valid_citizen_id(resident: Resident, raw: str) -> str:
    """The normalised CCCD, checked against the resident's own birth year and sex only ("" for none)."""
    if not raw:
        return ""
    try:
        return identifiers.validate_citizen_id(raw, birth_year=resident.birth_year, sex=resident.sex)
    except ValidationError as exc:
        raise ValidationError({"citizen_id": exc.error_list}) from exc


def citizen_id_holders(*, actor: User | None, digest: str, exclude_pk: int | None = None) -> tuple[int, int]:
    """How many residents hold the CCCD of ``digest``, and how many of them ``actor`` can see.

    One query whatever the answer, so its pattern and timing do not tell whether the number is held
    outside the actor's areas (``actor=None``, the system, sees everyone).
    """
    holders = Resident.objects.filter(citizen_id_hash=digest)
    if exclude_pk is not None:
        holders = holders.exclude(pk=exclude_pk)
    visible = holders if actor is None else scope_for(actor).filter(holders, area_field="village")
    counts = holders.aggregate(held=Count("pk"), seen=Count("pk", filter=Q(pk__in=visible.values("pk"))))
    return counts["held"], counts["seen"]


def _attach_citizen_id(
    *, actor: User | None, resident: Resident, value: str, exclude_pk: int | None = None, check_rate: bool = True
) -> None:
    """Give ``resident`` the (validated, consented) CCCD ``value``, or clear it for ``""``.

    The answer never depends on who holds the number outside the actor's areas: a number held by a
    resident the actor can see is refused ("already registered": they can see that resident); a
    number held only by residents they cannot see is stored exactly like a new one, marked
    ``citizen_id_disputed`` for an officer who sees both (the duplicates review) to settle. Each
    number checked counts against the actor's ``identifier_check`` rate (``check_rate``).
    """
    if not value:
        resident.citizen_id_ciphertext, resident.citizen_id_hash, resident.citizen_id_masked = "", None, ""
        resident.citizen_id_disputed = False
        return
    if check_rate:
        take_identifier_check(actor)
    digest = identifiers.keyed_hash("cccd", value)
    held, seen = citizen_id_holders(actor=actor, digest=digest, exclude_pk=exclude_pk)
    if seen:
        raise field_error(
            "citizen_id", _("A resident with this citizen ID is already registered."), code="duplicate_citizen_id"
        )
    resident.citizen_id_ciphertext = identifiers.encrypt(value)
    resident.citizen_id_hash = digest
    resident.citizen_id_masked = identifiers.mask_citizen_id(value)
    resident.citizen_id_disputed = held > 0


def _save_resident(resident: Resident, *, actor: User | None, citizen_id: str, exclude_pk: int | None = None) -> None:
    """Save ``resident``; if a concurrent registration took its new CCCD meanwhile, decide again."""
    if not citizen_id:
        resident.save()
        return
    # The same statements for a disputed number as for any other: the pattern tells nothing.
    try:
        with transaction.atomic():  # a savepoint: the unique index may refuse the row
            resident.save()
    except IntegrityError:
        # The other registration has committed: now it is a holder like any other.
        _attach_citizen_id(actor=actor, resident=resident, value=citizen_id, exclude_pk=exclude_pk, check_rate=False)
        resident.save()


def _set_phone(resident: Resident, raw: str) -> None:
    if not raw:
        resident.phone_ciphertext = ""
        resident.phone_hash = None
        resident.phone_masked = ""
        return
    try:
        value = identifiers.validate_phone(raw)
    except ValidationError as exc:
        raise ValidationError({"phone": exc.error_list}) from exc
    resident.phone_ciphertext = identifiers.encrypt(value)
    resident.phone_hash = identifiers.keyed_hash("phone", value)
    resident.phone_masked = identifiers.mask_phone(value)


def _check_name_and_sex(full_name: str, sex: str) -> str:
    full_name = normalise_name(full_name)
    if not full_name:
        raise field_error("full_name", _("Enter the resident's full name."), code="required")
    if sex not in Sex.values:
        raise field_error("sex", _("Choose male or female."), code="invalid_choice")
    return full_name


@transaction.atomic
def register_resident(
    *,
    actor: User | None,
    household: Household,
    full_name: str,
    sex: str,
    birth_year: int | None = None,
    birth_date: date | None = None,
    citizen_id: str = "",
    phone: str = "",
    ethnicity: str = "",
    consent: ConsentInput | None = None,
    check_rate: bool = True,
) -> Resident:
    """Register a resident in ``household``'s village and count them in the village's populations.

    Identifiers are validated (the CCCD must agree with birth year and sex), stored encrypted and
    masked only with a ``consent`` given now (recorded first), and only then is the CCCD looked up
    among other residents (``_attach_citizen_id``: the answer does not depend on residents outside
    the actor's areas; ``check_rate=False`` for imports, which count no identifier checks).
    Raises ``ValidationError`` naming the field.
    """
    ensure_can_write(actor, household.village, field="household")
    if not household.is_active:
        raise field_error("household", _("This household is no longer active."), code="inactive")
    full_name = _check_name_and_sex(full_name, sex)
    birth_year, birth_date = _clean_birth(birth_year, birth_date)
    resident = Resident(
        province_id=household.province_id,
        village_id=household.village_id,
        household=household,
        full_name=full_name,
        sex=sex,
        birth_year=birth_year,
        birth_date=birth_date,
        ethnicity=ethnicity.strip(),
    )
    # Checks that read no one else's data first (the numbers themselves, the consent), so that
    # "consent required" never depends on whether the number exists; the register last.
    value = _valid_citizen_id(resident, citizen_id.strip())
    _set_phone(resident, phone.strip())
    check_consent_input(consent, birth_year=birth_year, birth_date=birth_date)
    if citizen_id.strip() or phone.strip():
        require_consent_for_identifiers(resident, consent)
    _attach_citizen_id(actor=actor, resident=resident, value=value, check_rate=check_rate)
    _save_resident(resident, actor=actor, citizen_id=value)
    if consent is not None:
        create_consent(actor=actor, resident=resident, consent=consent)
    adjust_counts(resident.province_id, residents=[(None, resident_facts(resident))])
    return resident


@dataclass(frozen=True)
class ResidentInput:
    """One person registered with a new household (``register_household_with_residents``)."""

    full_name: str
    sex: str
    birth_year: int | None = None
    birth_date: date | None = None
    citizen_id: str = ""
    phone: str = ""
    ethnicity: str = ""
    consent: ConsentInput | None = None


MAX_HOUSEHOLD_RESIDENTS = 50


def _person_refused(position: int, exc: ValidationError) -> ValidationError:
    """``exc`` of the person at ``position`` as errors of ``residents[position].<field>``, with a summary."""
    errors: dict[str, list[ValidationError]] = {}
    if hasattr(exc, "error_dict"):
        for name, problems in exc.error_dict.items():
            key = f"residents[{position}]" if name == NON_FIELD_ERRORS else f"residents[{position}].{name}"
            errors[key] = list(problems)
    else:
        errors[f"residents[{position}]"] = list(exc.error_list)
    summary = ValidationError(
        _("Nothing was saved: person %(number)s could not be registered."),
        code="resident_refused",
        params={"number": position + 1},
    )
    return ValidationError({NON_FIELD_ERRORS: [summary], **errors})


@transaction.atomic
def register_household_with_residents(
    *,
    actor: User | None,
    village: Area,
    residents: Sequence[ResidentInput],
    code: str = "",
    head_name: str = "",
    address: str = "",
) -> tuple[Household, list[Resident]]:
    """Register a household in ``village`` together with its people: all of them, or nothing.

    What ``register_household`` and ``register_resident`` check, in one transaction. A refused
    person (a citizen ID already registered, a bad birth year...) raises ``ValidationError`` with
    that person's errors named ``residents[<position>].<field>`` and a summary saying nothing was
    saved; the household and the people before it are rolled back with it.
    """
    ensure_can_write(actor, village, field="village")
    if not residents:
        raise field_error("residents", _("Add at least one person to the household."), code="required")
    if len(residents) > MAX_HOUSEHOLD_RESIDENTS:
        raise field_error(
            "residents",
            _("At most %(limit)s people per household."),
            code="too_many",
            params={"limit": MAX_HOUSEHOLD_RESIDENTS},
        )
    # Savepoints would guard nothing: any error here rolls the whole registration back.
    household = in_callers_transaction(register_household)(
        actor=actor, village=village, code=code, head_name=head_name, address=address
    )
    created: list[Resident] = []
    for position, person in enumerate(residents):
        try:
            created.append(
                in_callers_transaction(register_resident)(
                    actor=actor,
                    household=household,
                    full_name=person.full_name,
                    sex=person.sex,
                    birth_year=person.birth_year,
                    birth_date=person.birth_date,
                    citizen_id=person.citizen_id,
                    phone=person.phone,
                    ethnicity=person.ethnicity,
                    consent=person.consent,
                )
            )
        except ValidationError as exc:
            raise _person_refused(position, exc) from exc
    return household, created


def _lock_resident(resident: Resident) -> Resident:
    return Resident.objects.select_for_update().get(pk=resident.pk)


@transaction.atomic
def update_resident(
    *,
    actor: User | None,
    resident: Resident,
    consent: ConsentInput | None = None,
    check_rate: bool = True,
    **changes: Any,
) -> Resident:
    """Change a resident's own fields (name, sex, birth, identifiers, ethnicity).

    A key that is present is applied; ``citizen_id=""`` or ``phone=""`` removes the identifier.
    Storing an identifier needs an open consent, or a ``consent`` given now (recorded here).
    A birth or sex change moves the resident between age bands and the counts follow; the CCCD
    must still agree with the new birth year and sex.
    """
    unknown = set(changes) - RESIDENT_FIELDS
    if unknown:
        raise ValueError(f"update_resident: unknown fields {sorted(unknown)}")
    resident = _lock_resident(resident)
    # Checked on the locked row: the village it is in now, not when the caller read it.
    ensure_can_write(actor, resident.village, field="resident")
    before = resident_facts(resident)
    full_name = _check_name_and_sex(changes.get("full_name", resident.full_name), changes.get("sex", resident.sex))
    if "birth_date" in changes or "birth_year" in changes:
        # A new year alone keeps a stored date of that year; a different year makes the date unknown.
        kept = (
            resident.birth_date
            if resident.birth_date and resident.birth_date.year == changes.get("birth_year")
            else None
        )
        birth_date = changes.get("birth_date", resident.birth_date if "birth_year" not in changes else kept)
        birth_year, birth_date = _clean_birth(changes.get("birth_year"), birth_date)
        resident.birth_year, resident.birth_date = birth_year, birth_date
    resident.full_name = full_name
    resident.sex = changes.get("sex", resident.sex)
    if "ethnicity" in changes:
        resident.ethnicity = (changes["ethnicity"] or "").strip()
    value = ""
    if "citizen_id" in changes:
        value = _valid_citizen_id(resident, (changes["citizen_id"] or "").strip())
    elif resident.citizen_id_ciphertext and ({"birth_year", "birth_date", "sex"} & set(changes)):
        # The stored CCCD must still agree with the corrected birth year and sex.
        stored = identifiers.decrypt(resident.citizen_id_ciphertext)
        try:
            identifiers.validate_citizen_id(stored, birth_year=resident.birth_year, sex=resident.sex)
        except ValidationError as exc:
            field = "sex" if exc.code == "citizen_id_sex" else "birth_year"
            raise ValidationError({field: exc.error_list}) from exc
    if "phone" in changes:
        _set_phone(resident, (changes["phone"] or "").strip())
    check_consent_input(consent, birth_year=resident.birth_year, birth_date=resident.birth_date)
    if changes.get("citizen_id") or changes.get("phone"):
        require_consent_for_identifiers(resident, consent)
    if "citizen_id" in changes:
        # As on registration: the register is read only after the checks of the person's own data.
        _attach_citizen_id(actor=actor, resident=resident, value=value, exclude_pk=resident.pk, check_rate=check_rate)
    if consent is not None:
        create_consent(actor=actor, resident=resident, consent=consent)
    _save_resident(resident, actor=actor, citizen_id=value, exclude_pk=resident.pk)
    adjust_counts(resident.province_id, residents=[(before, resident_facts(resident))])
    return resident


@transaction.atomic
def move_resident(*, actor: User | None, resident: Resident, household: Household) -> Resident:
    """Move a resident into another household (in the same or another village of the province)."""
    resident = _lock_resident(resident)
    ensure_can_write(actor, resident.village, field="resident")
    ensure_can_write(actor, household.village, field="household")
    if household.province_id != resident.province_id:
        raise field_error(
            "household",
            _("A move to another province is a move-out here and a registration there."),
            code="other_province",
        )
    if not household.is_active:
        raise field_error("household", _("This household is no longer active."), code="inactive")
    before = resident_facts(resident)
    left = resident.household_id
    resident.household = household
    resident.village_id = household.village_id
    resident.save(update_fields=["household", "village", "updated_at"])
    adjust_counts(
        resident.province_id,
        residents=[(before, resident_facts(resident))],
        # What each household holds through its members may change with who its members are.
        members_changed=[left, household.pk] if resident.capability_mask else (),
    )
    return resident


@transaction.atomic
def record_departure(*, actor: User | None, resident: Resident, status: str, on: date) -> Resident:
    """Record that a resident moved out or died on ``on``; they leave the counts from then on."""
    resident = _lock_resident(resident)
    ensure_can_write(actor, resident.village, field="resident")
    if status not in (ResidentStatus.MOVED_OUT, ResidentStatus.DECEASED):
        raise field_error("status", _("Choose moved out or deceased."), code="invalid_choice")
    if resident.status != ResidentStatus.ACTIVE:
        raise field_error("status", _("This resident has already left."), code="already_left")
    if on > today():
        raise field_error("on", _("The date is in the future."), code="future")
    if resident.birth_date and on < resident.birth_date:
        raise field_error("on", _("The date is before the birth date."), code="before_birth")
    before = resident_facts(resident)
    resident.status = status
    resident.left_on = on
    resident.save(update_fields=["status", "left_on", "updated_at"])
    adjust_counts(
        resident.province_id,
        residents=[(before, resident_facts(resident))],
        members_changed=[resident.household_id] if resident.capability_mask else (),
    )
    return resident


@transaction.atomic
def split_household(
    *, actor: User | None, residents: list[Resident], code: str = "", head_name: str = "", address: str = ""
) -> Household:
    """Form a new household, in the same village, from some members of one existing household."""
    if not residents:
        raise field_error("residents", _("Choose at least one resident."), code="required")
    locked = list(Resident.objects.select_for_update().filter(pk__in=[r.pk for r in residents]).order_by("pk"))
    if len({r.household_id for r in locked}) != 1:
        raise field_error("residents", _("The residents must come from one household."), code="several_households")
    old = Household.objects.get(pk=locked[0].household_id)
    ensure_can_write(actor, old.village, field="residents")
    new = register_household(actor=actor, village=old.village, code=code, head_name=head_name, address=address)
    Resident.objects.filter(pk__in=[r.pk for r in locked]).update(household=new)
    for resident in locked:
        resident.household = new
    audit.record_bulk(locked, action=AuditEntry.Action.UPDATE, fields=["household"])
    if any(resident.capability_mask for resident in locked):
        # Both households' holdings through members follow the members who moved.
        adjust_counts(old.province_id, members_changed=[old.pk, new.pk])
    return new
