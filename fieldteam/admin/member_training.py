"""Members' own training (issue 15): listed in the officer's areas, recorded and removed through the service."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin

from fieldteam.models import MemberTraining, User
from fieldteam.services import member_training

from .base import AREA_FILTERS, ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm


class MemberTrainingForm(ServiceModelForm):
    """Saved by ``fieldteam.services.member_training`` (an officer of the team's areas; no future day)."""

    class Meta:
        model = MemberTraining
        fields = ("team", "user", "topic", "trained_on")

    def perform(self) -> MemberTraining:
        data = self.cleaned_data
        actor = cast("User", self.actor)
        if not self.adding:
            # A correction is a removal and a new record: the row is a fact, not a document.
            member_training.delete_member_training(actor=actor, training=cast("MemberTraining", self.stored))
        return member_training.record_member_training(
            actor=actor, team=data["team"], user=data["user"], topic=data["topic"], trained_on=data["trained_on"]
        )


@admin.register(MemberTraining)
class MemberTrainingAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = MemberTrainingForm
    scope_area_field = "team__areas"
    scope_through_many = True
    list_display = ("user", "team", "topic", "trained_on", "recorded_by")
    list_select_related = ("user", "team", "recorded_by")
    list_filter = (*AREA_FILTERS,)
    search_fields = ("user__username", "user__first_name", "user__last_name", "team__name", "topic")
    autocomplete_fields = ("team", "user")
    date_hierarchy = "trained_on"
    show_facets = admin.ShowFacets.NEVER

    def delete_row(self, *, actor: User, obj: Any) -> None:
        member_training.delete_member_training(actor=actor, training=obj)
