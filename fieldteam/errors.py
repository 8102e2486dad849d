"""Expected errors of services.

Services raise Django's ``ValidationError`` with a dict keyed by field name, so the same error
reaches an admin form, an import row and the API (through one exception handler) naming the
field. ``field_error`` builds one.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def field_error(field: str, message: Any, *, code: str, params: dict[str, Any] | None = None) -> ValidationError:
    """A ``ValidationError`` for one field, with a stable code."""
    return ValidationError({field: [ValidationError(message, code=code, params=params)]})
