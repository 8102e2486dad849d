"""Follow-up rules (issue 17): the national defaults and each province's own delays per not-done reason.

Saved and removed through ``fieldteam.services.follow_ups``. A province's officers change its rules
(superusers: any, and the national ones); everyone working in a province reads the rules that apply there.
"""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from fieldteam.choices import PROVINCE_KINDS
from fieldteam.models import Area, FollowUpRule, User
from fieldteam.permissions import Scope
from fieldteam.services.follow_ups import delete_follow_up_rule, set_follow_up_rule

from .base import ScopedModelAdmin, ServiceFormAdminMixin, ServiceModelForm, is_admin_staff
from .indicators import in_province_officer_subtree, province_officer_paths
from .typed import model_choice_field, offered


class FollowUpRuleForm(ServiceModelForm):
    """Saved by ``fieldteam.services.follow_ups.set_follow_up_rule``."""

    class Meta:
        model = FollowUpRule
        fields = ("province", "reason", "delay_days")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "province" in self.fields:
            province = model_choice_field(self, "province")
            province.queryset = offered(province).filter(kind__in=PROVINCE_KINDS)

    def perform(self) -> FollowUpRule:
        data = self.cleaned_data
        stored = cast("FollowUpRule | None", None if self.adding else self.stored)
        # A rule's province and reason are fixed once made (read-only on its page): only its delay changes.
        return set_follow_up_rule(
            actor=self.actor,
            province=stored.province if stored is not None else data.get("province"),
            reason=stored.reason if stored is not None else data["reason"],
            delay_days=data.get("delay_days"),
        )


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(ServiceFormAdminMixin, ScopedModelAdmin):
    form = FollowUpRuleForm
    scope_area_field = "province"
    list_display = ("reason", "province", "delay_days")
    list_select_related = ("province",)
    list_filter = ("reason",)
    search_fields = ("province__name",)
    ordering = ("province__name", "reason")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("province", "reason") if obj is not None else ()

    def delete_row(self, *, actor: User, obj: FollowUpRule) -> None:
        delete_follow_up_rule(actor=actor, rule=obj)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # The national rules apply everywhere; a province's own, to whoever works in it.
        return queryset.filter(
            Q(province__isnull=True) | Q(province__path__in={p[: Area.steplen] for p in scope.paths})
        )

    def may_write(self, request: HttpRequest) -> bool:
        if not is_admin_staff(request):
            return False
        return request.user.is_superuser or bool(province_officer_paths(request))

    def may_write_row(self, request: HttpRequest, obj: FollowUpRule) -> bool:
        if request.user.is_superuser:
            return True
        return obj.province is not None and in_province_officer_subtree(request, obj.province)
