"""Reading the audit trail: officers read the entries of their subtree, nobody changes them."""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Model, Q, QuerySet

from fieldteam.models import AuditEntry, User
from fieldteam.permissions import scope_for


def audit_trail_visible(*, user: User) -> QuerySet[AuditEntry]:
    """The entries ``user`` may read: a superuser all; a commune or province officer those filed
    under the subtrees of their officer roles (a province officer also the province's team and
    membership entries, filed under the province alone); viewers and team members none."""
    scope = scope_for(user)
    entries = AuditEntry.objects.select_related("actor", "content_type")
    if scope.everything:
        return entries
    if not scope.officer_paths:
        return entries.none()
    condition = reduce(
        or_,
        (Q(area__path__startswith=p) | Q(area__isnull=True, province__path=p) for p in scope.officer_paths),
    )
    return entries.filter(condition)


def audit_trail_of(*, user: User, instance: Model) -> QuerySet[AuditEntry]:
    """The entries about one row that ``user`` may read, newest first."""
    return audit_trail_visible(user=user).filter(
        object_pk=str(instance.pk), content_type__model=instance._meta.model_name
    )
