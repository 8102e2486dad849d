"""The API's body parsers (``REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"]``): DRF's, refusing what no query may get.

- JSON nested deeper than ``MAX_JSON_DEPTH`` is a 400 (``too_deep``), never a ``RecursionError``:
  DRF's parser catches only ``ValueError``, so about 2 KB of ``[`` was a 500 on every endpoint,
  the unauthenticated token endpoint included;
- a control character (NUL, C0/C1 but tab/LF/CR, a lone surrogate) in any string or key of a JSON
  body, or in a field of a form body, is a 400 (``control_character``) naming the field path
  (``items[0].data.note``), before a serializer, a lookup or a service sees it.

The errors are Django ``ValidationError``s keyed by field, which the API's exception handler answers
in its error shape. See ``fieldteam.control_characters`` for the rules.

A view may leave the string values under some paths to itself (``json_values_checked_by_view``,
e.g. ``("items[].data",)``) when it refuses them with the same rule in a finer way: the sync
endpoint rejects just the item at fault, so one bad item never fails the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import parsers

from fieldteam.control_characters import check_json, check_query_dicts, too_deep_error


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # deeper than the interpreter's recursion limit: far past ours
            raise too_deep_error("") from None
        view = (parser_context or {}).get("view")
        check_json(data, values_checked_by_view=getattr(view, "json_values_checked_by_view", ()))
        return data


class FormParser(parsers.FormParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        check_query_dicts(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        result = super().parse(stream, media_type, parser_context)
        check_query_dicts(result.data, result.files)
        return result
