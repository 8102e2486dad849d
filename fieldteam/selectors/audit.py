"""Reading the audit trail: officers read the entries of their subtree, nobody changes them."""

from __future__ import annotations

from django.db.models import Model, QuerySet

from fieldteam.models import AuditEntry, User
from fieldteam.selectors.scope import scope_for


def audit_trail_visible(*, user: User) -> QuerySet[AuditEntry]:
    """The entries ``user`` may read: a superuser all, an officer or viewer with an area role those
    filed under their subtree (a province role also reads the province's team and membership
    entries, which are filed under the province alone); team members none."""
    scope = scope_for(user)
    entries = AuditEntry.objects.select_related("actor", "content_type")
    if scope.everything:
        return entries
    if not scope.is_staff_scope:
        return entries.none()
    return scope.filter(entries, area_field="area")


def audit_trail_of(*, user: User, instance: Model) -> QuerySet[AuditEntry]:
    """The entries about one row that ``user`` may read, newest first."""
    return audit_trail_visible(user=user).filter(
        object_pk=str(instance.pk), content_type__model=instance._meta.model_name
    )
