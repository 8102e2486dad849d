"""Showing a resident's identifiers unmasked: only to officers of the resident's area, each time recorded.

Everywhere else identifiers are masked. An officer may need the full number (to match a record
with the national population database, to answer the resident). They state why; the view is
written to the audit trail before the numbers are returned, so no unrecorded view can happen.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from fieldteam import audit, identifiers
from fieldteam.errors import field_error
from fieldteam.models import Resident, User
from fieldteam.permissions import ensure_officer

MAX_PURPOSE_LENGTH = 300


@dataclass(frozen=True)
class RevealedIdentifiers:
    citizen_id: str
    phone: str


@sensitive_variables("citizen_id", "phone")
@transaction.atomic
def reveal_identifiers(*, actor: User, resident: Resident, purpose: str) -> RevealedIdentifiers:
    """The resident's citizen ID and phone number in full, for an officer of their area.

    ``resident`` must already be in the actor's scope (the caller fetched it through a scoped
    selector); an actor in scope without an officer role is refused first (``ensure_officer``:
    ``read_only``). ``purpose`` is required and recorded with the view.
    """
    ensure_officer(
        actor, resident.village, field="resident", message=_("Only an officer of this area may see the full numbers.")
    )
    purpose = " ".join((purpose or "").split())
    if not purpose:
        raise field_error("purpose", _("Say why you need the full numbers."), code="required")
    if len(purpose) > MAX_PURPOSE_LENGTH:
        raise field_error(
            "purpose",
            _("Keep the reason under %(limit)s characters."),
            code="max_length",
            params={"limit": MAX_PURPOSE_LENGTH},
        )
    audit.check_free_text(field="purpose", text=purpose)
    fields = [
        name
        for name, token in (("citizen_id", resident.citizen_id_ciphertext), ("phone", resident.phone_ciphertext))
        if token
    ]
    audit.record_access(actor=actor, instance=resident, fields=fields, purpose=purpose)
    citizen_id = identifiers.decrypt(resident.citizen_id_ciphertext)
    phone = identifiers.decrypt(resident.phone_ciphertext)
    return RevealedIdentifiers(citizen_id=citizen_id, phone=phone)
