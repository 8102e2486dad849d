"""Consent: recorded before a resident's identifiers are stored, withdrawn at the resident's word.

The Personal Data Protection Law (91/2025/QH15) asks for consent that is explicit, verifiable, for
stated purposes and withdrawable. A consent record says which purposes, how it was given, when,
which version of the notice was shown and who recorded it. A citizen ID or phone number is stored
only for a resident with an open consent for digital assistance (``require_consent_for_identifiers``,
called by every write path that stores one). Withdrawal erases the identifiers; the resident's
contribution to the counts stays, since the counts hold no one's identity.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import ConsentChannel, ConsentPurpose
from fieldteam.errors import field_error
from fieldteam.models import ConsentRecord, Resident, User
from fieldteam.permissions import ensure_can_write
from fieldteam.services.privacy import erase_identifiers

# The notice a member reads out or shows before asking; a new wording gets a new version, and old
# versions stay listed so that records made under them can still be read.
CURRENT_NOTICE_VERSION = "2026-01"
NOTICES = {
    "2026-01": _(
        "The community digital-technology team of your village records your name, birth date or year, "
        "sex and household, and, only if you agree, your citizen ID number and phone number. We use them "
        "to help you with digital services and, without naming anyone, to count how many people in the "
        "village use them for the province's digital-society plan. Your citizen ID and phone number are "
        "stored encrypted and shown to team members only partly hidden. You may ask to see, correct or "
        "receive a copy of your data, and you may withdraw this consent at any time: your citizen ID and "
        "phone number are then erased, and the counts you were part of stay, without your name."
    ),
}
# No consent is dated before Decree 13/2023/ND-CP (personal data protection, in force 1 July 2023)
# made recorded consent the rule: an earlier date is a typing error (1800-01-01, 0023-...).
EARLIEST_CONSENT_DATE = dt.date(2023, 7, 1)
# A phone's clock may run a little ahead of the server's.
CLOCK_SKEW = dt.timedelta(minutes=10)
# Storing identifiers needs consent for this purpose.
IDENTIFIER_PURPOSE = ConsentPurpose.DIGITAL_ASSISTANCE
# What a member asks for by default: help now, and being counted (anonymously) in the plan.
DEFAULT_PURPOSES = (ConsentPurpose.DIGITAL_ASSISTANCE, ConsentPurpose.STATISTICS)


@dataclass(frozen=True)
class ConsentInput:
    """A consent as a member records it on the spot (the API's and the forms' ``consent`` object)."""

    channel: str
    notice_version: str = CURRENT_NOTICE_VERSION
    purposes: tuple[str, ...] = DEFAULT_PURPOSES
    given_at: dt.datetime | None = None


def has_open_consent(resident: Resident, purpose: str = IDENTIFIER_PURPOSE) -> bool:
    """Whether ``resident`` has a consent for ``purpose`` that has not been withdrawn."""
    if resident.pk is None:
        return False
    return any(
        purpose in (c.purposes or [])
        for c in ConsentRecord.objects.filter(resident=resident, withdrawn_at__isnull=True)
    )


def _check(consent: ConsentInput, *, birth_year: int | None = None, birth_date: dt.date | None = None) -> None:
    purposes = list(consent.purposes or ())
    if not purposes or any(p not in ConsentPurpose.values for p in purposes):
        raise field_error("consent.purposes", _("Choose the purposes the resident agreed to."), code="invalid_choice")
    if consent.channel not in ConsentChannel.values:
        raise field_error("consent.channel", _("Choose how the consent was given."), code="invalid_choice")
    if consent.notice_version not in NOTICES:
        raise field_error(
            "consent.notice_version",
            _("Unknown notice version %(version)s; the current one is %(current)s."),
            code="unknown_notice",
            params={"version": consent.notice_version, "current": CURRENT_NOTICE_VERSION},
        )
    check_given_at(consent.given_at, birth_year=birth_year, birth_date=birth_date)


def check_given_at(
    given_at: dt.datetime | dt.date | None,
    *,
    birth_year: int | None = None,
    birth_date: dt.date | None = None,
    field: str = "consent.given_at",
    today: dt.date | None = None,
) -> None:
    """Refuse a consent date in the future, before ``EARLIEST_CONSENT_DATE`` or before the person's birth.

    ``given_at`` is a time (API, sync, admin) or a day (an import's "Ngày ký đồng ý"); ``None`` is
    now. With only a birth year, a consent before 1 January of that year is refused. The error
    names ``field``. ``today``: the local date now, when the caller has it (an import of many rows
    reads it once); read here otherwise.
    """
    if given_at is None:
        return
    if isinstance(given_at, dt.datetime):
        if given_at > timezone.now() + CLOCK_SKEW:
            raise field_error(field, _("The time is in the future."), code="future")
        day = timezone.localtime(given_at).date() if timezone.is_aware(given_at) else given_at.date()
    else:
        day = given_at
        if day > (today or timezone.localdate()):
            raise field_error(field, _("The date is in the future."), code="future")
    if day < EARLIEST_CONSENT_DATE:
        raise field_error(
            field,
            _("A consent cannot be dated before %(date)s, when consent to the processing of personal data began to be recorded."),
            code="too_early",
            params={"date": EARLIEST_CONSENT_DATE.strftime("%d/%m/%Y")},
        )
    born = birth_date or (dt.date(birth_year, 1, 1) if birth_year else None)
    if born is not None and day < born:
        raise field_error(field, _("The consent is dated before the person's birth."), code="before_birth")


def check_consent_input(
    consent: ConsentInput | None, *, birth_year: int | None = None, birth_date: dt.date | None = None
) -> None:
    """Validate a consent given with a registration before anything is written (errors name ``consent.*``)."""
    if consent is not None:
        _check(consent, birth_year=birth_year, birth_date=birth_date)


def require_consent_for_identifiers(resident: Resident, consent: ConsentInput | None) -> None:
    """Refuse to store identifiers for a resident with no open consent and none given now."""
    if consent is None and not has_open_consent(resident):
        raise field_error(
            "consent",
            _(
                "Record the resident's consent (the notice shown and how it was given) before storing a citizen ID or phone number."
            ),
            code="consent_required",
        )


def consent_record(*, actor: User | None, resident_id: int, province_id: int, consent: ConsentInput) -> ConsentRecord:
    """The (unsaved) record of a checked ``consent``: ``create_consent`` saves one, a bulk import many."""
    return ConsentRecord(
        province_id=province_id,
        resident_id=resident_id,
        purposes=list(dict.fromkeys(consent.purposes)),
        channel=consent.channel,
        notice_version=consent.notice_version,
        given_at=consent.given_at or timezone.now(),
        recorded_by=actor,
    )


def create_consent(*, actor: User | None, resident: Resident, consent: ConsentInput) -> ConsentRecord:
    """Write one consent record (the caller holds the transaction and has checked scope)."""
    _check(consent, birth_year=resident.birth_year, birth_date=resident.birth_date)
    record = consent_record(actor=actor, resident_id=resident.pk, province_id=resident.province_id, consent=consent)
    record.resident = resident
    record.save()
    return record


@transaction.atomic
def record_consent(*, actor: User | None, resident: Resident, consent: ConsentInput) -> ConsentRecord:
    """Record a resident's consent, given now or on paper earlier (``consent.given_at``)."""
    ensure_can_write(actor, resident.village, field="resident")
    return create_consent(actor=actor, resident=resident, consent=consent)


@transaction.atomic
def withdraw_consent(*, actor: User | None, resident: Resident, when: dt.datetime | None = None) -> int:
    """Record the withdrawal of every open consent of ``resident`` and erase their identifiers.

    Returns the number of consents withdrawn. Adoptions, logs and counts stay: they name no
    identifier, and the person's aggregate contribution is kept as the law allows.
    """
    ensure_can_write(actor, resident.village, field="resident")
    when = when or timezone.now()
    withdrawn = 0
    for record in ConsentRecord.objects.select_for_update().filter(resident=resident, withdrawn_at__isnull=True):
        record.withdrawn_at = max(when, record.given_at)
        record.withdrawn_recorded_by = actor
        record.save(update_fields=["withdrawn_at", "withdrawn_recorded_by"])
        withdrawn += 1
    erase_identifiers(actor=actor, resident=resident, reason="consent_withdrawn")
    return withdrawn
