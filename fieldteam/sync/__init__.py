"""Offline batch sync: households, residents, assistance logs and training sessions made on a phone.

The contract (the mobile web relies on it)::

    request  {"items": [{"kind": "household" | "resident" | "assistance_log" | "training_session",
                         "client_id": "<uuid>", "data": {...}}, ...]}          at most 500 items
    response {"results": [{"client_id": "<uuid>", "kind": "...",
                           "status": "created" | "already_received" | "conflict" | "rejected",
                           "id": "<server id>" | null, "errors": {"<field>": ["<message>"]}}, ...]}

- Each item is applied in its own transaction, in order, and gets its own result; a rejected item
  never blocks the others, and nothing of it is saved.
- Idempotent through ``SyncReceipt``, written in the item's transaction: the same client id with
  the same content (same kind and data, compared by hash) is "already received" and nothing
  happens twice; the same id with other content (or from another user) is a "conflict", reported
  and never merged.
- A later item may refer to an earlier one (of this batch or of an earlier one) by its client id:
  a resident to its household, a log to its resident or household, a session to its attendees.
- Assistance logs and training sessions take the client id as their primary key.

Only the envelope can fail the whole request (``sync_batch`` raises ``ValidationError``: not a
list, more than ``MAX_BATCH_ITEMS`` items, an item that is not an object). Writes go through the
services of each subject, which check scope and write rights, so sync can do nothing the single
endpoints could not.

The package, lowest first: ``fields`` (each input defined once: the readers read through these
definitions and ``fieldteam.api.inputs`` generates the API's schema from them), ``batch`` (what the
items of a request share, the result of each), ``items`` (one reader per kind, and what applies
it), ``envelope`` (the batch, receipts, transactions). Importers use the names below.
"""

from fieldteam.sync.batch import (
    ALREADY_RECEIVED,
    CONFLICT,
    CREATED,
    NON_FIELD,
    REJECTED,
    STATUSES,
    ItemResult,
    codes_by_field,
    messages_by_field,
)
from fieldteam.sync.envelope import envelope_items, receive_item, sync_batch
from fieldteam.sync.fields import (
    ASSISTANCE_LOG,
    HOUSEHOLD,
    KINDS,
    MAX_ATTENDEES,
    MAX_BATCH_ITEMS,
    MAX_LOG_ITEMS,
    RESIDENT,
    TRAINING_SESSION,
)

__all__ = [
    "ALREADY_RECEIVED",
    "ASSISTANCE_LOG",
    "CONFLICT",
    "CREATED",
    "HOUSEHOLD",
    "KINDS",
    "MAX_ATTENDEES",
    "MAX_BATCH_ITEMS",
    "MAX_LOG_ITEMS",
    "NON_FIELD",
    "REJECTED",
    "RESIDENT",
    "STATUSES",
    "TRAINING_SESSION",
    "ItemResult",
    "codes_by_field",
    "envelope_items",
    "messages_by_field",
    "receive_item",
    "sync_batch",
]
