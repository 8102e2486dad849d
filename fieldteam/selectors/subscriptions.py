"""Reads of the reports by email (issue 17): a user's own subscriptions, and what a dashboard offers.

A user sees only their own subscriptions, and only on areas still in their scope (a role taken
away hides them, and ``deliver_approved_reports`` stops sending them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import QuerySet

from fieldteam.choices import PeriodKind, ReportFormat
from fieldteam.models import Area, ReportSubscription, User
from fieldteam.permissions import scope_for

#: The period kinds a subscription may name today: months (the only periods signed off).
PERIOD_KINDS = (PeriodKind.MONTH,)


def subscriptions_of(*, user: User) -> QuerySet[ReportSubscription]:
    """``user``'s own subscriptions on areas they see, in tree order."""
    own = ReportSubscription.objects.filter(user=user).select_related("area")
    return scope_for(user).filter(own, area_field="area").order_by("area__path", "period_kind", "format", "pk")


def may_subscribe(*, user: User, area: Area) -> bool:
    """Whether ``user`` may receive ``area``'s reports by email: a commune or province seen through an area role."""
    return (area.is_commune or area.is_province) and scope_for(user).is_staff_of(area)


@dataclass(frozen=True)
class SubscriptionPanel:
    """The dashboard's "reports by email" section for one area: the user's subscriptions there."""

    area: Area
    has_email: bool
    subscriptions: list[ReportSubscription] = field(default_factory=list)

    @property
    def formats_left(self) -> list[tuple[str, str]]:
        """The formats (value, label) the user does not receive yet, for the subscribe buttons."""
        taken = {s.format for s in self.subscriptions}
        return [(value, str(label)) for value, label in ReportFormat.choices if value not in taken]


def subscription_panel(*, user: User, area: Area) -> SubscriptionPanel | None:
    """The section for ``area``'s dashboard; ``None`` where the user may not subscribe (a member, a village)."""
    if not may_subscribe(user=user, area=area):
        return None
    mine = list(subscriptions_of(user=user).filter(area=area, period_kind=PeriodKind.MONTH))
    return SubscriptionPanel(area=area, has_email=bool(user.email), subscriptions=mine)
