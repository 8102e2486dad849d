"""Households and residents the acting user may see, by name, household or exact identifier.

Every function filters through ``scope_for(user)``; a row out of scope is answered exactly like a
missing one (``OutOfScope``, a 404). Identifiers are looked up only through their keyed hash: the
value itself is never stored in clear nor put in a query.
"""

from __future__ import annotations

import re

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.views.decorators.debug import sensitive_variables

from fieldteam import identifiers
from fieldteam.models import Household, Resident, User
from fieldteam.names import fold_name, normalise_name
from fieldteam.permissions import scope_for
from fieldteam.selectors.field_work import int_pk
from fieldteam.selectors.indicators import OutOfScope


def households_visible(*, user: User) -> QuerySet[Household]:
    """The households in the user's areas, with their village."""
    return scope_for(user).filter(Household.objects.select_related("village")).order_by("village_id", "code", "pk")


def residents_visible(*, user: User) -> QuerySet[Resident]:
    """The residents in the user's areas, with their village."""
    return scope_for(user).filter(Resident.objects.select_related("village")).order_by("full_name", "pk")


# What may stand before a word of a name: a space, an apostrophe (straight or typographic), a hyphen.
WORD_SEPARATORS = (" ", "'", "\u2019", "-")
# The same, as a regular expression's character class (the hyphen last: a literal one).
_SEPARATOR_CLASS = "".join(sorted(WORD_SEPARATORS, key=lambda separator: separator == "-"))
# A trigram index looks up words of at least this many characters.
_TRIGRAM = 3


def name_matches(query: str, *, prefix: str = "") -> Q:
    """Residents each word of whose ``query`` begins a word of their name, whatever case, accents or Unicode form.

    Compares folded forms (``fieldteam.names.fold_name``) through the stored ``search_name``, so
    "NGUYEN van an", "nguyễn văn an" and its decomposed copy find the same people on every database.
    A word matches the start of a word only: "an" finds "Anh" and "An", not "Lan" nor "Làng" (issue
    16). ``prefix``: the path to the resident (``"residents__"``) when filtering another model.
    """
    words = fold_name(query).split()
    # The word at the start, or after a separator: a word also starts after an apostrophe or a
    # hyphen ("linh" finds "H'Linh", "Y-Blih" "blih"). One regular expression a word, not an OR of
    # LIKEs: PostgreSQL's trigram index (migration 0028) answers all the words of a query in one
    # index scan, where five LIKEs a word took five scans each. Words all shorter than a trigram
    # have none to look up: the rows are read, and five LIKEs cost half the regular expression per
    # row (bench/RESULTS-api.md). Both mean the same.
    if any(len(word) >= _TRIGRAM for word in words):
        condition = Q()
        for word in words:
            condition &= Q(**{f"{prefix}search_name__regex": f"(^|[{_SEPARATOR_CLASS}]){re.escape(word)}"})
        return condition
    condition = Q()
    for word in words:
        matches = Q(**{f"{prefix}search_name__startswith": word})
        for separator in WORD_SEPARATORS:
            matches |= Q(**{f"{prefix}search_name__contains": f"{separator}{word}"})
        condition &= matches
    return condition


def name_rank(query: str) -> Case:
    """0 for the name exactly as typed, 1 the same name without accents, 2 a name starting so, 3 the rest."""
    return Case(
        When(full_name=normalise_name(query), then=Value(0)),
        When(search_name=fold_name(query), then=Value(1)),
        When(search_name__startswith=fold_name(query), then=Value(2)),
        default=Value(3),
        output_field=IntegerField(),
    )


def household_get(*, user: User, household_id: object) -> Household:
    household = households_visible(user=user).filter(pk=int_pk(household_id)).first()
    if household is None:
        raise OutOfScope
    return household


def resident_get(*, user: User, resident_id: object) -> Resident:
    resident = residents_visible(user=user).filter(pk=int_pk(resident_id)).first()
    if resident is None:
        raise OutOfScope
    return resident


@sensitive_variables("citizen_id", "phone")
def residents_by_identifier(*, user: User, citizen_id: str = "", phone: str = "") -> QuerySet[Resident]:
    """Residents in scope with exactly this (already validated) CCCD or phone number.

    A CCCD belongs to one person, so at most one row; a phone number may be shared in a family.
    """
    queryset = residents_visible(user=user)
    if citizen_id:
        queryset = queryset.filter(citizen_id_hash=identifiers.citizen_id_hash(citizen_id))
    if phone:
        queryset = queryset.filter(phone_hash=identifiers.phone_hash(phone))
    if not citizen_id and not phone:
        return queryset.none()
    return queryset
