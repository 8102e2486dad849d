"""The API's one exception handler: every error answers ``{"errors": {field: [messages]}, "codes": {...}}``.

- A Django ``ValidationError`` from a service (a dict keyed by field) is a 400 naming the field;
  a refusal because the role may only view (code ``read_only``) is a 403 in the same shape, one
  over a service's rate limit (code ``throttled``: identifier checks) a 429.
- A DRF ``ValidationError`` (input serializers) is flattened the same way: nested fields are
  named ``items[0].capability``.
- ``OutOfScope`` (an ``Http404``) and any other 404 are a 404: an object out of scope is answered
  exactly like a missing one.
- Everything else DRF knows (401, 403, 405, 415, 429, ...) keeps its status, with its message
  under ``detail``. Messages are translated into the request's language.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from fieldteam.ratelimit import IDENTIFIER_THROTTLED_CODE
from fieldteam.sync import NON_FIELD, codes_by_field, messages_by_field

READ_ONLY_CODE = "read_only"
THROTTLED_CODE = IDENTIFIER_THROTTLED_CODE


def _flatten(detail: Any, prefix: str, into: dict[str, list[str]]) -> None:
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = NON_FIELD if key in ("non_field_errors", "__all__") and not prefix else str(key)
            _flatten(value, f"{prefix}.{name}" if prefix else name, into)
    elif isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            into.setdefault(prefix or NON_FIELD, []).extend(str(item) for item in detail)
            return
        for position, item in enumerate(detail):
            if item:
                _flatten(item, f"{prefix}[{position}]", into)
    else:
        into.setdefault(prefix or NON_FIELD, []).append(str(detail))


def error_body(messages: dict[str, list[str]], codes: dict[str, list[str]]) -> dict[str, Any]:
    return {"errors": messages, "codes": codes}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        codes = codes_by_field(exc)
        all_codes = {code for field_codes in codes.values() for code in field_codes}
        if all_codes == {THROTTLED_CODE}:  # a service's rate limit (identifier checks): 429
            return Response(error_body(messages_by_field(exc), codes), status=status.HTTP_429_TOO_MANY_REQUESTS)
        return Response(
            error_body(messages_by_field(exc), codes),
            status=status.HTTP_403_FORBIDDEN if all_codes <= {READ_ONLY_CODE} else status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, RequestDataTooBig):
        message = str(_("The request is too large; send fewer items at a time."))
        return Response(error_body({NON_FIELD: [message]}, {NON_FIELD: ["too_large"]}), status=400)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        messages: dict[str, list[str]] = {}
        detail_codes: dict[str, list[str]] = {}
        _flatten(exc.detail, "", messages)
        _flatten(exc.get_codes(), "", detail_codes)
        response.data = error_body(messages, detail_codes)
        return response
    if isinstance(exc, exceptions.APIException):
        code = exc.get_codes()
        response.data = error_body({"detail": [str(exc.detail)]}, {"detail": [str(code)]})
    else:  # Http404 and Django's PermissionDenied, which DRF turned into its own exceptions
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        code = "not_found" if response.status_code == 404 else "permission_denied"
        response.data = error_body({"detail": [str(detail)]}, {"detail": [code]})
    return response
