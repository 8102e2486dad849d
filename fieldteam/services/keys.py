"""Rotation of the key that encrypts residents' citizen IDs and phone numbers.

``IDENTIFIER_ENCRYPTION_KEYS`` is a list of Fernet keys: the first encrypts, all decrypt. To
rotate, an operator puts a new key first (keeping the old ones after it), deploys, and runs
``manage.py rotate_identifier_keys``, which re-encrypts every ciphertext under the new key; the
old keys can then be removed from the list. The lookup hashes (``*_hash``) are made with
``IDENTIFIER_HASH_KEY``, a key of their own, so they do not change and exact searches keep working
throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from fieldteam import identifiers
from fieldteam.models import Resident

CIPHERTEXT_FIELDS = ("citizen_id_ciphertext", "phone_ciphertext")
DEFAULT_BATCH_SIZE = 500


class KeyRotationError(Exception):
    """The keys are missing or wrong, or a stored ciphertext opens with none of them."""


@dataclass
class RotationProgress:
    """Running totals, reported after each committed batch."""

    batches: int = 0
    scanned: int = 0  # residents holding at least one ciphertext
    rotated: int = 0  # residents whose ciphertexts were re-encrypted
    last_pk: int = 0  # resume after this one (``after_pk``) if the run is interrupted


def check_identifier_keys() -> None:
    """Raise ``KeyRotationError`` unless ``IDENTIFIER_ENCRYPTION_KEYS`` lists valid Fernet keys.

    The development fallback (a key derived from ``SECRET_KEY`` when the list is empty) is refused:
    a rotation must name the key it rotates to.
    """
    keys = list(settings.IDENTIFIER_ENCRYPTION_KEYS)
    if not keys:
        raise KeyRotationError(
            _("IDENTIFIER_ENCRYPTION_KEYS is empty: list the new key first, then the old key(s) it replaces.")
        )
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise KeyRotationError(
                _(
                    "IDENTIFIER_ENCRYPTION_KEYS entry %(position)s is not a Fernet key "
                    "(32 url-safe base64-encoded bytes, as made by Fernet.generate_key())."
                )
                % {"position": position}
            ) from exc


def _rotate_batch(*, after_pk: int, batch_size: int) -> tuple[int, int, int | None]:
    """Re-encrypt one batch of residents after ``after_pk``: (scanned, rotated, last pk or None)."""
    with transaction.atomic():
        # Locked while read: a correction committed between our read and our write would
        # otherwise be overwritten with the re-encrypted old value.
        rows = list(
            Resident.objects.filter(pk__gt=after_pk)
            .filter(~Q(citizen_id_ciphertext="") | ~Q(phone_ciphertext=""))
            .order_by("pk")
            .select_for_update()
            .only("pk", *CIPHERTEXT_FIELDS)[:batch_size]
        )
        if not rows:
            return 0, 0, None
        changed = []
        for resident in rows:
            stale = False
            for field in CIPHERTEXT_FIELDS:
                token = getattr(resident, field)
                if identifiers.is_current(token):
                    continue
                try:
                    setattr(resident, field, identifiers.rotate(token))
                except InvalidToken as exc:
                    raise KeyRotationError(
                        _(
                            "Resident #%(pk)s: %(field)s opens with none of IDENTIFIER_ENCRYPTION_KEYS; put the "
                            "key it was encrypted with back in the list (after the new one) and run again."
                        )
                        % {"pk": resident.pk, "field": field}
                    ) from exc
                stale = True
            if stale:
                changed.append(resident)
        # Only the ciphertexts: the hashes, masks and ``updated_at`` stay as they are.
        Resident.objects.bulk_update(changed, fields=list(CIPHERTEXT_FIELDS))
        return len(rows), len(changed), rows[-1].pk


def identifier_keys_rotate(
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_pk: int = 0,
    on_batch: Callable[[RotationProgress], None] | None = None,
) -> RotationProgress:
    """Re-encrypt every resident's citizen ID and phone under the first encryption key.

    Walks the residents by primary key (keyset pagination, ``batch_size`` at a time), each batch in
    its own transaction with its rows locked, so a long run holds no lock for long and an
    interrupted run keeps the batches it committed. Ciphertexts already under the first key are
    left untouched: a second run changes nothing (idempotent), and a re-run after a crash — from
    the start or from ``after_pk`` (the ``last_pk`` of the last reported batch) — only finishes the
    work. Lookup hashes are not touched (they use ``IDENTIFIER_HASH_KEY``).

    Raises ``KeyRotationError`` before any write if the keys are missing or malformed, and, in the
    batch that meets it, if a ciphertext opens with none of the keys (that batch is rolled back,
    earlier ones stay committed). ``on_batch`` is called with the running totals after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    check_identifier_keys()
    progress = RotationProgress(last_pk=after_pk)
    while True:
        scanned, rotated, last_pk = _rotate_batch(after_pk=progress.last_pk, batch_size=batch_size)
        if last_pk is None:
            return progress
        progress.batches += 1
        progress.scanned += scanned
        progress.rotated += rotated
        progress.last_pk = last_pk
        if on_batch is not None:
            on_batch(progress)
