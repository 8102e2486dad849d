"""Test settings: the same as base, with a fast password hasher. DATABASE_URL/REDIS_URL still apply."""

from .base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
AXES_ENABLED = False
IDENTIFIER_ENCRYPTION_KEYS = ["dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0="]
IDENTIFIER_HASH_KEY = "test-hash-key"
