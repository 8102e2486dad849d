"""Imports of indicator targets and of reported indicator values (by the province officer of the area)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fieldteam.choices import (
    IndicatorKind,
    TargetComparison,
)
from fieldteam.imports.base import ImportKind, ImportRefused, group_rows, resolved
from fieldteam.models import (
    Area,
    Indicator,
    Target,
)
from fieldteam.periods import Period
from fieldteam.permissions import is_province_officer_of
from fieldteam.resources import (
    ReportedValueResource,
    TargetResource,
)
from fieldteam.rollup import sign_off
from fieldteam.services import indicators


def _check_indicator_and_area(importer: Any, items: list[Any], *, reported_only: bool, out_of_scope: Any) -> None:
    """Resolve each row's indicator and area codes and check them (targets and reported values alike).

    Only a province officer of the area may set its targets or report its values; ``reported_only``
    refuses indicators computed from household data.
    """
    indicators = {i.code: i for i in Indicator.objects.filter(code__in={i.indicator_code for i in items})}
    areas = importer.areas_by_code(i.area_code for i in items)
    for item in items:
        item.indicator = indicators.get(item.indicator_code)
        item.area = areas.get(item.area_code)
        if item.indicator is None:
            importer.fail(
                item.row,
                "indicator_code",
                _("No indicator has the code “%(code)s”.") % {"code": item.indicator_code},
                code="unknown_indicator",
            )
        elif reported_only and item.indicator.kind != IndicatorKind.REPORTED:
            importer.fail(
                item.row, "indicator_code", _("This indicator is computed from household data."), code="computed"
            )
        elif item.indicator.unit == "%" and item.value > 100:
            importer.fail(item.row, "value", _("A percentage cannot exceed 100."), code="range")
        if item.area is None:
            importer.fail(
                item.row,
                "area_code",
                _("No area has the code “%(code)s”.") % {"code": item.area_code},
                code="unknown_area",
            )
        elif not importer.may_write(item.area) or not is_province_officer_of(importer.actor, item.area):
            importer.fail(item.row, "area_code", out_of_scope, code="out_of_scope")


@dataclass(slots=True)
class TargetRow:
    row: int
    indicator_code: str
    area_code: str
    year: int
    value: Decimal
    comparison: str
    source: str
    indicator: Indicator | None = None
    area: Area | None = None
    existing: Target | None = None


class TargetsImport(ImportKind):
    name = "targets"
    resource_class = TargetResource

    def parse(self, row: int, cells: dict[str, Any]) -> TargetRow | None:
        value = self.value(row, cells, "value", required=True)
        if value is not None and value < 0:
            self.fail(row, "value", _("Enter a value of zero or more."), code="range")
        if value is not None and value >= Decimal("100000"):
            self.fail(row, "value", _("The value is too large."), code="range")
        item = TargetRow(
            row=row,
            indicator_code=self.value(row, cells, "indicator_code", required=True) or "",
            area_code=self.value(row, cells, "area_code", required=True) or "",
            year=self.value(row, cells, "year", required=True),
            value=value,
            comparison=(self.value(row, cells, "comparison") if "comparison" in cells else None)
            or TargetComparison.AT_LEAST,
            source=self.value(row, cells, "source") or "" if "source" in cells else "",
        )
        return None if row in self.errors else item

    def check(self, items: list[TargetRow]) -> None:
        _check_indicator_and_area(
            self, items, reported_only=False, out_of_scope=_("Only the province officer of this area sets its targets.")
        )
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            group_rows(valid, lambda i: (i.indicator.pk, i.area.pk, i.year)),
            "year",
            _("The same target is also on row %(rows)s."),
        )
        existing = {
            (t.indicator_id, t.area_id, t.year): t
            for t in Target.objects.filter(indicator__in={i.indicator for i in valid}, area__in={i.area for i in valid})
        }
        for item in valid:
            item.existing = existing.get((resolved(item.indicator).pk, resolved(item.area).pk, item.year))

    def plan(self, items: list[TargetRow]) -> dict[str, int]:
        existing = sum(1 for i in items if i.existing is not None)
        return {"targets_new": len(items) - existing, "targets_existing": existing}

    @transaction.atomic
    def write(self, items: list[TargetRow]) -> dict[str, int]:
        counts = self.plan(items)
        for item in items:
            with self.refusals_of_row(item.row):
                indicators.set_target(
                    actor=self.actor,
                    indicator=resolved(item.indicator),
                    area=resolved(item.area),
                    year=item.year,
                    value=item.value,
                    comparison=item.comparison,
                    source=item.source,
                    target=item.existing,
                )
        return counts

    def preview(self, item: TargetRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "indicator": item.indicator_code,
            "area": item.area_code,
            "year": item.year,
            "value": str(item.value),
        }


@dataclass(slots=True)
class ReportedValueRow:
    row: int
    indicator_code: str
    area_code: str
    period: Period
    value: Decimal
    note: str
    indicator: Indicator | None = None
    area: Area | None = None


class ReportedValuesImport(ImportKind):
    name = "indicator_values"
    resource_class = ReportedValueResource

    def start(self) -> None:
        super().start()
        if self.actor is None:
            raise ImportRefused(_("Reported values record who reported them: import them as a user (--as-user)."))

    def parse(self, row: int, cells: dict[str, Any]) -> ReportedValueRow | None:
        value = self.value(row, cells, "value", required=True)
        if value is not None and value < 0:
            self.fail(row, "value", _("Enter a value of zero or more."), code="range")
        period = self.value(row, cells, "period", required=True)
        if period is not None and period.start > self.today:
            self.fail(row, "period", _("The period has not started yet."), code="future")
        item = ReportedValueRow(
            row=row,
            indicator_code=self.value(row, cells, "indicator_code", required=True) or "",
            area_code=self.value(row, cells, "area_code", required=True) or "",
            period=period,
            value=value,
            note=self.value(row, cells, "note") or "" if "note" in cells else "",
        )
        return None if row in self.errors else item

    def check(self, items: list[ReportedValueRow]) -> None:
        _check_indicator_and_area(
            self,
            items,
            reported_only=True,
            out_of_scope=_("Only the province officer of this area reports its values."),
        )
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            group_rows(valid, lambda i: (i.indicator.pk, i.area.pk, i.period)),
            "period",
            _("The same value is also on row %(rows)s."),
        )
        # An approved month's values are locked: said on the row before anything is written.
        for item in valid:
            area = resolved(item.area)
            approval = sign_off.approvals_locking(area, sign_off.locking_month(item.period)).first()
            if approval is not None:
                message = sign_off.month_locked_error(approval, field="period").error_dict["period"][0].message
                self.fail(item.row, "period", message, code="month_locked")

    @transaction.atomic
    def write(self, items: list[ReportedValueRow]) -> dict[str, int]:
        actor = self.actor
        assert actor is not None  # noqa: S101 - start() refused an import without a user
        for item in items:
            with self.refusals_of_row(item.row):
                indicators.report_indicator_value(
                    actor=actor,
                    indicator=resolved(item.indicator),
                    area=resolved(item.area),
                    period=item.period,
                    value=item.value,
                    note=item.note,
                )
        return {"values": len(items)}

    def preview(self, item: ReportedValueRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "indicator": item.indicator_code,
            "area": item.area_code,
            "period": str(item.period),
            "value": str(item.value),
        }
