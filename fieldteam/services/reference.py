"""Reference data from ``fixtures/``: capability catalogue, retirement ages, indicators, seed targets.

The files are JSON of our own shape (see each loader), matched on natural codes, never on pks, so
the same files load into any database and can be edited by hand.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import IndicatorKind, IndicatorLevel
from fieldteam.errors import field_error
from fieldteam.models import (
    Area,
    Capability,
    CapabilityDerivation,
    Indicator,
    NationalTarget,
    Plan,
    PlanTarget,
    RetirementAge,
    Target,
)
from fieldteam.services.areas import AdminUnitsResult, create_capability, load_admin_units, official_province_codes
from fieldteam.services.indicators import apply_plan_targets, refresh_plan_targets

CAPABILITIES_FILE = "capabilities.json"
INDICATORS_FILE = "indicators.json"
TARGETS_FILE = "targets.json"
RETIREMENT_AGES_FILE = "retirement_ages.json"


@dataclass
class UpsertCounts:
    """Rows created, updated, removed and left as they were by one loader."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass
class ReferenceResult:
    """What ``load_reference`` did, per kind of row.

    ``admin_units`` is set when provinces named by the targets were missing and were loaded first.
    """

    capabilities: UpsertCounts = field(default_factory=UpsertCounts)
    derivations: UpsertCounts = field(default_factory=UpsertCounts)
    retirement_ages: UpsertCounts = field(default_factory=UpsertCounts)
    indicators: UpsertCounts = field(default_factory=UpsertCounts)
    targets: UpsertCounts = field(default_factory=UpsertCounts)
    national_targets: UpsertCounts = field(default_factory=UpsertCounts)
    admin_units: AdminUnitsResult | None = None

    @property
    def changed(self) -> int:
        parts = (
            self.capabilities,
            self.derivations,
            self.retirement_ages,
            self.indicators,
            self.targets,
            self.national_targets,
        )
        return sum(p.created + p.updated + p.removed for p in parts)


class _Problems:
    """Row-numbered errors of one file, raised together so a fixture is fixed in one pass."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.errors: list[ValidationError] = []

    def add(self, row: int, field_name: str, message: Any) -> None:
        if field_name == NON_FIELD_ERRORS:
            self.errors.append(
                ValidationError(
                    _("%(file)s, row %(row)d: %(message)s"),
                    code="invalid_row",
                    params={"file": self.filename, "row": row, "message": message},
                )
            )
            return
        self.errors.append(
            ValidationError(
                _("%(file)s, row %(row)d, field “%(field)s”: %(message)s"),
                code="invalid_row",
                params={"file": self.filename, "row": row, "field": field_name, "message": message},
            )
        )

    def add_validation_error(self, row: int, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field_name, messages in error.message_dict.items():
                for message in messages:
                    self.add(row, field_name, message)
        else:
            for message in error.messages:
                self.add(row, NON_FIELD_ERRORS, message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError({self.filename: self.errors})


def _read(fixtures_dir: Path, filename: str, key: str) -> list[dict[str, Any]]:
    """The list of row objects under ``key`` in ``fixtures_dir / filename``."""
    path = fixtures_dir / filename
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _file_error(filename, _("The file %(path)s is missing."), "missing_file", path=str(path)) from None
    except json.JSONDecodeError as exc:
        raise _file_error(filename, _("Not valid JSON: %(error)s."), "invalid_json", error=str(exc)) from None
    rows = document.get(key) if isinstance(document, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise _file_error(
            filename, _("Expected an object with a list of objects under “%(key)s”."), "invalid_shape", key=key
        )
    return rows


def _read_optional(fixtures_dir: Path, filename: str, key: str) -> list[dict[str, Any]]:
    """As ``_read``, but a file without ``key`` has no rows of it."""
    document = json.loads((fixtures_dir / filename).read_text(encoding="utf-8"))
    return _read(fixtures_dir, filename, key) if isinstance(document, dict) and key in document else []


def _file_error(filename: str, message: Any, code: str, **params: Any) -> ValidationError:
    return field_error(filename, message, code=code, params=params)


def _required(row: dict[str, Any], keys: tuple[str, ...], number: int, problems: _Problems) -> bool:
    missing = [key for key in keys if key not in row]
    for key in missing:
        problems.add(number, key, _("This field is missing."))
    return not missing


def _column(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    # The reference files name the models' own columns, never a reverse relation.
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _upsert(model: type[models.Model], lookup: dict[str, Any], values: dict[str, Any]) -> str:
    """Create or update the row matching ``lookup``; ``created``, ``updated`` or ``unchanged``.

    Validates with ``full_clean`` (field types, choices, check constraints) before saving.
    """
    lookup = dict(lookup)
    for name, value in lookup.items():
        model_field = _column(model, name)
        if not model_field.is_relation:
            try:
                lookup[name] = model_field.to_python(value)
            except ValidationError as error:
                raise ValidationError({name: error.error_list}) from None
    instance = model._default_manager.filter(**lookup).first()
    if instance is None:
        instance = model(**lookup, **values)
        instance.full_clean()
        instance.save(force_insert=True)
        return "created"
    changed = []
    for name, value in values.items():
        model_field = _column(model, name)
        current = getattr(instance, model_field.attname)
        new = value.pk if isinstance(value, models.Model) else value
        # A bad value stays as it is: it differs, and full_clean below reports it against the field.
        with contextlib.suppress(ValidationError):
            new = model_field.to_python(new)
        if current != new:
            setattr(instance, name, value)
            changed.append(model_field.name)
    if not changed:
        return "unchanged"
    instance.full_clean()
    instance.save(update_fields=changed)
    return "updated"


def _load_capabilities(rows: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """Rows: ``code``, ``subject``, ``name`` (English), ``name_vi`` (stored), optional
    ``description``/``description_vi`` and ``sort_order``. New capabilities get the next free bit in
    file order; an existing capability keeps its bit and subject (holders' masks depend on both).
    """
    problems = _Problems(CAPABILITIES_FILE)
    for number, row in enumerate(rows, start=1):
        if not _required(row, ("code", "subject", "name_vi"), number, problems):
            continue
        values = {
            "name": row["name_vi"],
            "description": row.get("description_vi", ""),
            "sort_order": row.get("sort_order", 100),
        }
        existing = Capability.objects.filter(code=row["code"]).first()
        try:
            if existing is None:
                create_capability(code=row["code"], subject=row["subject"], **values)
                counts.count("created")
                continue
            if existing.subject != row["subject"]:
                problems.add(
                    number,
                    "subject",
                    _("The capability exists for “%(current)s”; its holder cannot be changed by a reload.")
                    % {"current": existing.subject},
                )
                continue
            counts.count(_upsert(Capability, {"code": row["code"]}, values))
        except ValidationError as error:
            problems.add_validation_error(number, error)
    problems.raise_if_any()


def _born_from(value: Any) -> date | None:
    """``YYYY-MM`` as the first day of that month; ``None`` if it is not one."""
    try:
        year, month = (int(part) for part in str(value).split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


def _load_retirement_ages(rows: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """Rows: ``sex``, ``born_from`` (``YYYY-MM``: the cohort's first birth month), ``age_months``.

    The file is the whole table (Decree 135/2020, Appendix I): cohorts it no longer lists are removed.
    """
    problems = _Problems(RETIREMENT_AGES_FILE)
    kept: set[tuple[str, date]] = set()
    for number, row in enumerate(rows, start=1):
        if not _required(row, ("sex", "born_from", "age_months"), number, problems):
            continue
        born_from = _born_from(row["born_from"])
        if born_from is None:
            problems.add(number, "born_from", _("Write the month as YYYY-MM."))
            continue
        try:
            counts.count(
                _upsert(RetirementAge, {"sex": row["sex"], "born_from": born_from}, {"age_months": row["age_months"]})
            )
            kept.add((row["sex"], born_from))
        except ValidationError as error:
            problems.add_validation_error(number, error)
    problems.raise_if_any()
    for stored in RetirementAge.objects.all():
        if (stored.sex, stored.born_from) not in kept:
            stored.delete()
            counts.count("removed")


def _load_derivations(rows: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """Rows: ``kind`` (``any_member``/``implies``), ``source`` and ``target`` (capability codes).

    Matched on (source, target); the model's ``clean`` checks the kind fits the two subjects.
    """
    problems = _Problems(CAPABILITIES_FILE)
    capabilities = {c.code: c for c in Capability.objects.all()}
    for number, row in enumerate(rows, start=1):
        if not _required(row, ("kind", "source", "target"), number, problems):
            continue
        ends = {}
        for key in ("source", "target"):
            ends[key] = capabilities.get(row[key])
            if ends[key] is None:
                problems.add(number, key, _("No capability has the code “%(code)s”.") % {"code": row[key]})
        if None in ends.values():
            continue
        try:
            counts.count(_upsert(CapabilityDerivation, ends, {"kind": row["kind"]}))
        except ValidationError as error:
            problems.add_validation_error(number, error)
    problems.raise_if_any()


def _load_indicators(rows: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """Rows: ``code``, ``group``, ``kind``, ``name_vi`` (stored; ``name`` is the English), and for
    computed ones ``capability`` (a capability code), ``population``, ``min_age``/``max_age``;
    optional ``unit``, ``source``, ``description_vi``, ``sort_order``, ``short_name_vi`` (the heads of
    tables) and ``lowest_level`` (``village``, the default, ``commune`` or ``province``).
    """
    problems = _Problems(INDICATORS_FILE)
    capabilities = {c.code: c for c in Capability.objects.all()}
    for number, row in enumerate(rows, start=1):
        if not _required(row, ("code", "group", "kind", "name_vi"), number, problems):
            continue
        computed = row["kind"] == IndicatorKind.COMPUTED
        if computed != bool(row.get("capability")) or computed != bool(row.get("population")):
            # Says in words what the model's check constraint would only name.
            problems.add(
                number,
                "kind",
                _("A computed indicator needs a capability and a population; a reported one has neither."),
            )
            continue
        capability = None
        if row.get("capability"):
            capability = capabilities.get(row["capability"])
            if capability is None:
                problems.add(
                    number,
                    "capability",
                    _("No capability has the code “%(code)s”.") % {"code": row["capability"]},
                )
                continue
        values = {
            "name": row["name_vi"],
            "group": row["group"],
            "kind": row["kind"],
            "capability": capability,
            "population": row.get("population") or "",
            "min_age": row.get("min_age"),
            "max_age": row.get("max_age"),
            "unit": row.get("unit", "%"),
            "source": row.get("source", ""),
            "description": row.get("description_vi", ""),
            "sort_order": row.get("sort_order", 100),
            "short_name": row.get("short_name_vi", ""),
            "lowest_level": row.get("lowest_level") or IndicatorLevel.VILLAGE,
        }
        try:
            counts.count(_upsert(Indicator, {"code": row["code"]}, values))
        except ValidationError as error:
            problems.add_validation_error(number, error)
    problems.raise_if_any()


def _ensure_target_areas(plans: list[dict[str, Any]]) -> AdminUnitsResult | None:
    """Load the official provinces the plans name but the database lacks.

    Codes that are neither in the database nor official province codes are left to
    ``_load_targets``, which reports them against their rows.
    """
    wanted = {str(plan.get("area")) for plan in plans}
    present = set(Area.objects.filter(code__in=wanted).values_list("code", flat=True))
    missing = sorted((wanted - present) & official_province_codes())
    if not missing:
        return None
    return load_admin_units(province_codes=missing)


def _load_targets(plans: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """Plans: ``area`` (the province's code), ``document`` (its number), ``source`` (its name),
    ``date`` (ISO), ``targets``: rows of ``indicator`` (code), ``year``, ``value`` (a string, for
    exact decimals) and ``comparison`` (``at_least``/``more_than``). Row numbers in errors count
    targets across plans.

    Each plan is stored with its targets (``Plan``, ``PlanTarget``: targets the file no longer
    lists are dropped). A plan new to the database is applied to its province from its date; one
    already applied somewhere (an officer may have moved it to the communes of a former province)
    stays where it is, and its targets there are brought up to date. ``counts`` counts the
    ``Target`` rows of the areas.
    """
    problems = _Problems(TARGETS_FILE)
    indicators = {i.code: i for i in Indicator.objects.all()}
    areas = {a.code: a for a in Area.objects.filter(code__in=[str(p.get("area")) for p in plans])}
    number = 0
    stored: list[Plan] = []
    for plan in plans:
        rows = plan.get("targets")
        if not isinstance(rows, list):
            number += 1
            problems.add(number, "targets", _("Expected a list of targets."))
            continue
        area = areas.get(str(plan.get("area")))
        first = number + 1
        if area is None:
            for _row in rows:
                number += 1
                problems.add(number, "area", _("No area has the code “%(code)s”.") % {"code": plan.get("area")})
            continue
        try:
            plan_row = _upsert_plan(area, plan)
        except ValidationError as error:
            problems.add_validation_error(first, error)
            number += len(rows)
            continue
        number = _load_plan_targets(plan_row, rows, number, indicators, problems)
        stored.append(plan_row)
    problems.raise_if_any()
    _apply_plans(stored, counts)


def _load_plan_targets(
    plan_row: Plan, rows: list[Any], number: int, indicators: dict[str, Indicator], problems: _Problems
) -> int:
    """Store ``rows`` as the plan's targets (dropping those the file no longer lists); the last row number."""
    wanted: set[tuple[int, int]] = set()
    for row in rows:
        number += 1
        if not isinstance(row, dict) or not _required(row, ("indicator", "year", "value"), number, problems):
            continue
        indicator = indicators.get(row["indicator"])
        if indicator is None:
            problems.add(number, "indicator", _("No indicator has the code “%(code)s”.") % {"code": row["indicator"]})
            continue
        values = {
            "value": Decimal(str(row["value"])) if _is_decimal(row["value"]) else row["value"],
            "comparison": row.get("comparison", "at_least"),
        }
        try:
            _upsert(PlanTarget, {"plan": plan_row, "indicator": indicator, "year": row["year"]}, values)
            wanted.add((indicator.pk, int(row["year"])))
        except ValidationError as error:
            problems.add_validation_error(number, error)
    for stored in PlanTarget.objects.filter(plan=plan_row):
        if (stored.indicator_id, stored.year) not in wanted:
            stored.delete()
    return number


def _apply_plans(stored: list[Plan], counts: UpsertCounts) -> None:
    """Apply each new plan to its province from its date; bring the others up to date where they are."""
    for plan_row in stored:
        if Target.objects.filter(plan=plan_row).exists():
            written = refresh_plan_targets(actor=None, plan=plan_row)
        else:
            written = apply_plan_targets(
                actor=None, plan=plan_row, areas=[plan_row.province], effective_from=plan_row.adopted_on
            )
            # Rows this file loaded before plans existed carry the plan's name and no plan: those the
            # plan has were just taken over; those it no longer has go.
            legacy = Target.objects.filter(plan=None, area=plan_row.province, source=plan_row.name)
            for row in legacy.select_related("area").order_by("pk"):
                row.delete()  # one at a time: each deletion is in the trail
                written.removed += 1
        counts.created += written.created
        counts.updated += written.updated
        counts.removed += written.removed
        counts.unchanged += written.unchanged


def _upsert_plan(province: Area, plan: dict[str, Any]) -> Plan:
    """The plan of ``province`` with the row's ``document``, created or brought up to date."""
    document = str(plan.get("document") or "").strip()
    if not document:
        raise ValidationError({"document": [_("This field is missing.")]})
    values = {"name": plan.get("source", ""), "adopted_on": plan.get("date")}
    try:
        _upsert(Plan, {"province": province, "document": document}, values)
    except ValidationError as error:
        # Named as the file names them.
        renamed = {"name": "source", "adopted_on": "date"}
        raise ValidationError(
            {renamed.get(key, key): messages for key, messages in error.message_dict.items()}
        ) from None
    return Plan.objects.get(province=province, document=document)


def _load_national_targets(plans: list[dict[str, Any]], counts: UpsertCounts) -> None:
    """The national targets (``targets.json``'s ``national``): plans without an area, each with
    ``document``, ``source``, ``date`` and ``targets`` as a province's plan has them.

    Stored as ``NationalTarget`` rows, matched on indicator and year; targets the file no longer
    lists are dropped. Row numbers in errors count targets across the national plans.
    """
    problems = _Problems(TARGETS_FILE)
    indicators = {i.code: i for i in Indicator.objects.all()}
    wanted: set[tuple[int, int]] = set()
    number = 0
    for plan in plans:
        rows = plan.get("targets")
        if not isinstance(rows, list):
            number += 1
            problems.add(number, "targets", _("Expected a list of targets."))
            continue
        about = {
            "document": str(plan.get("document") or "").strip(),
            "source": plan.get("source", ""),
            "adopted_on": plan.get("date"),
        }
        for row in rows:
            number += 1
            if not isinstance(row, dict) or not _required(row, ("indicator", "year", "value"), number, problems):
                continue
            indicator = indicators.get(row["indicator"])
            if indicator is None:
                message = _("No indicator has the code “%(code)s”.") % {"code": row["indicator"]}
                problems.add(number, "indicator", message)
                continue
            values = {
                **about,
                "value": Decimal(str(row["value"])) if _is_decimal(row["value"]) else row["value"],
                "comparison": row.get("comparison", "at_least"),
            }
            try:
                outcome = _upsert(NationalTarget, {"indicator": indicator, "year": row["year"]}, values)
            except ValidationError as error:
                # Named as the file names them.
                renamed = {"adopted_on": "date"}
                named = {renamed.get(key, key): messages for key, messages in error.message_dict.items()}
                problems.add_validation_error(number, ValidationError(named))
                continue
            counts.count(outcome)
            wanted.add((indicator.pk, int(row["year"])))
    problems.raise_if_any()
    for stored in NationalTarget.objects.order_by("pk"):
        if (stored.indicator_id, stored.year) not in wanted:
            stored.delete()
            counts.removed += 1


def _is_decimal(value: Any) -> bool:
    try:
        Decimal(str(value))
    except ArithmeticError:
        return False
    return not isinstance(value, bool)


@transaction.atomic
def load_reference(*, fixtures_dir: Path | None = None) -> ReferenceResult:
    """Load the capability catalogue, retirement ages, indicators, seed-plan targets and national targets.

    Reads ``capabilities.json``, ``retirement_ages.json``, ``indicators.json`` and
    ``targets.json`` from ``fixtures_dir`` (default: the project's ``fixtures/``). Rows are matched
    on natural codes; a second run creates and updates nothing. Provinces the targets name that
    are not in the database yet are loaded first from the official list (``load_admin_units`` for
    those provinces only), so this works on an empty database.

    One transaction: any error (a ``ValidationError`` keyed by file name, each message naming the
    row and field) saves nothing.
    """
    fixtures_dir = Path(fixtures_dir) if fixtures_dir is not None else Path(settings.BASE_DIR) / "fixtures"
    capabilities = _read(fixtures_dir, CAPABILITIES_FILE, "capabilities")
    retirement_ages = _read(fixtures_dir, RETIREMENT_AGES_FILE, "rows")
    indicators = _read(fixtures_dir, INDICATORS_FILE, "indicators")
    plans = _read(fixtures_dir, TARGETS_FILE, "plans")

    result = ReferenceResult()
    _load_capabilities(capabilities, result.capabilities)
    _load_derivations(_read_optional(fixtures_dir, CAPABILITIES_FILE, "derivations"), result.derivations)
    _load_retirement_ages(retirement_ages, result.retirement_ages)
    _load_indicators(indicators, result.indicators)
    result.admin_units = _ensure_target_areas(plans)
    _load_targets(plans, result.targets)
    _load_national_targets(_read_optional(fixtures_dir, TARGETS_FILE, "national"), result.national_targets)
    return result
