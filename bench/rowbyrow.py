"""The baseline of ``bench/import.py``: django-import-export's own row-by-row import of a residents file.

``RowByRowResidentResource.import_data`` is the library's default import (a savepoint per row),
each row parsed and checked as the bulk import checks it (``RowByRowResidents``, a
``ResidentsImport``) and saved through the services (``register_household``, ``register_resident``,
``update_resident``, ``set_adoption``). Nothing in the application imports this way: the admin,
the commands and the jobs all run ``fieldteam.imports.engine.import_file``. It lives here as the
reference the bulk import is measured (and, in ``tests/imports/test_residents.py``, checked) against.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from fieldteam.choices import AdoptionSource
from fieldteam.imports.base import ImportOptions, name_key
from fieldteam.imports.kinds.people import ResidentsImport
from fieldteam.imports.kinds.people_bulk import ResidentRow, paper_consent
from fieldteam.models import Household, Resident, User
from fieldteam.resources import ResidentResource
from fieldteam.services.adoption import set_adoption
from fieldteam.services.consent import has_open_consent, record_consent
from fieldteam.services.people import register_household, register_resident, update_resident


class RowByRowResidents(ResidentsImport):
    """The resident import as django-import-export runs it: row by row, each saved through the services.

    Used by ``RowByRowResidentResource.import_data`` (the library's default, non-bulk path). Every row is
    parsed and checked like in the bulk import, then saved with ``register_household``,
    ``register_resident``, ``update_resident`` and ``set_adoption``.
    """

    def __init__(self, *, actor: User | None, options: ImportOptions, resource: ResidentResource) -> None:
        super().__init__(actor=actor, options=options)
        self.resource = resource
        self.headers = {c.key: c.header for c in resource.columns()}
        self.widgets = {c.key: c.widget for c in resource.columns()}
        self.row_number = 1
        self.seen_hashes: dict[str, int] = {}
        self.seen_people: dict[tuple[Any, ...], int] = {}

    def start(self, headers: list[Any]) -> None:  # type: ignore[override]  # the library's start() takes no headers; the import calls this one itself
        super().start()
        self.bind(headers)
        self.header_names = headers

    def parse_and_match(self, row: dict[str, Any]) -> tuple[Resident, bool]:
        self.row_number += 1
        number = self.row_number
        values = [row.get(h) for h in self.header_names]
        item = self.parse(number, self.cells(values))
        if item is not None:
            self.check([item])
        if number in self.errors:
            messages: dict[str, list[str]] = defaultdict(list)
            for error in self.errors[number]:
                messages[error.column or "__all__"].append(error.message)
            raise ValidationError(dict(messages))
        if item.existing is not None:
            resident = Resident.objects.get(pk=item.existing["id"])
            new = False
        else:
            resident = Resident(
                full_name=item.full_name, sex=item.sex, birth_year=item.birth_year, birth_date=item.birth_date
            )
            new = True
        resident._import_item = item  # type: ignore[attr-defined]  # the import attaches its row to the instance it builds
        return resident, new

    def check_in_file(self, items: list[ResidentRow]) -> None:
        for item in items:
            if item.citizen_hash:
                other = self.seen_hashes.setdefault(item.citizen_hash, item.row)
                if other != item.row:
                    self.fail(
                        item.row,
                        "citizen_id",
                        _("The same citizen ID is also on row %(rows)s.") % {"rows": other},
                        code="duplicate_in_file",
                    )
            if item.household.key:
                key = (item.household.key, name_key(item.full_name), item.birth_year)
                other = self.seen_people.setdefault(key, item.row)
                if other != item.row:
                    self.fail(
                        item.row,
                        "full_name",
                        _("The same name and birth year are also on row %(rows)s of this household.") % {"rows": other},
                        code="duplicate_in_file",
                    )

    def save(self, instance: Resident, is_create: bool) -> None:
        item: ResidentRow = instance._import_item  # type: ignore[attr-defined]  # the import attaches its row to the instance it builds
        part = item.household
        if part.existing is not None:
            household = Household.objects.get(pk=part.existing["id"])
        else:
            household = register_household(
                actor=self.actor,
                village=part.village,
                code=part.code,
                head_name=part.head_name or item.full_name,
                address=part.address,
            )
        if is_create:
            resident = register_resident(
                actor=self.actor,
                household=household,
                full_name=item.full_name,
                sex=item.sex,
                birth_year=item.birth_year,
                birth_date=item.birth_date,
                citizen_id=item.citizen_id,
                phone=item.phone,
                ethnicity=item.ethnicity,
                consent=paper_consent(item.consent_date) if item.consent_date is not None else None,
                check_rate=False,  # an officer's import: the whole file, in the trail
            )
        else:
            resident = instance
            changes = {}
            if item.fill_citizen_id:
                changes["citizen_id"] = item.citizen_id
            if item.fill_phone:
                changes["phone"] = item.phone
            # Never a second consent for a resident who has an open one.
            consent = (
                paper_consent(item.consent_date)
                if item.consent_date is not None and not has_open_consent(resident)
                else None
            )
            if changes:
                resident = update_resident(
                    actor=self.actor, resident=resident, consent=consent, check_rate=False, **changes
                )
            elif consent is not None:
                record_consent(actor=self.actor, resident=resident, consent=consent)
        for capability_id, since in sorted(item.capabilities.items()):
            set_adoption(
                actor=self.actor,
                capability=self.capability_by_id[capability_id],
                since=since,
                source=AdoptionSource.IMPORT,
                resident=resident,
            )
        for capability_id, since in sorted(part.capabilities.items()):
            set_adoption(
                actor=self.actor,
                capability=self.capability_by_id[capability_id],
                since=since,
                source=AdoptionSource.IMPORT,
                household=household,
            )
        instance.pk = resident.pk
        instance.__dict__.update({k: v for k, v in resident.__dict__.items() if k != "_state"})


class RowByRowResidentResource(ResidentResource):
    """``ResidentResource`` whose ``import_data`` runs ``RowByRowResidents`` row by row (see the module)."""

    def before_import(self, dataset: Any, **kwargs: Any) -> None:
        options = self.options.get("import_options") or ImportOptions()
        self.row_import = RowByRowResidents(actor=self.options.get("actor"), options=options, resource=self)
        self.row_import.start(list(dataset.headers or []))

    def get_or_init_instance(self, instance_loader: Any, row: dict[str, Any]) -> tuple[Resident, bool]:
        resident, new = self.row_import.parse_and_match(row)
        return resident, new

    def import_instance(self, instance: Resident, row: dict[str, Any], **kwargs: Any) -> None:
        """Fields were set while parsing (``get_or_init_instance``); nothing is read twice."""

    def validate_instance(
        self, instance: Resident, import_validation_errors: Any = None, validate_unique: bool = True
    ) -> None:
        if import_validation_errors:
            raise ValidationError(import_validation_errors)

    def do_instance_save(self, instance: Resident, is_create: bool) -> None:
        self.row_import.save(instance, is_create)

    def save_m2m(self, instance: Resident, row: dict[str, Any], **kwargs: Any) -> None:
        """No many-to-many fields."""

    def after_import(self, dataset: Any, result: Any, **kwargs: Any) -> None:
        """No sequence reset: rows are created by the services, never with explicit ids."""
