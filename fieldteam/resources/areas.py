"""Villages under communes, by the official commune code.

Columns: ``Mã xã`` (official 5-digit commune code; ``4`` reads as ``00004``) · ``Mã thôn`` (the
province's own village code, unique across the country) · ``Tên thôn`` · ``Loại`` (thôn, bản,
làng, buôn, ấp, sóc, xóm, khóm, tổ dân phố, khu phố, tiểu khu). Imported through
``fieldteam.services.areas.create_village``; a village already there (same code, same commune)
is matched, its name and kind brought up to date.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AreaKind
from fieldteam.models import Area
from fieldteam.services.areas import COMMUNE_CODE_LENGTH

from .base import ChoiceWidget, CodeWidget, Column, FieldteamResource, TextWidget, YesNoWidget

VILLAGE_KIND_WORDS = [
    ("Thôn", AreaKind.THON),
    ("Bản", AreaKind.BAN),
    ("Làng", AreaKind.LANG),
    ("Buôn", AreaKind.BUON),
    ("Ấp", AreaKind.AP),
    ("Sóc", AreaKind.SOC),
    ("Xóm", AreaKind.XOM),
    ("Khóm", AreaKind.KHOM),
    ("Tổ dân phố", AreaKind.TO_DAN_PHO),
    ("Khu phố", AreaKind.KHU_PHO),
    ("Tiểu khu", AreaKind.TIEU_KHU),
    ("TDP", AreaKind.TO_DAN_PHO),
]


class VillageResource(FieldteamResource):
    import_kind = "villages"
    export_kind = "villages"
    title = _("villages")

    commune_code = Column(
        "Mã xã",
        widget=CodeWidget(32, pad=COMMUNE_CODE_LENGTH),
        required=True,
        aliases=("Mã xã/phường", "Mã đơn vị hành chính", "commune_code"),
        help_text=_("The official code of the commune, ward or special zone (statistics office, 2025)."),
        example="23764",
    )
    code = Column(
        "Mã thôn",
        attribute="code",
        widget=CodeWidget(32),
        required=True,
        aliases=("Mã thôn/tổ dân phố", "village_code"),
        help_text=_("The province's own code of the village; unique."),
        example="23764-01",
    )
    name = Column(
        "Tên thôn",
        attribute="name",
        widget=TextWidget(200),
        required=True,
        aliases=("Tên thôn/tổ dân phố", "Tên", "name"),
        help_text=_("Name of the village or residential group."),
        example="Thôn Hợp Thành",
    )
    kind = Column(
        "Loại",
        attribute="kind",
        widget=ChoiceWidget(
            VILLAGE_KIND_WORDS,
            _("Write one of: thôn, bản, làng, buôn, ấp, sóc, xóm, khóm, tổ dân phố, khu phố, tiểu khu."),
        ),
        required=True,
        aliases=("Loại thôn", "kind"),
        help_text=_("thôn, bản, làng, buôn, ấp, sóc, xóm, khóm, tổ dân phố, khu phố or tiểu khu."),
        example="Thôn",
    )
    is_active = Column("Còn hoạt động", attribute="is_active", widget=YesNoWidget(), import_=False)

    class Meta:
        model = Area
        fields = ("commune_code", "code", "name", "kind", "is_active")

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        parent_path = Substr(OuterRef("path"), 1, (OuterRef("depth") - 1) * Area.steplen)
        return queryset.annotate(parent_code=Subquery(Area.objects.filter(path=parent_path).values("code")[:1]))

    def dehydrate_commune_code(self, obj: Any) -> str:
        return getattr(obj, "parent_code", "") or ""
