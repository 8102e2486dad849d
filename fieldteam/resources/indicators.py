"""Indicator targets, reported indicator values, and (export only) every stored indicator value.

Targets: ``Mã chỉ tiêu`` · ``Mã địa bàn`` (province, commune or village code) · ``Năm`` · ``Giá
trị`` · ``So sánh`` (≥ or >) · ``Kế hoạch``. Matched on indicator, area and year.

Reported values (indicators no household data can give: share of GRDP, ...): ``Mã chỉ tiêu`` ·
``Mã địa bàn`` · ``Kỳ`` (2026-03, 2026-Q1 or 2026) · ``Giá trị`` · ``Ghi chú``; entered through
``fieldteam.services.indicators.report_indicator_value``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import TargetComparison
from fieldteam.models import Area, IndicatorValue, Target
from fieldteam.periods import Period
from fieldteam.selectors.population import (
    NO_OFFICIAL_READING,
    WARNING_LABELS,
    Bounds,
    OfficialFigure,
    OfficialReading,
    level_of,
    official_figures,
    official_source_label,
    province_bounds,
    reading_figures,
)

from .base import (
    CellWidget,
    ChoiceWidget,
    CodeWidget,
    Column,
    DateWidget,
    DecimalWidget,
    FieldteamResource,
    IntegerWidget,
    TextWidget,
)

COMPARISON_WORDS = [
    ("≥", TargetComparison.AT_LEAST),
    (">", TargetComparison.MORE_THAN),
    (">=", TargetComparison.AT_LEAST),
    ("tối thiểu", TargetComparison.AT_LEAST),
    ("ít nhất", TargetComparison.AT_LEAST),
    ("at_least", TargetComparison.AT_LEAST),
    ("lớn hơn", TargetComparison.MORE_THAN),
    ("trên", TargetComparison.MORE_THAN),
    ("more_than", TargetComparison.MORE_THAN),
]


class PeriodWidget(CellWidget):
    """A reporting period: ``2026-03`` (month), ``2026-Q1`` (quarter) or ``2026`` (year)."""

    def parse(self, value: Any) -> Period:
        from django.core.exceptions import ValidationError

        text = str(int(value)) if isinstance(value, int | float) and not isinstance(value, bool) else str(value)
        try:
            return Period.parse(text)
        except ValidationError:
            raise ValueError(str(_("A period is written 2026-03 (month), 2026-Q1 (quarter) or 2026 (year)."))) from None

    def render(self, value: Any, obj: Any = None, **kwargs: Any) -> str:
        return str(value) if value else ""


class TargetResource(FieldteamResource):
    import_kind = "targets"
    export_kind = "targets"
    title = _("indicator targets")

    indicator_code = Column(
        "Mã chỉ tiêu",
        attribute="indicator__code",
        widget=CodeWidget(60),
        required=True,
        aliases=("indicator", "indicator_code"),
        help_text=_("The indicator's code (see the indicator list)."),
        example="adults_smartphone",
    )
    area_code = Column(
        "Mã địa bàn",
        attribute="area__code",
        widget=CodeWidget(32),
        required=True,
        aliases=("Mã tỉnh/xã/thôn", "area", "area_code"),
        help_text=_("Code of the province, commune or village the target is for."),
        example="52",
    )
    year = Column(
        "Năm",
        attribute="year",
        widget=IntegerWidget(2000, 2100),
        required=True,
        aliases=("year",),
        help_text=_("The year of the target, e.g. 2025 or 2030."),
        example=2025,
    )
    value = Column(
        "Giá trị",
        attribute="value",
        widget=DecimalWidget(),
        required=True,
        aliases=("Chỉ tiêu", "value"),
        help_text=_("The target value (for a percentage: 80 or 80,5)."),
        example=80,
    )
    comparison = Column(
        "So sánh",
        attribute="comparison",
        widget=ChoiceWidget(COMPARISON_WORDS, _("Write “≥” (at least) or “>” (more than).")),
        aliases=("comparison",),
        help_text=_("“≥” (at least, default) or “>” (more than)."),
        example="≥",
    )
    source = Column(
        "Kế hoạch",
        attribute="source",
        widget=TextWidget(200),
        aliases=("Nguồn", "source"),
        help_text=_("The plan that sets the target (optional)."),
        example="KH 1331/KH-UBND",
    )

    class Meta:
        model = Target
        fields = ("indicator_code", "area_code", "year", "value", "comparison", "source")

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("indicator", "area")


class ReportedValueResource(FieldteamResource):
    import_kind = "indicator_values"
    export_kind = "reported_values"
    title = _("reported indicator values")

    indicator_code = Column(
        "Mã chỉ tiêu",
        attribute="indicator__code",
        widget=CodeWidget(60),
        required=True,
        aliases=("indicator", "indicator_code"),
        help_text=_("The code of a reported indicator (one no household data can give)."),
        example="digital_economy_grdp_share",
    )
    area_code = Column(
        "Mã địa bàn",
        attribute="area__code",
        widget=CodeWidget(32),
        required=True,
        aliases=("area", "area_code"),
        help_text=_("Code of the province, commune or village."),
        example="52",
    )
    period = Column(
        "Kỳ",
        widget=PeriodWidget(),
        required=True,
        aliases=("Kỳ báo cáo", "period"),
        help_text=_("2026-03 (month), 2026-Q1 (quarter) or 2026 (year); not a future period."),
        example="2025",
    )
    value = Column(
        "Giá trị",
        attribute="value",
        widget=DecimalWidget(),
        required=True,
        aliases=("value",),
        help_text=_("Zero or more; a percentage at most 100."),
        example="12,5",
    )
    note = Column(
        "Ghi chú",
        attribute="note",
        widget=TextWidget(500),
        aliases=("note",),
        help_text=_("Source or remark (optional)."),
        example="Cục Thống kê",
    )

    class Meta:
        model = IndicatorValue
        fields = ("indicator_code", "area_code", "period", "value", "note")

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("indicator", "area")

    def dehydrate_period(self, obj: IndicatorValue) -> str:
        return str(Period(obj.period_kind, obj.period_start))


class IndicatorValueResource(FieldteamResource):
    """Every stored value (month/quarter/year snapshots of computed indicators and reported values)."""

    export_kind = "indicator_values"
    title = _("indicator values")

    indicator_code = Column("Mã chỉ tiêu", attribute="indicator__code", widget=CodeWidget(60), import_=False)
    indicator_name = Column("Tên chỉ tiêu", attribute="indicator__name", import_=False)
    area_code = Column("Mã địa bàn", attribute="area__code", widget=CodeWidget(32), import_=False)
    area_name = Column("Tên địa bàn", attribute="area__name", import_=False)
    period = Column("Kỳ", widget=PeriodWidget(), import_=False)
    # Over the official population first: what the province reports (issue 15).
    official_value = Column("Tỷ lệ theo dân số chính thức", widget=DecimalWidget(), import_=False)
    official_population = Column("Dân số chính thức", widget=IntegerWidget(), import_=False)
    official_figure = Column("Số liệu chính thức", import_=False)
    numerator = Column("Tử số", attribute="numerator", widget=IntegerWidget(), import_=False)
    denominator = Column("Mẫu số", attribute="denominator", widget=IntegerWidget(), import_=False)
    value = Column("Giá trị", attribute="value", widget=DecimalWidget(), import_=False)
    coverage = Column("Độ bao phủ của sổ đăng ký (%)", widget=DecimalWidget(), import_=False)
    warnings = Column("Cảnh báo chất lượng số liệu", import_=False)
    unit = Column("Đơn vị", attribute="indicator__unit", import_=False)
    kind = Column("Cách tính", import_=False)
    updated = Column("Cập nhật", widget=DateWidget(), import_=False)
    note = Column("Ghi chú", attribute="note", import_=False)

    class Meta:
        model = IndicatorValue
        fields = (
            "indicator_code",
            "indicator_name",
            "area_code",
            "area_name",
            "period",
            "official_value",
            "official_population",
            "official_figure",
            "numerator",
            "denominator",
            "value",
            "coverage",
            "warnings",
            "unit",
            "kind",
            "updated",
            "note",
        )

    def export_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("indicator", "area")

    def dehydrate_period(self, obj: IndicatorValue) -> str:
        return str(Period(obj.period_kind, obj.period_start))

    def prepare_export_chunk(self, objects: list[Any]) -> None:
        """Each value's official parts, from the official figures of its province and year.

        One query per province and year, and one per province for its own age bounds (which decide
        the band), whatever the number of rows (kept for the next chunks).
        """
        figures: dict[tuple[int, int], dict[int, dict[str, OfficialFigure]]] = self.options.setdefault("figures", {})
        bounds: dict[int, Bounds] = self.options.setdefault("bounds", {})
        self.officials: dict[int, tuple[OfficialReading, str]] = {}
        for obj in objects:
            area = obj.area
            key = (area.province_id or area.pk, obj.period_start.year)
            if key not in figures:
                figures[key] = official_figures(Area(pk=key[0], path=area.path[: Area.steplen]), key[1])
            if key[0] not in bounds:
                bounds[key[0]] = province_bounds(key[0])
            reading = reading_figures(
                obj.indicator, obj.numerator, obj.denominator, figures[key].get(area.pk), bounds[key[0]]
            )
            self.officials[obj.pk] = (reading, level_of(area))

    def _official(self, obj: IndicatorValue) -> OfficialReading:
        return getattr(self, "officials", {}).get(obj.pk, (NO_OFFICIAL_READING, ""))[0]

    def dehydrate_official_value(self, obj: IndicatorValue) -> Any:
        return self._official(obj).value

    def dehydrate_official_population(self, obj: IndicatorValue) -> Any:
        return self._official(obj).figure.value

    def dehydrate_official_figure(self, obj: IndicatorValue) -> str:
        official, level = getattr(self, "officials", {}).get(obj.pk, (NO_OFFICIAL_READING, ""))
        return official_source_label(official.figure, level) if official.band else ""

    def dehydrate_coverage(self, obj: IndicatorValue) -> Any:
        return self._official(obj).coverage

    def dehydrate_warnings(self, obj: IndicatorValue) -> str:
        return " ".join(str(WARNING_LABELS[code]) for code in self._official(obj).warnings)

    def dehydrate_kind(self, obj: IndicatorValue) -> str:
        return "tính từ dữ liệu hộ" if obj.indicator.is_computed else "báo cáo"

    def dehydrate_updated(self, obj: IndicatorValue) -> Any:
        from django.utils import timezone

        moment = obj.reported_at or obj.computed_at
        return timezone.localdate(moment) if moment else None
