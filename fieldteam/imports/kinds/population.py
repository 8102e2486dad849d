"""Import of official population figures (by the officers of the areas: commune or province)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from fieldteam.imports.base import ImportKind, group_rows, resolved
from fieldteam.models import Area, OfficialPopulation
from fieldteam.models.population import COUNT_FIELDS
from fieldteam.resources import OfficialPopulationResource
from fieldteam.services import population


@dataclass(slots=True)
class PopulationRow:
    row: int
    area_code: str
    year: int
    counts: dict[str, Any]
    source: str
    area: Area | None = None
    existing: bool = False
    warnings: list[str] = field(default_factory=list)


class PopulationImport(ImportKind):
    name = "population"
    resource_class = OfficialPopulationResource

    def parse(self, row: int, cells: dict[str, Any]) -> PopulationRow | None:
        year = self.value(row, cells, "year", required=True)
        counts = {
            name: self.value(row, cells, name, required=name == "total") for name in COUNT_FIELDS if name in cells
        }
        if row not in self.errors:
            # The service's own checks (whole, not negative, bands within the total), each named by its column.
            try:
                _year, checked = population.validate_counts(year, counts)
                counts = {name: checked[name] for name in counts}
            except ValidationError as exc:
                for key, messages in exc.message_dict.items():
                    for message in messages:
                        self.fail(row, key, message, code="invalid")
        item = PopulationRow(
            row=row,
            area_code=self.value(row, cells, "area_code", required=True) or "",
            year=year,
            counts=counts,
            source=(self.value(row, cells, "source") or "") if "source" in cells else "",
        )
        return None if row in self.errors else item

    def check(self, items: list[PopulationRow]) -> None:
        areas = self.areas_by_code(i.area_code for i in items)
        for item in items:
            item.area = areas.get(item.area_code)
            if item.area is None:
                self.fail(
                    item.row,
                    "area_code",
                    _("No area has the code “%(code)s”.") % {"code": item.area_code},
                    code="unknown_area",
                )
            elif self.scope is not None and not self.scope.is_officer_of(item.area):
                self.fail(item.row, "area_code", population.REFUSED, code="out_of_scope")
        valid = [i for i in items if self.is_valid(i.row)]
        self.flag_duplicates(
            group_rows(valid, lambda i: (i.area.pk, i.year)),
            "year",
            _("The same area and year is also on row %(rows)s."),
        )
        existing = set(
            OfficialPopulation.objects.filter(area__in={i.area for i in valid}).values_list("area_id", "year")
        )
        for item in valid:
            item.existing = (item.area.pk, item.year) in existing  # type: ignore[union-attr]  # valid rows have their area

    def plan(self, items: list[PopulationRow]) -> dict[str, int]:
        existing = sum(1 for i in items if i.existing)
        return {"figures_new": len(items) - existing, "figures_existing": existing}

    @transaction.atomic
    def write(self, items: list[PopulationRow]) -> dict[str, int]:
        counts = self.plan(items)
        warned = 0
        for item in items:
            with self.refusals_of_row(item.row):
                result = population.set_official_population(
                    actor=self.actor, area=resolved(item.area), year=item.year, source=item.source, **item.counts
                )
            item.warnings = result.warnings
            warned += bool(result.warnings)
        counts["figures_below_register"] = warned
        return counts

    def preview(self, item: PopulationRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "area": item.area_code,
            "year": item.year,
            "total": item.counts.get("total"),
        }
