"""Token sign-in that also names the user on the request's audit entries.

django-auditlog's middleware reads ``request.user`` before DRF has authenticated a token, so a
token user would otherwise be recorded as nobody.
"""

from __future__ import annotations

from typing import Any

from rest_framework import authentication
from rest_framework.request import Request

from fieldteam import audit


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is not None:
            audit.bind_actor(result[0])
        return result
