"""Official population figures: entering (or correcting) an area's figure for a year (issue 15).

The admin, the ``population`` import and the API all write through ``set_official_population``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.models import Area, Indicator, OfficialPopulation, User, VillageCount
from fieldteam.models.population import BAND_FIELDS, COUNT_FIELDS
from fieldteam.permissions import ensure_officer
from fieldteam.selectors.population import WORKING_AGE, band_of, official_figures_changed, province_bounds

REFUSED = _("Only an officer of this commune or province enters its population figures.")
YEAR_RANGE = (2000, 2100)
# Above any province's population (Việt Nam: about 100 million): a typo, and beyond the column.
MAX_COUNT = 200_000_000
# Each band and the band it lies within, besides the total (18+ within 15+ within 14+).
_NESTED = (("age_15_plus", "age_14_plus"), ("age_18_plus", "age_15_plus"))


@dataclass
class PopulationWrite:
    """What ``set_official_population`` saved, and the warnings to show beside it (nothing refused)."""

    figure: OfficialPopulation
    created: bool
    warnings: list[str] = field(default_factory=list)


def _label(name: str) -> str:
    return str(cast("models.Field[Any, Any]", OfficialPopulation._meta.get_field(name)).verbose_name)


def _count(name: str, value: Any, errors: dict[str, list[ValidationError]]) -> int | None:
    """``value`` as a whole non-negative number, or ``None`` (blank); a problem goes to ``errors[name]``."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors[name] = [ValidationError(_("Enter a whole number."), code="not_whole")]
        return None
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        errors[name] = [ValidationError(_("Enter a whole number."), code="not_whole")]
        return None
    if not number.is_finite() or number != number.to_integral_value():
        errors[name] = [ValidationError(_("Enter a whole number."), code="not_whole")]
        return None
    if number < 0:
        errors[name] = [ValidationError(_("A population figure cannot be negative."), code="negative")]
        return None
    if number > MAX_COUNT:
        errors[name] = [
            ValidationError(
                _("The number is too large (at most %(max)s)."), code="too_large", params={"max": MAX_COUNT}
            )
        ]
        return None
    return int(number)


def validate_counts(year: Any, counts: Mapping[str, Any]) -> tuple[int, dict[str, int | None]]:
    """The year and the counts, checked: whole, not negative, each band within the total and nested.

    Raises one ``ValidationError`` naming every field at fault (the import and the admin show them
    all at once); nothing is saved by the caller then.
    """
    errors: dict[str, list[ValidationError]] = {}
    checked_year = _count("year", year, errors)
    if "year" not in errors and (checked_year is None or not YEAR_RANGE[0] <= checked_year <= YEAR_RANGE[1]):
        errors["year"] = [
            ValidationError(
                _("Enter a year from %(low)s to %(high)s."),
                code="range",
                params={"low": YEAR_RANGE[0], "high": YEAR_RANGE[1]},
            )
        ]
    values = {name: _count(name, counts.get(name), errors) for name in COUNT_FIELDS}
    if values["total"] is None and "total" not in errors:
        errors["total"] = [ValidationError(_("Enter the total population."), code="required")]
    total = values["total"]
    for band in BAND_FIELDS:
        value = values[band]
        if total is not None and value is not None and value > total:
            errors.setdefault(band, []).append(
                ValidationError(
                    _("%(band)s (%(value)s) cannot exceed the total population (%(total)s)."),
                    code="above_total",
                    params={"band": _label(band), "value": value, "total": total},
                )
            )
    for smaller, larger in _NESTED:
        low, high = values[smaller], values[larger]
        if low is not None and high is not None and low > high and smaller not in errors:
            errors[smaller] = [
                ValidationError(
                    _("%(band)s (%(value)s) cannot exceed %(larger)s (%(limit)s)."),
                    code="above_band",
                    params={"band": _label(smaller), "value": low, "larger": _label(larger), "limit": high},
                )
            ]
    male, female, over_15 = values["working_age_male"], values["working_age_female"], values["age_15_plus"]
    if male is not None and female is not None and over_15 is not None and male + female > over_15:
        errors.setdefault("working_age_female", []).append(
            ValidationError(
                _("Working-age men and women (%(value)s) cannot exceed %(larger)s (%(limit)s)."),
                code="above_band",
                params={"value": male + female, "larger": _label("age_15_plus"), "limit": over_15},
            )
        )
    if errors:
        raise ValidationError(errors)
    assert checked_year is not None  # noqa: S101 - a missing year is among the errors above
    return checked_year, values


def register_counts(area: Area) -> dict[str, int]:
    """Band → the register's count of it in ``area``'s subtree (the live denominators).

    A band several indicators measure takes the largest of their denominators.
    """
    bounds = province_bounds(area.province_id or area.pk)  # the province's own ages decide each band
    indicators = {i.pk: band_of(i, bounds) for i in Indicator.objects.filter(is_active=True, capability__isnull=False)}
    rows = (
        VillageCount.objects.filter(province_id=area.province_id or area.pk, village__path__startswith=area.path)
        .values("indicator_id")
        .annotate(d=Sum("denominator"))
    )
    result: dict[str, int] = {}
    for row in rows:
        band = indicators.get(row["indicator_id"])
        if band is not None:
            result[band] = max(result.get(band, 0), int(row["d"] or 0))
    return result


def _below_register(values: Mapping[str, int | None], registered: Mapping[str, int]) -> list[str]:
    """Warnings for each band given below the register's own count of it (accepted, shown)."""
    given = dict(values)
    male, female = given.get("working_age_male"), given.get("working_age_female")
    given[WORKING_AGE] = None if male is None or female is None else male + female
    warnings = []
    for band, count in sorted(registered.items()):
        value = given.get(band)
        if value is not None and value < count:
            label = _("working-age men and women") if band == WORKING_AGE else _label(band)
            warnings.append(
                str(
                    _("%(band)s: the official figure (%(value)s) is below the register's own count (%(count)s).")
                    % {"band": label, "value": value, "count": count}
                )
            )
    return warnings


@transaction.atomic
def set_official_population(
    *,
    actor: User | None,
    area: Area,
    year: Any,
    total: Any,
    age_14_plus: Any = None,
    age_15_plus: Any = None,
    age_18_plus: Any = None,
    working_age_male: Any = None,
    working_age_female: Any = None,
    households: Any = None,
    source: str = "",
) -> PopulationWrite:
    """Enter (or correct) ``area``'s official population for ``year``, recording who and when.

    Only an officer of the area (a commune officer for the commune and its villages, a province
    officer for the whole province) or a superuser (``actor=None``: the system); a viewer or a team
    member is refused with ``read_only``, an area outside the actor's with ``out_of_scope``.
    Every count must be a whole number of zero or more, each band at most the total (and 18+
    within 15+ within 14+, working age within 15+): otherwise a ``ValidationError`` names each
    field at fault and nothing is saved. A band may be left empty (unknown). A figure below the
    register's own count is saved, with a warning in the result. The audit trail records the row.
    """
    ensure_officer(actor, area, field="area", message=REFUSED)
    counts = {
        "total": total,
        "age_14_plus": age_14_plus,
        "age_15_plus": age_15_plus,
        "age_18_plus": age_18_plus,
        "working_age_male": working_age_male,
        "working_age_female": working_age_female,
        "households": households,
    }
    checked_year, values = validate_counts(year, counts)
    figure = OfficialPopulation.objects.select_for_update().filter(area=area, year=checked_year).first()
    created = figure is None
    if figure is None:
        figure = OfficialPopulation(area=area, year=checked_year)
    figure.province_id = area.province_id or area.pk
    for name, value in values.items():
        setattr(figure, name, value)
    figure.source = " ".join((source or "").split())
    figure.entered_by = actor
    figure.entered_at = timezone.now()
    # Every rule of the model was checked above, naming its field; the database holds them too.
    figure.full_clean(validate_unique=False, validate_constraints=False)
    figure.save()
    official_figures_changed(figure.province_id)  # the cached resolutions of the province (on commit)
    return PopulationWrite(figure, created, _below_register(values, register_counts(area)))


@transaction.atomic
def delete_official_population(*, actor: User | None, figure: OfficialPopulation) -> None:
    """Remove a figure (the same officers as enter it); the audit trail records the removal."""
    ensure_officer(actor, figure.area, field="area", message=REFUSED)
    official_figures_changed(figure.province_id)
    figure.delete()


__all__ = [
    "PopulationWrite",
    "delete_official_population",
    "register_counts",
    "set_official_population",
    "validate_counts",
]
