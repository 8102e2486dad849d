"""What the items of a batch share (``Batch``), and the result of each item (``ItemResult``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection

from fieldteam.models import Area, Capability, Household, SyncReceipt, Team, User
from fieldteam.permissions import scope_for
from fieldteam.selectors.field_work import teams_visible
from fieldteam.sync.fields import HOUSEHOLD

NON_FIELD = "non_field_errors"

CREATED = "created"
ALREADY_RECEIVED = "already_received"
CONFLICT = "conflict"
REJECTED = "rejected"
STATUSES = (CREATED, ALREADY_RECEIVED, CONFLICT, REJECTED)


def messages_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """A ``ValidationError``'s translated messages by field; errors of no field under ``non_field_errors``."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if name == NON_FIELD_ERRORS else name): [str(m) for m in messages]
            for name, messages in exc.message_dict.items()
        }
    return {NON_FIELD: [str(m) for m in exc.messages]}


def codes_by_field(exc: ValidationError) -> dict[str, list[str]]:
    """The stable codes of a ``ValidationError``'s messages, keyed like ``messages_by_field``."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if name == NON_FIELD_ERRORS else name): [e.code or "invalid" for e in errors]
            for name, errors in exc.error_dict.items()
        }
    return {NON_FIELD: [e.code or "invalid" for e in exc.error_list]}


@dataclass
class ItemResult:
    """The result of one item, in the shape of the contract."""

    client_id: str | None
    kind: str
    status: str
    id: str | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    # Not part of the contract: for the single endpoints, which answer with the error codes too,
    # and with the object created.
    codes: dict[str, list[str]] = field(default_factory=dict, repr=False, compare=False)
    created: Any = field(default=None, repr=False, compare=False)
    # The people registered with a household item: [{"client_id", "id"}] (only then in the answer).
    residents: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        answer: dict[str, object] = {
            "client_id": self.client_id,
            "kind": self.kind,
            "status": self.status,
            "id": self.id,
            "errors": self.errors,
        }
        if self.residents:
            answer["residents"] = self.residents
        return answer


class Batch:
    """What the items of one request share: the actor, the client ids received so far, a few lookups."""

    def __init__(self, actor: User, *, deferred_flush: bool = False) -> None:
        self.actor = actor
        self.refs: dict[uuid.UUID, tuple[str, str]] = {}
        # Households created by this batch, by client id: a resident of the same batch joins one
        # without reading it back.
        self.households: dict[uuid.UUID, Household] = {}
        # What the item being applied created under client ids of its own (the people of a
        # household item): (client id, kind, server id), remembered only once the item is created.
        self.nested: list[tuple[uuid.UUID, str, str]] = []
        # Receipts of the batch's client ids, read in one query before the items (``None``: not read).
        self.receipts: dict[uuid.UUID, SyncReceipt] | None = None
        # PostgreSQL: each item commits without waiting for its WAL flush; one flush at the end.
        self.deferred_flush = deferred_flush and connection.vendor == "postgresql"
        self.last_created: uuid.UUID | None = None
        self._capabilities: dict[str, Capability] | None = None
        self._teams: dict[int, Team | None] = {}
        self._team_paths: dict[int, list[str]] = {}
        self._areas: dict[int, Area | None] = {}

    def capabilities(self) -> dict[str, Capability]:
        if self._capabilities is None:
            self._capabilities = {c.code: c for c in Capability.objects.all()}
        return self._capabilities

    def team(self, team_id: int) -> Team | None:
        if team_id not in self._teams:
            scope = scope_for(self.actor)
            founded_on = scope.founding_of_team(team_id)
            if founded_on is not None:
                # The actor's own (active) team, as read with the scope: what the checks of team
                # work need; any other field is loaded if something asks for it.
                known = {"id": team_id, "founded_on": founded_on, "is_active": True}
                names = [f.attname for f in Team._meta.concrete_fields if f.attname in known]  # in the model's order
                self._teams[team_id] = Team.from_db(connection.alias, names, [known[name] for name in names])
                return self._teams[team_id]
            # The actor's own teams are visible by definition: a plain lookup, no scope subquery.
            own = team_id in scope.team_ids
            teams = Team.objects.all() if own else teams_visible(user=self.actor)
            try:  # ``get``, not ``first``: no ORDER BY to build and run
                self._teams[team_id] = teams.get(pk=team_id)
            except Team.DoesNotExist:
                self._teams[team_id] = None
        return self._teams[team_id]

    def team_paths(self, team: Team) -> list[str]:
        """The paths of the areas ``team`` serves (one query per team and batch)."""
        if team.pk not in self._team_paths:
            known = scope_for(self.actor).paths_of_team(team.pk)  # the actor's own team: read with the scope
            self._team_paths[team.pk] = (
                list(known) if known is not None else list(team.areas.values_list("path", flat=True))
            )
        return self._team_paths[team.pk]

    def area(self, area_id: int) -> Area | None:
        if area_id not in self._areas:
            area = Area.objects.filter(pk=area_id).first()
            self._areas[area_id] = area if area is not None and scope_for(self.actor).contains(area) else None
        return self._areas[area_id]

    def created(self, client_id: uuid.UUID, kind: str, obj: Any, receipt: SyncReceipt | None) -> ItemResult:
        """Remember an item just created (later items may refer to it, or repeat it) and give its result."""
        self.refs[client_id] = (kind, str(obj.pk))
        nested: list[dict[str, str]] = []
        if kind == HOUSEHOLD:
            self.households[client_id] = obj
            for nested_id, nested_kind, object_id in self.nested:
                self.refs[nested_id] = (nested_kind, object_id)
                nested.append({"client_id": str(nested_id), "id": object_id})
        self.nested = []
        self.last_created = client_id
        if self.receipts is not None and receipt is not None:  # the same id again later in this batch is a resend
            self.receipts[client_id] = receipt
        return ItemResult(str(client_id), kind, CREATED, str(obj.pk), created=obj, residents=nested)

    def object_id(self, client_id: uuid.UUID, kind: str) -> str | None:
        """The server id of an item received earlier under ``client_id`` (this batch or before)."""
        known = self.refs.get(client_id)
        if known is not None:
            return known[1] if known[0] == kind else None
        return SyncReceipt.objects.filter(pk=client_id, kind=kind).values_list("object_id", flat=True).first()
