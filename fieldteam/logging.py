"""Structured logs: one JSON object per line, for journald, Loki or any log shipper.

Set ``LOG_FORMAT=json`` (the production default) to use it. Every line has ``time`` (ISO 8601,
UTC), ``level``, ``logger``, ``message`` and ``process``; a line written inside a Celery task
also has ``task`` and ``task_id``; ``extra={...}`` fields and the traceback (``exc_info``) come
along as keys of their own. Vietnamese text is written as is (UTF-8), not as ``\\u`` escapes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter


class JsonFormatter(_JsonFormatter):
    """``python-json-logger``'s formatter with fieldteam's field names and the Celery task."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(*args, **kwargs)

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        log_data["time"] = datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["process"] = record.process
        task = _current_task()
        if task is not None:
            log_data["task"] = task.name
            log_data["task_id"] = task.request.id
        super().add_fields(log_data, record, message_dict)


def _current_task() -> Any:
    from celery import current_task

    # ``current_task`` is a proxy: outside a task it stands for nothing (falsy), never an error.
    return current_task if current_task and getattr(current_task.request, "id", None) else None


class ClientErrorWithoutTraceback(logging.Filter):
    """Drop the traceback from the log line of a refused request (a 4xx): it is the client's error.

    Django logs a ``PermissionDenied`` (403) on ``django.request`` and a ``SuspiciousOperation``
    (400) on ``django.security.*`` with the exception attached, so every refused request printed a
    whole traceback. The one-line warning stays; a 5xx keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        client_error = status is not None and 400 <= status < 500
        if record.exc_info and (client_error or record.name.startswith("django.security.")):
            record.exc_info = None
            record.exc_text = None
        return True
