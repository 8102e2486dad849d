"""Teams serving the user's areas, and their members."""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam.api.serializers import MembershipSerializer, TeamSerializer
from fieldteam.api.views.base import IdFilter, ScopedViewSet, acting_user
from fieldteam.models import Area, Team, User
from fieldteam.selectors.field_work import team_get, team_member_counts, team_memberships, teams_visible


class TeamFilter(django_filters.FilterSet):
    area = IdFilter(method="filter_area", label="Teams serving this area or an area under it")
    is_active = django_filters.BooleanFilter()
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = Team
        fields = ["area", "is_active", "q"]

    def filter_area(self, queryset: QuerySet[Team], name: str, value: Any) -> QuerySet[Team]:
        path = Area.objects.filter(pk=value).values_list("path", flat=True).first()
        if path is None:
            return queryset.none()
        ancestors = Area.ancestor_paths(path)
        # Serving the area itself, one of its ancestors (a commune-level team) or an area under it.
        served = Team.areas.through.objects.filter(Q(area__path__in=ancestors) | Q(area__path__startswith=path))
        return queryset.filter(pk__in=served.values("team_id"))


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Teams serving areas in your scope (a member: their own teams), and their members."""

    model = Team
    serializer_class = TeamSerializer
    filterset_class = TeamFilter

    def scoped_queryset(self, user: User) -> QuerySet[Team]:
        return teams_visible(user=user).prefetch_related("areas")

    def get_object(self) -> Team:
        team = team_get(user=acting_user(self.request), team_id=self.kwargs["pk"])
        return Team.objects.prefetch_related("areas").get(pk=team.pk)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        assert page is not None  # noqa: S101 - the API always paginates its lists
        context = dict(self.get_serializer_context())
        context["member_counts"] = team_member_counts([t.pk for t in page])
        return self.get_paginated_response(TeamSerializer(page, many=True, context=context).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        team = self.get_object()
        context = dict(self.get_serializer_context())
        context["member_counts"] = team_member_counts([team.pk])
        return Response(TeamSerializer(team, context=context).data)

    @extend_schema(responses=MembershipSerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filterset_class=None)
    def members(self, request: Request, pk: str) -> Response:
        """The team's current members, with their role and affiliation."""
        team = team_get(user=acting_user(request), team_id=pk)
        page = self.paginate_queryset(team_memberships(user=acting_user(request), team=team))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)
