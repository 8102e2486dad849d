"""Villages under communes, by the official commune code.

Columns: ``Mã xã`` (official 5-digit commune code; ``4`` reads as ``00004``) · ``Mã thôn`` (the
province's own village code, unique across the country) · ``Tên thôn`` · ``Loại`` (the word the
list uses: see ``fieldteam.village_kinds``). Imported through
``fieldteam.services.areas.create_village``; a village already there (same code, same commune)
is matched, its name and kind brought up to date.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Substr
from django.utils.translation import gettext_lazy as _

from fieldteam.models import Area
from fieldteam.services.areas import COMMUNE_CODE_LENGTH
from fieldteam.village_kinds import LOCAL_WORD_MAX_LENGTH, is_kind_word, written_kind

from .base import CodeWidget, Column, FieldteamResource, TextWidget, YesNoWidget


class VillageKindWidget(TextWidget):
    """The word a list uses for the village's kind; read into a kind by ``fieldteam.village_kinds``."""

    def parse(self, value: Any) -> str:
        text = super().parse(value)
        if not is_kind_word(text):
            raise ValueError(
                _(
                    "Write the kind of village in words (thôn, bản, làng, tổ dân phố, khối phố, ...), "
                    "at most %(count)d characters."
                )
                % {"count": LOCAL_WORD_MAX_LENGTH}
            )
        return text


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
        widget=VillageKindWidget(LOCAL_WORD_MAX_LENGTH),
        required=True,
        aliases=("Loại thôn", "kind"),
        help_text=_(
            "thôn, bản, làng, buôn, plei, bon, ấp, sóc, xóm, khóm, tổ dân phố, khu phố, khối phố, tiểu khu or "
            "khu vực, with or without diacritics; another local word is kept as written, the village counted "
            "as a thôn (a tổ dân phố in a ward)."
        ),
        example="Thôn",
    )
    is_active = Column("Còn hoạt động", attribute="is_active", widget=YesNoWidget(), import_=False)

    class Meta:
        model = Area
        fields = ("commune_code", "code", "name", "kind", "is_active")

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        parent_path = Substr(OuterRef("path"), 1, (OuterRef("depth") - 1) * Area.steplen)
        return queryset.annotate(parent_code=Subquery(Area.objects.filter(path=parent_path).values("code")[:1]))

    def dehydrate_kind(self, obj: Any) -> str:
        return written_kind(obj.kind, obj.kind_label)

    def dehydrate_commune_code(self, obj: Any) -> str:
        return getattr(obj, "parent_code", "") or ""
