"""The batch: its envelope, the receipts that make a resend harmless, and each item in its own transaction.

The contract is in ``fieldteam.sync``'s docstring; what each kind's data holds, in ``fieldteam.sync.fields``.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterator
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils.translation import gettext_lazy as _

from fieldteam import audit
from fieldteam.models import SyncReceipt, User
from fieldteam.rollup import fastlog
from fieldteam.services.assistance import content_hash
from fieldteam.sync.batch import (
    ALREADY_RECEIVED,
    CONFLICT,
    NON_FIELD,
    REJECTED,
    Batch,
    ItemResult,
    codes_by_field,
    messages_by_field,
)
from fieldteam.sync.fields import ASSISTANCE_LOG, BATCH_ITEMS_NAME, KINDS, MAX_BATCH_ITEMS
from fieldteam.sync.items import HANDLERS, MODELS, log_in_one_statement

logger = logging.getLogger(__name__)


def _earlier(batch: Batch, client_id: uuid.UUID, kind: str, digest: str, *, fresh: bool = False) -> ItemResult | None:
    """The result of an item received before under the same client id, if any.

    Reads the receipts read for the whole batch unless ``fresh`` (after a clash with a concurrent
    request) or none were read.
    """
    if batch.receipts is not None and not fresh:
        receipt = batch.receipts.get(client_id)
    else:
        receipt = SyncReceipt.objects.filter(pk=client_id).first()
    if receipt is None:
        return None
    if receipt.member_id == batch.actor.pk and receipt.kind == kind and receipt.content_hash == digest:
        batch.refs[client_id] = (kind, receipt.object_id)
        return ItemResult(str(client_id), kind, ALREADY_RECEIVED, receipt.object_id)
    same_sender = receipt.member_id == batch.actor.pk
    return _conflict(client_id, kind, receipt.object_id if same_sender else None)


def _taken_without_receipt(client_id: uuid.UUID, kind: str) -> ItemResult | None:
    """A log or session made elsewhere (admin, import) that holds this id: a conflict, never a merge."""
    model = MODELS.get(kind)
    if model is not None and model.objects.filter(pk=client_id).exists():
        return _conflict(client_id, kind, None)
    return None


def _conflict(client_id: uuid.UUID, kind: str, object_id: str | None) -> ItemResult:
    message = _("This client id was already used for other content; nothing was changed.")
    return ItemResult(
        str(client_id), kind, CONFLICT, object_id, {"client_id": [str(message)]}, {"client_id": ["conflict"]}
    )


def _rejected(
    client_id: object, kind: object, errors: dict[str, list[str]], codes: dict[str, list[str]] | None = None
) -> ItemResult:
    return ItemResult(
        client_id if isinstance(client_id, str) else None,
        kind if isinstance(kind, str) else "",
        REJECTED,
        None,
        errors,
        codes or {name: ["invalid"] * len(messages) for name, messages in errors.items()},
    )


def _envelope_errors(raw_id: object, kind: object, data: object) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(raw_id, str):
        errors["client_id"] = [str(_("Give the item's client id (a UUID)."))]
    else:
        try:
            uuid.UUID(raw_id)
        except ValueError:
            errors["client_id"] = [str(_("The client id must be a UUID."))]
    if kind not in KINDS:
        errors["kind"] = [str(_("Choose one of: %(choices)s.") % {"choices": ", ".join(KINDS)})]
    if not isinstance(data, dict):
        errors["data"] = [str(_("Send the item's data as an object."))]
    return errors


def _receive(batch: Batch, raw_id: object, kind: object, data: object) -> ItemResult:
    errors = _envelope_errors(raw_id, kind, data)
    if errors:
        return _rejected(raw_id, kind, errors)
    client_id = uuid.UUID(cast(str, raw_id))  # _envelope_errors checked it is a UUID string
    kind = str(kind)
    digest = content_hash({"kind": kind, "data": data})
    written = log_in_one_statement(batch, client_id, kind, data, digest)
    if written is not None:
        return written
    # A single item (no receipts read ahead for it) goes straight to its transaction: a resend then
    # meets its id already taken (IntegrityError) or, if its checks fail now, the receipt read
    # before answering. The rare resend pays that query, not every item.
    optimistic = batch.receipts is None
    for attempt in range(2):
        if attempt or not optimistic:
            earlier = _earlier(batch, client_id, kind, digest, fresh=attempt > 0)
            if earlier is not None:
                return earlier
        try:
            # The trail's entries of the item's rows in one insert, in the item's transaction.
            with transaction.atomic(), audit.collected():
                # _envelope_errors checked the kind and that data is a dict.
                obj, province_id = HANDLERS[kind](batch, client_id, cast("dict[str, Any]", data), digest)
                receipt = SyncReceipt.objects.create(
                    client_id=client_id,
                    province_id=province_id,
                    kind=kind,
                    content_hash=digest,
                    object_id=str(obj.pk),
                    member=batch.actor,
                )
        except ValidationError as exc:
            earlier = _earlier(batch, client_id, kind, digest) if optimistic and not attempt else None
            if earlier is not None:
                return earlier
            return _rejected(str(client_id), kind, messages_by_field(exc), codes_by_field(exc))
        except IntegrityError:
            # A concurrent resend committed first, the id is a log's made elsewhere, or a unique
            # value was taken meanwhile: look again (the receipt, the row holding the id, or the
            # service's own check now gives the answer).
            if not attempt:
                continue
            taken = _taken_without_receipt(client_id, kind)
            if taken is not None:
                return taken
            raise
        if kind == ASSISTANCE_LOG and fastlog.enabled():
            # The one statement left a log it could have written: tests require a reason (a marker).
            fastlog.USE.written_by_orm(f"{client_id}: the ORM path wrote it")
        return batch.created(client_id, kind, obj, receipt)
    raise AssertionError("unreachable")  # pragma: no cover


def _receive_safely(batch: Batch, raw_id: object, kind: object, data: object) -> ItemResult:
    """``_receive``, turning an unexpected failure of one item into its rejection.

    A transient database failure (lost connection, deadlock, serialisation) propagates: the
    whole request fails and the phone sends the batch again, the items already applied being
    recognised by their receipts.
    """
    try:
        return _receive(batch, raw_id, kind, data)
    except OperationalError:
        raise
    except Exception:  # one item's bug must not withhold the other items' results (logged)
        logger.exception("sync item %r (%r) failed", raw_id, kind)
        message = _("The server could not process this item; nothing of it was saved. Send it again later.")
        return _rejected(raw_id, kind, {NON_FIELD: [str(message)]}, {NON_FIELD: ["server_error"]})


def envelope_items(payload: object) -> list[dict[str, Any]]:
    """The items of a batch request, or ``ValidationError`` for a malformed or oversize envelope."""
    if not isinstance(payload, dict):
        raise ValidationError({NON_FIELD: [ValidationError(_('Send a JSON object with "items".'), code="invalid")]})
    items = payload.get(BATCH_ITEMS_NAME)
    if not isinstance(items, list):
        raise ValidationError({BATCH_ITEMS_NAME: [ValidationError(_("Send the items as a list."), code="invalid")]})
    if len(items) > MAX_BATCH_ITEMS:
        raise ValidationError(
            {
                BATCH_ITEMS_NAME: [
                    ValidationError(
                        _("At most %(limit)s items per request; send the rest in another one."),
                        code="too_many",
                        params={"limit": MAX_BATCH_ITEMS},
                    )
                ]
            }
        )
    problems = {
        f"{BATCH_ITEMS_NAME}[{position}]": [
            ValidationError(_("Each item is an object with kind, client_id and data."), code="invalid")
        ]
        for position, item in enumerate(items)
        if not isinstance(item, dict)
    }
    if problems:
        raise ValidationError(problems)
    return items


def sync_batch(*, actor: User, payload: object) -> list[ItemResult]:
    """Apply a batch made offline, item by item, in order; one result per item, in the same order.

    Not one transaction: each item is its own (see the module's docstring). Raises
    ``ValidationError`` only for a malformed or oversize envelope, before anything is applied.
    """
    items = envelope_items(payload)
    batch = Batch(actor, deferred_flush=True)
    batch.receipts = _receipts_of(items)
    with _commits_without_waiting_for_the_flush(batch):
        results = [_receive_safely(batch, item.get("client_id"), item.get("kind"), item.get("data")) for item in items]
    _flush(batch)
    return results


def _receipts_of(items: list[dict[str, Any]]) -> dict[uuid.UUID, SyncReceipt]:
    """The receipts already held for the batch's client ids, in one query."""
    ids = set()
    for item in items:
        raw = item.get("client_id")
        if isinstance(raw, str):
            try:
                ids.add(uuid.UUID(raw))
            except ValueError:
                continue
    return {receipt.client_id: receipt for receipt in SyncReceipt.objects.filter(pk__in=ids)} if ids else {}


@contextlib.contextmanager
def _commits_without_waiting_for_the_flush(batch: Batch) -> Iterator[None]:
    """PostgreSQL: let the items' transactions commit without waiting for their WAL to reach disk.

    Safe because ``_flush`` makes the WAL durable before the batch is answered: a crash before
    then loses only items the phone was never told about, and it sends them again. Set for the
    session around the items (two round trips a batch, not one an item), then set back to what
    it was, before ``_flush``'s synchronous commit.
    """
    if not batch.deferred_flush:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('synchronous_commit')")
        (before,) = cursor.fetchone()
        cursor.execute("SELECT set_config('synchronous_commit', 'off', false)")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('synchronous_commit', %s, false)", [before])
        except (InterfaceError, OperationalError):
            # Never hand a persistent connection on with commits that are not durable: drop it
            # (the error that brought us here, if any, is the one that propagates).
            connection.close()


def _flush(batch: Batch) -> None:
    """Make every item committed so far durable with one synchronous commit, before answering.

    WAL is flushed in order, so one synchronous commit that writes covers every asynchronous
    commit before it: here a no-op update of the last receipt written (one fsync instead of one
    per item).
    """
    if not batch.deferred_flush or batch.last_created is None:
        return
    with transaction.atomic():
        SyncReceipt.objects.filter(pk=batch.last_created).update(received_at=F("received_at"))


def receive_item(*, actor: User, kind: str, client_id: uuid.UUID | None, data: object) -> ItemResult:
    """Apply one item as sync would (for the single-item endpoints used online).

    Without ``client_id`` a fresh one is made; with it, a resend is recognised as in a batch.
    """
    batch = Batch(actor)
    return _receive_safely(batch, str(client_id or uuid.uuid4()), kind, data)
