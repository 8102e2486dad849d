"""The current user: roles, teams, the areas in scope and whether they may write there."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.serializers import AreaBriefSerializer
from fieldteam.api.views.base import acting_user
from fieldteam.models import Area, AreaRole, Membership
from fieldteam.permissions import scope_for
from fieldteam.selectors.field_work import scope_roots


class MeAreaSerializer(AreaBriefSerializer):
    can_edit = serializers.SerializerMethodField()

    class Meta(AreaBriefSerializer.Meta):
        fields = [*AreaBriefSerializer.Meta.fields, "can_edit"]

    def get_can_edit(self, obj: Area) -> bool:
        return scope_for(self.context["request"].user).can_edit_area(obj)


MeSerializer = inline_serializer(
    "Me",
    {
        "id": serializers.IntegerField(),
        "username": serializers.CharField(),
        "full_name": serializers.CharField(),
        "is_superuser": serializers.BooleanField(),
        "roles": inline_serializer(
            "MeRole", {"role": serializers.CharField(), "area": AreaBriefSerializer()}, many=True
        ),
        "teams": inline_serializer(
            "MeTeam",
            {
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "role": serializers.CharField(),
                "areas": serializers.ListField(child=serializers.IntegerField()),
            },
            many=True,
        ),
        "areas": MeAreaSerializer(many=True),
        "can_edit": serializers.BooleanField(),
        "identifiers": serializers.CharField(help_text="How identifiers are shown to this user: always 'masked'."),
    },
)


class MeView(APIView):
    """Who am I: area roles, open team memberships, the top areas of my scope."""

    @extend_schema(responses=MeSerializer, operation_id="me")
    def get(self, request: Request) -> Response:
        user = acting_user(request)
        scope = scope_for(user)
        roles = AreaRole.objects.filter(user=user).select_related("area").order_by("area__path", "role")
        memberships = (
            Membership.objects.filter(user=user, ended_on__isnull=True, team__is_active=True)
            .select_related("team")
            .prefetch_related("team__areas")
            .order_by("team__name")
        )
        context = {"request": request}
        return Response(
            {
                "id": user.pk,
                "username": user.username,
                "full_name": user.get_full_name(),
                "is_superuser": user.is_superuser,
                "roles": [{"role": r.role, "area": AreaBriefSerializer(r.area).data} for r in roles],
                "teams": [
                    {
                        "id": m.team_id,
                        "name": m.team.name,
                        "role": m.role,
                        "areas": sorted(a.pk for a in m.team.areas.all()),
                    }
                    for m in memberships
                ],
                "areas": MeAreaSerializer(scope_roots(user=user), many=True, context=context).data,
                "can_edit": scope.can_edit,
                "identifiers": "masked",
            }
        )
