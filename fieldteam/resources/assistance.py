"""Assistance logs (export only: logs are events made by members on their phones).

One row per log: when, where, who helped (team, member), whom (resident or household, identifiers
never exported), how, and one column per capability with the outcome (``xong`` / ``chưa`` and why).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason
from fieldteam.models import AssistanceItem, AssistanceLog, Capability

from .base import ChoiceWidget, CodeWidget, Column, DateWidget, FieldteamResource, TextWidget

CHANNEL_WORDS = [
    ("Đến nhà", AssistanceChannel.HOME_VISIT),
    ("Gọi điện", AssistanceChannel.PHONE),
    ("Sinh hoạt nhóm", AssistanceChannel.GROUP_SESSION),
    ("Tại UBND xã", AssistanceChannel.AT_OFFICE),
]
REASON_WORDS = [
    ("Không có thiết bị", NotDoneReason.NO_DEVICE),
    ("Từ chối", NotDoneReason.DECLINED),
    ("Không đủ điều kiện", NotDoneReason.NOT_ELIGIBLE),
    ("Thiếu giấy tờ", NotDoneReason.MISSING_DOCUMENTS),
    ("Không có sóng/dịch vụ lỗi", NotDoneReason.NO_SIGNAL),
    ("Vắng nhà", NotDoneReason.ABSENT),
    ("Khác", NotDoneReason.OTHER),
]


class AssistanceLogResource(FieldteamResource):
    export_kind = "assistance_logs"
    title = _("assistance logs")

    log_id = Column("Mã lượt hỗ trợ", attribute="id", import_=False)
    occurred_on = Column("Ngày", widget=DateWidget(), import_=False)
    occurred_time = Column("Giờ", import_=False)
    village_code = Column("Mã thôn", attribute="village__code", widget=CodeWidget(32), import_=False)
    village_name = Column("Tên thôn", attribute="village__name", import_=False)
    team = Column("Tổ", attribute="team__name", import_=False)
    member = Column("Thành viên", attribute="member__username", import_=False)
    subject = Column("Người/hộ được hỗ trợ", import_=False)
    household_code = Column("Mã hộ", import_=False)
    channel = Column("Hình thức", attribute="channel", widget=ChoiceWidget(CHANNEL_WORDS, ""), import_=False)
    note = Column("Ghi chú", attribute="note", widget=TextWidget(), import_=False)

    class Meta:
        model = AssistanceLog
        fields = (
            "log_id",
            "occurred_on",
            "occurred_time",
            "village_code",
            "village_name",
            "team",
            "member",
            "subject",
            "household_code",
            "channel",
            "note",
        )

    def extra_columns(self) -> list[tuple[str, Column]]:
        self._capabilities = list(Capability.objects.order_by("sort_order", "code"))
        return [(f"item__{c.pk}", Column(f"{c.name} [{c.code}]", import_=False)) for c in self._capabilities]

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("village", "team", "member", "resident", "household", "resident__household")

    def prepare_export_chunk(self, objects: list[Any]) -> None:
        reasons = dict(REASON_WORDS)
        labels: dict[str, str] = {value: word for word, value in reasons.items()}
        self._items: dict[Any, dict[int, str]] = defaultdict(dict)
        for log_id, capability_id, outcome, reason in AssistanceItem.objects.filter(
            log_id__in=[o.pk for o in objects]
        ).values_list("log_id", "capability_id", "outcome", "reason"):
            text = "xong" if outcome == AssistanceOutcome.DONE else f"chưa: {labels.get(reason, reason)}"
            self._items[log_id][capability_id] = text

    def export_value(self, column: Column, obj: Any) -> Any:
        if column.key.startswith("item__"):
            return self._items.get(obj.pk, {}).get(int(column.key[len("item__") :]), "")
        return super().export_value(column, obj)

    def dehydrate_log_id(self, obj: AssistanceLog) -> str:
        return str(obj.pk)

    def dehydrate_occurred_on(self, obj: AssistanceLog) -> Any:
        return timezone.localtime(obj.occurred_at).date()

    def dehydrate_occurred_time(self, obj: AssistanceLog) -> str:
        return f"{timezone.localtime(obj.occurred_at):%H:%M}"

    def dehydrate_subject(self, obj: AssistanceLog) -> str:
        resident = obj.resident
        if resident is not None:
            return f"{resident.full_name} ({resident.birth_year})"
        household = obj.household
        assert household is not None  # noqa: S101 - a log names a resident or a household (a constraint)
        return household.head_name or household.code

    def dehydrate_household_code(self, obj: AssistanceLog) -> str:
        household = obj.resident.household if obj.resident is not None else obj.household
        return household.code if household else ""
