"""Teams and their members.

Teams: ``Mã thôn`` (the codes of the villages served, comma-separated) · ``Tên tổ`` · ``Ngày thành
lập`` · ``Số quyết định``. A team is matched on its name and first village served.

Members: ``Mã thôn`` (the village whose team it is) · ``Tên tổ`` (only needed where a village has
several teams) · ``Tên đăng nhập`` · ``Họ`` · ``Tên`` · ``Số điện thoại`` · ``Vai trò`` (tổ
trưởng, tổ phó, thành viên) · ``Thành phần`` · ``Ngày bắt đầu`` · ``Ngày kết thúc``. A user is
matched on the user name (created, without a password, when new); a membership on team and user.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import Affiliation, MembershipRole
from fieldteam.models import Area, Membership, Team

from .base import ChoiceWidget, CodeWidget, Column, DateWidget, FieldteamResource, ListWidget, TextWidget, YesNoWidget

ROLE_WORDS = [
    ("Tổ trưởng", MembershipRole.LEADER),
    ("Tổ phó", MembershipRole.DEPUTY),
    ("Thành viên", MembershipRole.MEMBER),
    ("leader", MembershipRole.LEADER),
    ("deputy", MembershipRole.DEPUTY),
    ("member", MembershipRole.MEMBER),
    ("Phó tổ trưởng", MembershipRole.DEPUTY),
]
AFFILIATION_WORDS = [
    ("Trưởng thôn", Affiliation.VILLAGE_HEAD),
    ("Bí thư chi bộ", Affiliation.PARTY_CELL_SECRETARY),
    ("Công an", Affiliation.POLICE),
    ("Đoàn thanh niên", Affiliation.YOUTH_UNION),
    ("Hội phụ nữ", Affiliation.WOMENS_UNION),
    ("Hội nông dân", Affiliation.FARMERS_UNION),
    ("Hội cựu chiến binh", Affiliation.VETERANS),
    ("Mặt trận Tổ quốc", Affiliation.FATHERLAND_FRONT),
    ("Cán bộ xã", Affiliation.COMMUNE_OFFICIAL),
    ("Giáo viên", Affiliation.TEACHER),
    ("Nhân viên viễn thông, bưu điện", Affiliation.TELECOM_POST),
    ("Tình nguyện viên", Affiliation.VOLUNTEER),
    ("Khác", Affiliation.OTHER),
    ("Trưởng thôn, tổ dân phố", Affiliation.VILLAGE_HEAD),
    ("Viễn thông", Affiliation.TELECOM_POST),
    ("Bưu điện", Affiliation.TELECOM_POST),
    *[(value, value) for value in Affiliation.values],
]


class TeamResource(FieldteamResource):
    import_kind = "teams"
    export_kind = "teams"
    title = _("teams")

    village_codes = Column(
        "Mã thôn",
        widget=ListWidget(CodeWidget(32)),
        required=True,
        aliases=("Mã thôn phục vụ", "Địa bàn", "village_codes", "village_code"),
        help_text=_("The code of the village served; several codes separated by commas for a team serving several."),
        example="23764-01",
    )
    name = Column(
        "Tên tổ",
        attribute="name",
        widget=TextWidget(200),
        aliases=("Tên tổ công nghệ số", "team", "name"),
        help_text=_("Blank: “Tổ công nghệ số cộng đồng” and the name of the first village."),
        example="Tổ công nghệ số cộng đồng Thôn Hợp Thành",
    )
    founded_on = Column(
        "Ngày thành lập",
        attribute="founded_on",
        widget=DateWidget(),
        required=True,
        aliases=("founded_on",),
        help_text=_("dd/mm/yyyy, not in the future."),
        example=dt.date(2023, 3, 1),
    )
    decision_ref = Column(
        "Số quyết định",
        attribute="decision_ref",
        widget=TextWidget(100),
        aliases=("Quyết định thành lập", "decision_ref"),
        help_text=_("The founding decision (optional)."),
        example="123/QĐ-UBND",
    )
    is_active = Column(
        "Còn hoạt động",
        attribute="is_active",
        widget=YesNoWidget(),
        aliases=("is_active",),
        help_text=_("“có” (default) or “không”."),
        example="có",
    )

    class Meta:
        model = Team
        fields = ("village_codes", "name", "founded_on", "decision_ref", "is_active")

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.prefetch_related(Prefetch("areas", queryset=Area.objects.order_by("code")))

    def dehydrate_village_codes(self, obj: Team) -> list[str]:
        return [a.code for a in obj.areas.all()]


class MemberResource(FieldteamResource):
    import_kind = "members"
    export_kind = "members"
    title = _("team members")

    village_code = Column(
        "Mã thôn",
        widget=CodeWidget(32),
        required=True,
        aliases=("village_code",),
        help_text=_("The code of a village the team serves."),
        example="23764-01",
    )
    team_name = Column(
        "Tên tổ",
        attribute="team__name",
        widget=TextWidget(200),
        aliases=("team",),
        help_text=_("Only needed where several teams serve the village."),
        example="",
    )
    username = Column(
        "Tên đăng nhập",
        attribute="user__username",
        widget=CodeWidget(150),
        required=True,
        aliases=("Tài khoản", "username"),
        help_text=_("The member's user name (letters, digits and @ . + - _). A new one is created without a password."),
        example="thanhvien.01.1",
    )
    last_name = Column(
        "Họ",
        attribute="user__last_name",
        widget=TextWidget(150),
        aliases=("Họ và tên đệm", "last_name"),
        help_text=_("Family and middle names."),
        example="Rơ Mah",
    )
    first_name = Column(
        "Tên",
        attribute="user__first_name",
        widget=TextWidget(150),
        aliases=("first_name",),
        help_text=_("Given name."),
        example="Bình",
    )
    phone = Column(
        "Số điện thoại",
        attribute="user__phone_display",
        widget=TextWidget(20),
        aliases=("Điện thoại", "phone"),
        help_text=_("Work contact number (optional)."),
        example="0912345678",
    )
    role = Column(
        "Vai trò",
        attribute="role",
        widget=ChoiceWidget(ROLE_WORDS, _("Write “Tổ trưởng”, “Tổ phó” or “Thành viên”.")),
        aliases=("Chức vụ", "role"),
        help_text=_("“Tổ trưởng”, “Tổ phó” or “Thành viên” (default)."),
        example="Thành viên",
    )
    affiliation = Column(
        "Thành phần",
        attribute="affiliation",
        widget=ChoiceWidget(AFFILIATION_WORDS, _("Unknown affiliation; see the instructions sheet.")),
        aliases=("Đơn vị", "affiliation"),
        help_text=_(
            "Optional: Trưởng thôn, Bí thư chi bộ, Công an, Đoàn thanh niên, Hội phụ nữ, Hội nông dân, "
            "Hội cựu chiến binh, Mặt trận Tổ quốc, Cán bộ xã, Giáo viên, Nhân viên viễn thông, bưu điện, "
            "Tình nguyện viên, Khác."
        ),
        example="Đoàn thanh niên",
    )
    started_on = Column(
        "Ngày bắt đầu",
        attribute="started_on",
        widget=DateWidget(),
        required=True,
        aliases=("Ngày tham gia", "started_on"),
        help_text=_("dd/mm/yyyy, not in the future."),
        example=dt.date(2024, 1, 1),
    )
    ended_on = Column(
        "Ngày kết thúc",
        attribute="ended_on",
        widget=DateWidget(),
        aliases=("ended_on",),
        help_text=_("Blank while the member is in the team."),
        example="",
    )

    class Meta:
        model = Membership
        fields = (
            "village_code",
            "team_name",
            "username",
            "last_name",
            "first_name",
            "phone",
            "role",
            "affiliation",
            "started_on",
            "ended_on",
        )

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("team", "user").prefetch_related(
            Prefetch("team__areas", queryset=Area.objects.order_by("code"))
        )

    def dehydrate_village_code(self, obj: Any) -> str:
        first = next(iter(obj.team.areas.all()), None)
        return first.code if first else ""
