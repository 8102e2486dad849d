"""Official population figures: ``Mã địa bàn`` · ``Năm`` · ``Tổng dân số`` · the age bands · ``Số hộ`` · ``Nguồn``.

One row per area and year (matched on both: a second import of the same area and year corrects
it), entered through ``fieldteam.services.population.set_official_population``. A band left blank
is unknown.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam.models import OfficialPopulation
from fieldteam.models.population import COUNT_FIELDS

from .base import CodeWidget, Column, DecimalWidget, FieldteamResource, IntegerWidget, TextWidget

# Counts are read as numbers of any kind, so that 12,5 or -3 reach the service's own checks and
# get its words (not a whole number, negative) naming the column.
_COUNT = DecimalWidget


class OfficialPopulationResource(FieldteamResource):
    import_kind = "population"
    export_kind = "population"
    title = _("official population figures")

    area_code = Column(
        "Mã địa bàn",
        attribute="area__code",
        widget=CodeWidget(32),
        required=True,
        aliases=("Mã tỉnh/xã/thôn", "area", "area_code"),
        help_text=_("Code of the province, commune or village the figure is for."),
        example="26734",
    )
    year = Column(
        "Năm",
        attribute="year",
        widget=IntegerWidget(2000, 2100),
        required=True,
        aliases=("year",),
        help_text=_("The year of the figure, e.g. 2025."),
        example=2025,
    )
    total = Column(
        "Tổng dân số",
        attribute="total",
        widget=_COUNT(),
        required=True,
        aliases=("Dân số", "total"),
        help_text=_("All residents: a whole number, zero or more."),
        example=5120,
    )
    age_14_plus = Column(
        "Từ 14 tuổi trở lên",
        attribute="age_14_plus",
        widget=_COUNT(),
        aliases=("14+", "age_14_plus"),
        help_text=_("Residents aged 14 and over (blank: unknown); at most the total."),
        example=3900,
    )
    age_15_plus = Column(
        "Từ 15 tuổi trở lên",
        attribute="age_15_plus",
        widget=_COUNT(),
        aliases=("15+", "age_15_plus"),
        help_text=_("Residents aged 15 and over (blank: unknown); at most those aged 14 and over."),
        example=3820,
    )
    age_18_plus = Column(
        "Từ 18 tuổi trở lên",
        attribute="age_18_plus",
        widget=_COUNT(),
        aliases=("18+", "age_18_plus"),
        help_text=_("Residents aged 18 and over (blank: unknown); at most those aged 15 and over."),
        example=3600,
    )
    working_age_male = Column(
        "Nam trong độ tuổi lao động",
        attribute="working_age_male",
        widget=_COUNT(),
        aliases=("working_age_male",),
        help_text=_("Working-age men (blank: unknown)."),
        example=1700,
    )
    working_age_female = Column(
        "Nữ trong độ tuổi lao động",
        attribute="working_age_female",
        widget=_COUNT(),
        aliases=("working_age_female",),
        help_text=_("Working-age women (blank: unknown); men and women together at most those aged 15 and over."),
        example=1550,
    )
    households = Column(
        "Số hộ",
        attribute="households",
        widget=_COUNT(),
        aliases=("Số hộ gia đình", "households"),
        help_text=_("Households (blank: unknown); at most the total."),
        example=1300,
    )
    source = Column(
        "Nguồn",
        attribute="source",
        widget=TextWidget(200),
        aliases=("source",),
        help_text=_("Where the figure comes from (optional), e.g. Cục Thống kê, công an xã."),
        example="Cục Thống kê",
    )

    class Meta:
        model = OfficialPopulation
        fields = (
            "area_code",
            "year",
            *COUNT_FIELDS,
            "source",
        )

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("area")
