"""Incoming text with control characters, and JSON nested too deep, is refused at the edge.

PostgreSQL refuses NUL in any text (``PostgreSQL text fields cannot contain NUL (0x00) bytes``), a
lone surrogate (``"\\ud800"`` in JSON) cannot be encoded for the database at all, and the other C0
and C1 control characters mean nothing in a name, a code, a note or a search. So every text that
comes in is checked once, before any view, form, filter or lookup can send it to a query:

- JSON bodies of the API: ``fieldteam.api.parsers`` (the only JSON parsers of the API) parse with
  a depth limit and check every string and key, naming the field path (``items[0].data.note``);
- form bodies of the API: the same parsers' form and multipart subclasses;
- query strings, path segments, the session cookie and the ``Authorization`` header of every
  request, and the form posts of the pages and admin: ``ControlCharacterMiddleware``, naming the
  parameter.

Tab, line feed and carriage return are allowed (a note may have lines). The answer is a 400 naming
the field: in the API's error shape under ``/api/``, a small translated page elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve
from django.utils.translation import gettext_lazy as _

from fieldteam.errors import field_error

# C0 controls but tab, LF and CR; DEL and the C1 controls; lone surrogates (only JSON's \u escapes
# can make them, and no database column can store one).
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Deeper than any body the API takes (a sync item's log items are 5 levels down), far below the
# recursion limit, so nothing downstream (serializers, error flattening, JSON columns) recurses far.
MAX_JSON_DEPTH = 32

CONTROL_CODE = "control_character"
TOO_DEEP_CODE = "too_deep"
NON_FIELD = "non_field_errors"  # as the API and ``fieldteam.sync`` name an error of no field
API_PREFIX = "/api/"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

VALUE_MESSAGE = _("Remove the control characters from this text.")
NAME_MESSAGE = _("Remove the control characters from the names of the fields.")
TOO_DEEP_MESSAGE = _("The data is nested too deeply (more than %(limit)s levels).")


def has_control_characters(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _printable(name: str) -> str:
    """A field name fit to be echoed in an error: its control characters shown as U+FFFD."""
    return CONTROL_CHARACTERS.sub("\ufffd", name)


def control_error(field: str) -> ValidationError:
    return field_error(field or NON_FIELD, VALUE_MESSAGE, code=CONTROL_CODE)


def too_deep_error(field: str) -> ValidationError:
    return field_error(field or NON_FIELD, TOO_DEEP_MESSAGE, code=TOO_DEEP_CODE, params={"limit": MAX_JSON_DEPTH})


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH, values_checked_by_view: Iterable[str] = ()) -> None:
    """Raise a ``ValidationError`` naming the first string or key with a control character, or the
    first container deeper than ``max_depth``, by its path (``items[0].data.note``).

    ``values_checked_by_view``: paths (``items[].data``, ``[]`` for any index) under which the
    string values are left to the view, which refuses them itself with the same rule, item by item
    (sync: one bad item must not fail the batch). Keys and depth are checked there too.

    Iterative, so that a body nested far deeper than the limit costs no recursion.
    """
    delegated = frozenset(values_checked_by_view)
    # (node, path, path with any index as ``[]``, depth, whether its string values are checked here)
    stack: list[tuple[Any, str, str, int, bool]] = [(value, "", "", 1, True)]
    while stack:
        node, path, shape, depth, checked = stack.pop()
        checked = checked and shape not in delegated
        if isinstance(node, str):
            if checked and has_control_characters(node):
                raise control_error(path)
        elif isinstance(node, dict | list):
            if depth > max_depth:
                raise too_deep_error(path)
            if isinstance(node, dict):
                children = []
                for key, child in node.items():
                    if isinstance(key, str) and has_control_characters(key):
                        raise field_error(path or NON_FIELD, NAME_MESSAGE, code=CONTROL_CODE)
                    name = f"{path}.{key}" if path else str(key)
                    children.append((child, name, f"{shape}.{key}" if shape else str(key), depth + 1, checked))
            else:
                children = [
                    (child, f"{path}[{position}]", f"{shape}[]", depth + 1, checked)
                    for position, child in enumerate(node)
                ]
            stack.extend(reversed(children))  # depth first, in document order


def check_pairs(pairs: Iterable[tuple[str, Any]]) -> None:
    """Raise a ``ValidationError`` naming the first parameter (name, value) of a query string or a
    form with a control character in its name or in a text value (uploaded files: their names)."""
    for name, value in pairs:
        if has_control_characters(name):
            raise field_error(_printable(name), NAME_MESSAGE, code=CONTROL_CODE)
        text = value if isinstance(value, str) else getattr(value, "name", None)
        if isinstance(text, str) and has_control_characters(text):
            raise control_error(name)


def _multi_pairs(data: Any) -> Iterable[tuple[str, Any]]:
    """Every (name, value) of a ``QueryDict`` or ``MultiValueDict``, repeated names included."""
    for name, values in data.lists():
        for value in values:
            yield name, value


def check_query_dicts(*dicts: Any) -> None:
    for data in dicts:
        check_pairs(_multi_pairs(data))


def _path_field(request: HttpRequest) -> str:
    """The name of the URL's parameter holding the control character (``pk``), else ``path``."""
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return "path"
    for name, value in match.kwargs.items():
        if isinstance(value, str) and has_control_characters(value):
            return "id" if name == "pk" else name  # as the OpenAPI schema names it
    return "path"


def check_request(request: HttpRequest) -> None:
    """Everything of a request that can reach a query before a view validates it (module docstring)."""
    if has_control_characters(request.path_info):
        raise control_error(_path_field(request))
    check_query_dicts(request.GET)
    session = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if has_control_characters(session):
        raise control_error(settings.SESSION_COOKIE_NAME)
    if has_control_characters(request.META.get("HTTP_AUTHORIZATION", "")):
        raise control_error("Authorization")
    # The API's bodies are checked by its parsers (fieldteam.api.parsers), which answer in its
    # error shape; the pages' and admin's form posts here.
    if request.method == "POST" and not request.path_info.startswith(API_PREFIX) and request.content_type in FORM_TYPES:
        check_query_dicts(request.POST, request.FILES)


def refusal(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """400 naming the field: the API's error shape under ``/api/``, else a small translated page."""
    messages = {name: [str(m) for m in errors] for name, errors in error.message_dict.items()}
    codes = {name: [e.code or "invalid" for e in errors] for name, errors in error.error_dict.items()}
    if request.path_info.startswith(API_PREFIX):
        return JsonResponse({"errors": messages, "codes": codes}, status=400)
    return render(request, "web/bad_request.html", {"errors": messages}, status=400)


class ControlCharacterMiddleware:
    """Refuses with 400 a request whose query string, path, session cookie, ``Authorization`` header
    or (outside the API) form post holds a control character."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            check_request(request)
        except ValidationError as error:
            return refusal(request, error)
        return self.get_response(request)
