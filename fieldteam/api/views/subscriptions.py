"""Reports by email over the API (issue 17), at /api/v1/report-subscriptions/: the caller's own.

    GET    /api/v1/report-subscriptions/        the caller's subscriptions (paginated)
    POST   /api/v1/report-subscriptions/        {"area": 12, "period_kind": "month", "format": "xlsx"}
    DELETE /api/v1/report-subscriptions/<id>/   unsubscribe

Once a month of the area is approved, its report is emailed to the caller with the file attached
(``fieldteam.services.subscriptions``). For officers and viewers of a commune or province: a team
member is refused (403), an area out of scope is "does not exist" (400), another user's
subscription is a 404.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from fieldteam.api.views.base import ScopedViewSet, acting_user
from fieldteam.api.views.people import ScopedPrimaryKeyField
from fieldteam.choices import PeriodKind, ReportFormat
from fieldteam.models import ReportSubscription, User
from fieldteam.selectors.field_work import areas_visible, int_pk
from fieldteam.selectors.indicators import OutOfScope
from fieldteam.selectors.subscriptions import subscriptions_of
from fieldteam.services.subscriptions import subscribe, unsubscribe


class ReportSubscriptionOutput(serializers.ModelSerializer):
    area_name = serializers.CharField(source="area.name", read_only=True)

    class Meta:
        model = ReportSubscription
        fields = ["id", "area", "area_name", "period_kind", "format", "created_at"]
        read_only_fields = fields


class ReportSubscriptionInput(serializers.Serializer):
    area = ScopedPrimaryKeyField(
        visible=lambda user: areas_visible(user=user), help_text=_("A commune or a province you see.")
    )
    period_kind = serializers.ChoiceField(
        choices=PeriodKind.choices, default=PeriodKind.MONTH, help_text=_("Only month for now.")
    )
    format = serializers.ChoiceField(choices=ReportFormat.choices, default=ReportFormat.XLSX)


class ReportSubscriptionViewSet(mixins.ListModelMixin, ScopedViewSet):
    """Your reports by email: each approved month of the area, its report is emailed to you."""

    model = ReportSubscription
    serializer_class = ReportSubscriptionOutput

    def scoped_queryset(self, user: User) -> QuerySet[ReportSubscription]:
        return subscriptions_of(user=user)

    def get_object(self) -> ReportSubscription:
        row = self.get_queryset().filter(pk=int_pk(self.kwargs["pk"])).first()
        if row is None:
            raise OutOfScope
        return row

    @extend_schema(request=ReportSubscriptionInput, responses={201: ReportSubscriptionOutput})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Receive an area's report of each approved month by email (subscribing again returns the same one)."""
        data = ReportSubscriptionInput(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subscription = subscribe(
            actor=acting_user(request), area=values["area"], period_kind=values["period_kind"], fmt=values["format"]
        )
        return Response(ReportSubscriptionOutput(subscription).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Stop one of your reports by email."""
        unsubscribe(actor=acting_user(request), subscription=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
