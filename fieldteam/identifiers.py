"""Citizen IDs (CCCD) and phone numbers: normalise, validate, encrypt, hash for lookup, mask.

Nothing here touches the database. Ciphertexts use Fernet (AES-128-CBC + HMAC) through
MultiFernet, so a new key can be put first and old rows re-encrypted in batches. Lookups use an
HMAC-SHA256 under a key of its own, so rotating the encryption key never changes a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import Sex

# Codes of the 63 provinces before the 2025 merger: the first three CCCD digits name the province
# where the birth was registered, and these codes did not change with the merger.
OLD_PROVINCE_CODES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035 036 "
    "037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074 075 "
    "077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)

_SEPARATORS = re.compile(r"[\s.\-()]")
_CITIZEN_ID = re.compile(r"[0-9]{12}")  # ASCII digits only: "٠" is a digit to \d
_MOBILE = re.compile(r"0[35789][0-9]{8}")


def normalize_citizen_id(raw: str) -> str:
    """Strip spaces, dots and dashes people type between digit groups."""
    return _SEPARATORS.sub("", raw or "")


def citizen_id_birth_century_and_sex(citizen_id: str) -> tuple[int, str]:
    """Century (1900, 2000, ...) and sex encoded by the CCCD's fourth digit."""
    digit = int(citizen_id[3])
    return 1900 + (digit // 2) * 100, (Sex.FEMALE if digit % 2 else Sex.MALE)


def validate_citizen_id(raw: str, *, birth_year: int | None = None, sex: str | None = None) -> str:
    """Return the normalised 12-digit CCCD or raise ``ValidationError`` (code names the problem).

    The digits ``PPP G YY`` must name a pre-2025 province code, and the century/sex digit and the
    two year digits must agree with the resident's birth year and sex when those are given.
    """
    value = normalize_citizen_id(raw)
    if not _CITIZEN_ID.fullmatch(value):
        raise ValidationError(_("A citizen ID has exactly 12 digits."), code="citizen_id_format")
    if value[:3] not in OLD_PROVINCE_CODES:
        raise ValidationError(
            _("The first three digits %(code)s are not a province code."),
            code="citizen_id_province",
            params={"code": value[:3]},
        )
    century, encoded_sex = citizen_id_birth_century_and_sex(value)
    encoded_year = century + int(value[4:6])
    if birth_year is not None and encoded_year != birth_year:
        raise ValidationError(
            _("The citizen ID encodes birth year %(encoded)s but the birth year is %(given)s."),
            code="citizen_id_birth_year",
            params={"encoded": encoded_year, "given": birth_year},
        )
    if sex is not None and encoded_sex != sex:
        raise ValidationError(
            _("The citizen ID encodes sex %(encoded)s, which does not match the resident."),
            code="citizen_id_sex",
            params={"encoded": Sex(encoded_sex).label},
        )
    return value


def normalize_phone(raw: str) -> str:
    """One form for every way a Vietnamese mobile number is written: ``0`` + 9 digits."""
    value = _SEPARATORS.sub("", raw or "")
    if value.startswith("+84"):
        value = "0" + value[3:]
    elif value.startswith("84") and len(value) == 11:
        value = "0" + value[2:]
    return value


def validate_phone(raw: str) -> str:
    """Return the normalised mobile number or raise ``ValidationError``."""
    value = normalize_phone(raw)
    if not _MOBILE.fullmatch(value):
        raise ValidationError(
            _("A mobile number has 10 digits starting with 03, 05, 07, 08 or 09 (or +84)."), code="phone_format"
        )
    return value


def mask_citizen_id(value: str) -> str:
    return "*" * 9 + value[-3:] if value else ""


def mask_phone(value: str) -> str:
    return "*" * 7 + value[-3:] if value else ""


def _derived_key(purpose: str) -> bytes:
    # Development only: production settings refuse to start without real keys.
    return hashlib.sha256(f"{purpose}:{settings.SECRET_KEY}".encode()).digest()


@lru_cache(maxsize=1)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        keys = (base64.urlsafe_b64encode(_derived_key("fieldteam-identifier-encryption")).decode(),)
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("IDENTIFIER_ENCRYPTION_KEYS must be Fernet keys") from exc


def _cipher() -> MultiFernet:
    return _fernet(tuple(settings.IDENTIFIER_ENCRYPTION_KEYS))


@lru_cache(maxsize=1)
def _current_fernet(keys: tuple[str, ...]) -> Fernet:
    if not keys:
        return Fernet(base64.urlsafe_b64encode(_derived_key("fieldteam-identifier-encryption")))
    try:
        return Fernet(keys[0])
    except ValueError as exc:
        raise ImproperlyConfigured("IDENTIFIER_ENCRYPTION_KEYS must be Fernet keys") from exc


def is_current(token: str) -> bool:
    """Whether ``token`` is already encrypted under the first (current) key: a rotation skips it."""
    if not token:
        return True
    try:
        _current_fernet(tuple(settings.IDENTIFIER_ENCRYPTION_KEYS)).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def _hash_key() -> bytes:
    key = settings.IDENTIFIER_HASH_KEY
    return key.encode() if key else _derived_key("fieldteam-identifier-hash")


def encrypt(value: str) -> str:
    return _cipher().encrypt(value.encode()).decode() if value else ""


def decrypt(token: str) -> str:
    return _cipher().decrypt(token.encode()).decode() if token else ""


def rotate(token: str) -> str:
    """Re-encrypt under the first (current) key."""
    return _cipher().rotate(token.encode()).decode() if token else ""


def keyed_hash(kind: str, normalized_value: str) -> str:
    """HMAC of a normalised identifier; ``kind`` separates CCCD and phone namespaces."""
    # ``hmac.digest``: the same HMAC as ``hmac.new(...).hexdigest()``, in one C call (an import hashes a province's).
    return hmac.digest(_hash_key(), f"{kind}:{normalized_value}".encode(), "sha256").hex()


def citizen_id_hash(raw: str) -> str:
    return keyed_hash("cccd", normalize_citizen_id(raw))


def phone_hash(raw: str) -> str:
    return keyed_hash("phone", normalize_phone(raw))
