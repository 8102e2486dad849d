"""The audit trail: who changed or looked at what, and when (django-auditlog's entry, placed in the tree).

django-auditlog was chosen over django-simple-history (a shadow table per model, and its signals miss
bulk writes just the same) and django-pghistory (triggers: PostgreSQL only, while the embedded default is
SQLite). Its single table takes one extra column pair here, ``area`` and ``province``, so that an officer
reads the trail of their own subtree through the same scoping rule as everything else. Bulk writes,
which fire no signals, are recorded explicitly by ``fieldteam.audit.record_bulk``.

The trail is append-only: ``save`` refuses to change an entry, ``delete`` refuses to remove one, and on
PostgreSQL a trigger refuses UPDATE and DELETE whatever the client (see the 0005 migration).
Personal values never enter it (``fieldteam.audit`` masks them), so erasing a person needs no rewrite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from auditlog.models import AbstractLogEntry, LogEntryManager
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditTrailIsAppendOnly(Exception):
    """Raised on any attempt to change or remove an audit entry."""


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AuditTrailIsAppendOnly("audit entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AuditTrailIsAppendOnly("audit entries cannot be deleted")


@dataclass(frozen=True)
class EntryHooks:
    """Where an entry about an instance is filed, and how it is described without personal values."""

    place_of: Callable[[models.Model], tuple[int | None, int | None]]
    describe: Callable[[models.Model], str]


# Installed by ``fieldteam.audit.register_models`` (from the app config): models sit below the audit
# module and do not import it.
_hooks: list[EntryHooks] = []


def install_entry_hooks(hooks: EntryHooks) -> None:
    """Make every entry auditlog writes from now on use ``hooks`` (called once, at start-up)."""
    _hooks[:] = [hooks]


class AuditEntryManager(LogEntryManager.from_queryset(AuditEntryQuerySet)):  # type: ignore[misc]  # django-stubs cannot follow a manager class made by from_queryset
    def log_create(self, instance: models.Model, force_log: bool = False, **kwargs: Any) -> AuditEntry | None:
        # Every entry auditlog makes from a signal passes here: place it in the tree and keep
        # personal values out of its description.
        if not _hooks:
            raise ImproperlyConfigured("fieldteam.audit.register_models() has not run: no audit entry hooks")
        hooks = _hooks[0]
        area_id, province_id = hooks.place_of(instance)
        kwargs.setdefault("area_id", area_id)
        kwargs.setdefault("province_id", province_id)
        kwargs.setdefault("object_repr", hooks.describe(instance))
        return super().log_create(instance, force_log=force_log, **kwargs)


class AuditEntry(AbstractLogEntry):
    # Every write inserts entries, and each index costs every insert: only the indexes the trail is
    # read by are kept (the province's recent entries, one object's history, an actor's or an
    # area's entries, a time range). django-auditlog's own single-column indexes on the object's
    # key, action, correlation id and content type are dropped (the last is the head of
    # ``audit_object_idx``), and so is the content type's foreign-key check.
    content_type = models.ForeignKey(
        to="contenttypes.ContentType",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("content type"),
        db_index=False,
        db_constraint=False,  # content types outlive nothing here; no check per entry inserted
    )
    object_pk = models.CharField(max_length=255, verbose_name=_("object pk"))
    object_id = models.BigIntegerField(blank=True, null=True, verbose_name=_("object id"))
    action = models.PositiveSmallIntegerField(choices=AbstractLogEntry.Action.choices, verbose_name=_("action"))
    cid = models.CharField(max_length=255, blank=True, null=True, verbose_name=_("Correlation ID"))  # noqa: DJ001 (as django-auditlog)
    # No database constraints: the trail outlives the users and areas it names, and it is never
    # updated (a SET NULL on deleting a user would be an update; the PostgreSQL trigger refuses it).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    area = models.ForeignKey(
        "fieldteam.Area",
        verbose_name=_("area"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        blank=True,
        related_name="+",
    )
    province = models.ForeignKey(
        "fieldteam.Area",
        verbose_name=_("province"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # the head of audit_province_time_idx
        null=True,
        blank=True,
        related_name="+",
    )

    objects = AuditEntryManager()

    class Meta(AbstractLogEntry.Meta):
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")
        indexes = [
            models.Index(fields=["province", "-timestamp"], name="audit_province_time_idx"),
            models.Index(fields=["content_type", "object_pk"], name="audit_object_idx"),
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AuditTrailIsAppendOnly("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AuditTrailIsAppendOnly("audit entries cannot be deleted")
