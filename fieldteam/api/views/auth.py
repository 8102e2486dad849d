"""API tokens for other systems: obtain one with a user name and password, revoke it.

Sign-in failures count towards django-axes' lockout (by user name and address together, since
many phones share one carrier address): ``authenticate`` gets the Django request, so a locked-out
pair is refused, with axes' lockout response, even with the right password.
"""

from __future__ import annotations

from django.contrib.auth import authenticate
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


class TokenInput(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})


TokenOutput = inline_serializer("Token", {"token": serializers.CharField()})


class TokenView(APIView):
    """Obtain (POST) or revoke (DELETE) your API token."""

    permission_classes = [AllowAny]
    throttle_scope = "login"

    def get_permissions(self):  # type: ignore[no-untyped-def]
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
        if user is None or not user.is_active:
            raise field_error("password", _("Wrong user name or password."), code="invalid_credentials")
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    @extend_schema(request=None, responses={204: None}, operation_id="token_revoke")
    def delete(self, request: Request) -> Response:
        Token.objects.filter(user=acting_user(request)).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
