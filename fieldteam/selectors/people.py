"""Households and residents the acting user may see, by name, household or exact identifier.

Every function filters through ``scope_for(user)``; a row out of scope is answered exactly like a
missing one (``OutOfScope``, a 404). Identifiers are looked up only through their keyed hash: the
value itself is never stored in clear nor put in a query.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.views.decorators.debug import sensitive_variables

from fieldteam import identifiers
from fieldteam.models import Household, Resident, User
from fieldteam.names import fold_name
from fieldteam.permissions import scope_for
from fieldteam.selectors.field_work import int_pk
from fieldteam.selectors.indicators import OutOfScope


def households_visible(*, user: User) -> QuerySet[Household]:
    """The households in the user's areas, with their village."""
    return scope_for(user).filter(Household.objects.select_related("village")).order_by("village_id", "code", "pk")


def residents_visible(*, user: User) -> QuerySet[Resident]:
    """The residents in the user's areas, with their village."""
    return scope_for(user).filter(Resident.objects.select_related("village")).order_by("full_name", "pk")


def name_matches(query: str, *, prefix: str = "") -> Q:
    """Residents whose name holds every word of ``query``, whatever its case, accents or Unicode form.

    Compares folded forms (``fieldteam.names.fold_name``) through the stored ``search_name``, so
    "NGUYEN van an", "nguyễn văn an" and its decomposed copy find the same people on every database.
    ``prefix``: the path to the resident (``"residents__"``) when filtering another model.
    """
    condition = Q()
    for word in fold_name(query).split():
        condition &= Q(**{f"{prefix}search_name__contains": word})
    return condition


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
