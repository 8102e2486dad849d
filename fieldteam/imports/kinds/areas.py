"""Import of villages (created under their commune through ``fieldteam.services.areas``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from fieldteam.choices import (
    COMMUNE_KINDS,
    VILLAGE_KINDS,
    AreaKind,
)
from fieldteam.imports.base import ImportKind, group_rows, parent_ids, resolved
from fieldteam.models import (
    Area,
)
from fieldteam.resources import (
    VillageResource,
)
from fieldteam.services.areas import create_village, update_area
from fieldteam.village_kinds import read_village_kind, written_kind


@dataclass(slots=True)
class VillageRow:
    row: int
    commune_code: str
    code: str
    name: str
    kind: str  # the list's word until ``check`` reads it into a kind (``fieldteam.village_kinds``)
    commune: Area | None = None
    existing: Area | None = None
    kind_label: str = ""


class VillagesImport(ImportKind):
    name = "villages"
    resource_class = VillageResource

    def parse(self, row: int, cells: dict[str, Any]) -> VillageRow | None:
        item = VillageRow(
            row=row,
            commune_code=self.value(row, cells, "commune_code", required=True) or "",
            code=self.value(row, cells, "code", required=True) or "",
            name=self.value(row, cells, "name", required=True) or "",
            kind=self.value(row, cells, "kind", required=True) or "",
        )
        return None if row in self.errors else item

    def check(self, items: list[VillageRow]) -> None:
        self.flag_duplicates(
            group_rows(items, lambda i: i.code), "code", _("The same village code is also on row %(rows)s.")
        )
        areas = self.areas_by_code([i.commune_code for i in items] + [i.code for i in items])
        parents = parent_ids([a for a in areas.values() if a.kind in VILLAGE_KINDS])
        for item in items:
            commune = areas.get(item.commune_code)
            if commune is None:
                self.fail(
                    item.row,
                    "commune_code",
                    _("No commune has the official code “%(code)s”.") % {"code": item.commune_code},
                    code="unknown_commune",
                )
                continue
            if commune.kind not in COMMUNE_KINDS:
                self.fail(
                    item.row,
                    "commune_code",
                    _("“%(code)s” is not the code of a commune, ward or special zone.") % {"code": item.commune_code},
                    code="not_a_commune",
                )
                continue
            if self.options.commune is not None and commune.pk != self.options.commune.pk:
                self.fail(
                    item.row,
                    "commune_code",
                    _("The file is for %(commune)s.") % {"commune": self.options.commune.name},
                    code="other_commune",
                )
                continue
            if not self.may_write(commune):
                self.fail(
                    item.row,
                    "commune_code",
                    _("“%(code)s” is outside your area.") % {"code": item.commune_code},
                    code="out_of_scope",
                )
                continue
            item.commune = commune
            item.kind, item.kind_label = read_village_kind(item.kind, in_ward=commune.kind == AreaKind.WARD)
            taken = areas.get(item.code)
            if taken is not None:
                if taken.kind in VILLAGE_KINDS and parents.get(taken.pk) == commune.pk:
                    item.existing = taken
                else:
                    self.fail(
                        item.row,
                        "code",
                        _("The code “%(code)s” is already used by %(area)s.") % {"code": item.code, "area": taken.name},
                        code="code_taken",
                    )

    def plan(self, items: list[VillageRow]) -> dict[str, int]:
        existing = [i for i in items if i.existing is not None]
        changed = sum(
            1 for i in items if i.existing is not None and _stored(i.existing) != (i.name, i.kind, i.kind_label)
        )
        return {
            "villages_new": len(items) - len(existing),
            "villages_existing": len(existing),
            "villages_updated": changed,
        }

    @transaction.atomic
    def write(self, items: list[VillageRow]) -> dict[str, int]:
        counts = self.plan(items)
        for item in sorted(items, key=lambda i: (i.commune_code, i.code)):
            if item.existing is None:
                commune = Area.objects.get(pk=resolved(item.commune).pk)  # fresh path: earlier inserts may have moved it
                with self.refusals_of_row(item.row):
                    create_village(
                        actor=self.actor,
                        commune=commune,
                        code=item.code,
                        name=item.name,
                        kind=item.kind,
                        kind_label=item.kind_label,
                    )
            elif _stored(item.existing) != (item.name, item.kind, item.kind_label):
                with self.refusals_of_row(item.row):
                    update_area(
                        actor=self.actor, area=item.existing, name=item.name, kind=item.kind, kind_label=item.kind_label
                    )
        return counts

    def preview(self, item: VillageRow) -> dict[str, Any]:
        return {
            "row": item.row,
            "action": "existing" if item.existing else "new",
            "commune": item.commune_code,
            "code": item.code,
            "name": item.name,
            "kind": written_kind(item.kind, item.kind_label),
        }


def _stored(village: Area) -> tuple[str, str, str]:
    return village.name, village.kind, village.kind_label
