"""API tokens for other systems: obtain one with a user name and password, revoke it.

Sign-in failures count towards django-axes' lockout (by user name and address together, since
many phones share one carrier address): ``authenticate`` gets the Django request, so a locked-out
pair is refused, with axes' lockout response, even with the right password.

A token lives only as long as the credentials it was obtained with: any change of the user's
password or ``is_active`` deletes it (``fieldteam.models.users``). The token is made while the user's
row is locked and still holds the password hash just checked, so a password change that commits
in between cannot leave a token made with the old password behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user
from fieldteam.errors import field_error

if TYPE_CHECKING:
    from rest_framework.permissions import _SupportsHasPermission
from fieldteam.models import User


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


TokenOutput = inline_serializer("Token", {"token": serializers.CharField()})


class TokenView(APIView):
    """Obtain (POST) or revoke (DELETE) your API token."""

    permission_classes = [AllowAny]
    throttle_scope = "login"

    def get_permissions(self) -> Sequence[_SupportsHasPermission]:
        if self.request.method == "DELETE":
            return [IsAuthenticated()]
        return super().get_permissions()

    @extend_schema(request=TokenInput, responses={200: TokenOutput}, auth=[], operation_id="token_obtain")
    def post(self, request: Request) -> Response:
        data = TokenInput(data=request.data)
        data.is_valid(raise_exception=True)
        # The Django request, so that django-axes counts the failure and its middleware sees a lockout.
        user = authenticate(
            request._request, username=data.validated_data["username"], password=data.validated_data["password"]
        )
        wrong = field_error("password", _("Wrong user name or password."), code="invalid_credentials")
        if user is None or not user.is_active:
            raise wrong
        with transaction.atomic():
            current = User.objects.select_for_update().filter(pk=user.pk, password=user.password, is_active=True)
            if not current.exists():
                raise wrong  # the password or is_active changed since it was checked
            token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None}, operation_id="token_revoke")
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=acting_user(request)).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
