"""Official population figures: the ones a user may see, and the figure each area's rates are taken over.

Which figure an area uses, per band (total, 14+, 15+, 18+, working age, households) and year:

- the year: the latest figure of the period's year or before it (the reading says which year);
- the area's own figure wins ("số liệu của xã");
- without one, the sum of its children's figures (each resolved the same way, down the tree),
  but only when every active child has one ("tổng của các thôn"); otherwise there is no official
  figure, and the reading names the children without one.

``official_figures`` resolves every area of a subtree from one query (the areas left-joined with
their figures up to the year), whatever the number of areas.

The resolved figures of a province and year are cached (issue 15: a province's ~5,700 areas cost
about 10 ms a call) under a version of the province that every writer of official populations and
of areas moves (``official_figures_changed``, called by the services): see
``fieldteam.province_cache`` for how the version and the entries live.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import F, FilteredRelation, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PopulationKind
from fieldteam.models import Area, Indicator, IndicatorPopulationBound, OfficialPopulation, User
from fieldteam.models.population import COUNT_FIELDS
from fieldteam.permissions import scope_for
from fieldteam.province_cache import OFFICIAL_FIGURES
from fieldteam.rollup.rules import WORKING_AGE_FROM_YEARS

# The bands a reading may be measured over: the model's columns, and working age (men + women).
TOTAL, WORKING_AGE, HOUSEHOLDS = "total", "working_age", "households"
AGE_BANDS = {14: "age_14_plus", 15: "age_15_plus", 18: "age_18_plus"}
BANDS = (TOTAL, *AGE_BANDS.values(), WORKING_AGE, HOUSEHOLDS)
OWN, CHILDREN = "own", "children"
# Children named in a reading's "missing" list at most.
MISSING_SHOWN = 5


# A province's own age bounds per indicator id (``IndicatorPopulationBound``): (min_age, max_age).
Bounds = Mapping[int, tuple[int | None, int | None]]


def province_bounds(province_id: int) -> dict[int, tuple[int | None, int | None]]:
    """Indicator id → the province's own (min_age, max_age), which its counts use instead of the
    catalogue's (one query)."""
    rows = IndicatorPopulationBound.objects.filter(province_id=province_id)
    return {pk: (low, high) for pk, low, high in rows.values_list("indicator_id", "min_age", "max_age")}


def band_of(indicator: Indicator, bounds: Bounds | None = None) -> str | None:
    """The official band ``indicator``'s population is measured over, or ``None`` when no column gives it.

    Residents of every age: the total; aged 14+, 15+, 18+ (no upper bound): those bands;
    working-age residents (from 15): working-age men and women; households: households. Any other
    age range (an upper bound, another lower one) has no official figure. The ages are the
    province's own where it set them (``bounds``), as its counts are: Sơn La's adults from 15
    are over the 15+ figure, whatever the catalogue says.
    """
    if indicator.population == PopulationKind.HOUSEHOLDS:
        return HOUSEHOLDS
    min_age, max_age = (bounds or {}).get(indicator.pk, (indicator.min_age, indicator.max_age))
    if indicator.population == PopulationKind.WORKING_AGE:
        return WORKING_AGE if min_age in (None, WORKING_AGE_FROM_YEARS) else None
    if indicator.population == PopulationKind.RESIDENTS and max_age is None:
        if not min_age:
            return TOTAL
        return AGE_BANDS.get(min_age)
    return None


@dataclass(frozen=True)
class OfficialFigure:
    """One band of an area's official population, as the area's readings use it.

    ``value`` is ``None`` when there is no official figure; ``missing`` then names the children
    without one (when the area has children). ``years``: the oldest and newest year summed.
    """

    value: int | None
    source: str = ""  # OWN, CHILDREN, or "" (none)
    years: tuple[int, int] | None = None
    missing: tuple[str, ...] = ()
    missing_count: int = 0


NO_FIGURE = OfficialFigure(None)

# Warnings a reading carries, shown beside its values (never hidden).
NUMERATOR_ABOVE_OFFICIAL = "numerator_above_official"
OFFICIAL_BELOW_REGISTER = "official_below_register"
WARNING_LABELS = {
    NUMERATOR_ABOVE_OFFICIAL: _("More people hold it than the official population counts: check the figures."),
    OFFICIAL_BELOW_REGISTER: _("The official figure is below the register's own count."),
}
_OWN_LABELS = {
    "province": _("the province's own figure"),
    "commune": _("the commune's own figure"),
    "village": _("the village's own figure"),
}
_CHILDREN_LABELS = {"province": _("sum of its communes"), "commune": _("sum of its villages")}


def level_of(area: Area) -> str:
    """``"province"``, ``"commune"`` or ``"village"``: whose figure a reading's label names."""
    return "province" if area.is_province else "commune" if area.is_commune else "village"


def official_source_label(figure: OfficialFigure, level: str) -> str:
    """Which figure a rate is over and its year ("tổng của các thôn, năm 2025"), or why there is none."""
    if figure.value is None:
        if not figure.missing:
            return str(_("no official population figure"))
        names = ", ".join(figure.missing)
        if figure.missing_count > len(figure.missing):
            names = _("%(areas)s and %(more)s more") % {
                "areas": names,
                "more": figure.missing_count - len(figure.missing),
            }
        return str(_("no official population figure (missing for %(areas)s)") % {"areas": names})
    if figure.source == OWN:
        source = _OWN_LABELS.get(level, _("the area's own figure"))
    else:
        source = _CHILDREN_LABELS.get(level, _("sum of the areas below"))
    if figure.years is None:
        return str(source)
    first, last = figure.years
    if first == last:
        return str(_("%(source)s, %(year)s") % {"source": source, "year": first})
    return str(_("%(source)s, %(first)s–%(last)s") % {"source": source, "first": first, "last": last})


@dataclass(frozen=True)
class OfficialReading:
    """The official parts of one reading: band, figure, rate over it, coverage, warnings."""

    band: str = ""
    figure: OfficialFigure = NO_FIGURE
    value: Decimal | None = None
    coverage: Decimal | None = None
    warnings: tuple[str, ...] = ()


NO_OFFICIAL_READING = OfficialReading()
_NO_FIGURE_READINGS: dict[str, OfficialReading] = {}


def rate(part: int, whole: int) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to three decimals, half up (``None`` over nothing).

    In integers, then one ``Decimal``: the same value and digits as ``Decimal`` division quantized
    half up, at a third of the cost (a province's ranking computes some 5,000 of them).
    """
    if not whole:
        return None
    negative = (part < 0) != (whole < 0)
    thousandths, remainder = divmod(abs(part) * 100_000, abs(whole))
    if 2 * remainder >= abs(whole):  # half up: away from zero
        thousandths += 1
    return Decimal(-thousandths if negative else thousandths).scaleb(-3)


def reading_figures(
    indicator: Indicator,
    numerator: int | None,
    denominator: int | None,
    figures: dict[str, OfficialFigure] | None,
    bounds: Bounds | None = None,
) -> OfficialReading:
    """The rate of ``numerator`` over the official figure of ``indicator``'s band, the register's coverage
    (``denominator`` ÷ official) and the warnings; a reported indicator, or a band no column gives, has none.

    ``bounds``: the province's own age bounds (``province_bounds``), which decide the band.
    The rate is not capped at 100: a numerator above the official figure is shown as it is, with
    a data-quality warning.
    """
    band = band_of(indicator, bounds) if indicator.is_computed else None
    return official_reading(band, numerator, denominator, figures)


def official_reading(
    band: str | None, numerator: int | None, denominator: int | None, figures: dict[str, OfficialFigure] | None
) -> OfficialReading:
    """``reading_figures`` with the band already known (``band_of``, or ``None`` for a reported indicator):
    a caller reading many areas decides each indicator's band once."""
    if band is None:
        return NO_OFFICIAL_READING
    figure = (figures or {}).get(band, NO_FIGURE)
    if figure is NO_FIGURE:  # the same for every area without figures: made once per band (frozen)
        reading = _NO_FIGURE_READINGS.get(band)
        if reading is None:
            reading = _NO_FIGURE_READINGS[band] = OfficialReading(band, NO_FIGURE)
        return reading
    if figure.value is None:
        return OfficialReading(band, figure)
    warnings = []
    if numerator is not None and numerator > figure.value:
        warnings.append(NUMERATOR_ABOVE_OFFICIAL)
    if denominator is not None and denominator > figure.value:
        warnings.append(OFFICIAL_BELOW_REGISTER)
    return OfficialReading(
        band,
        figure,
        rate(numerator, figure.value) if numerator is not None else None,
        rate(denominator, figure.value) if denominator is not None else None,
        tuple(warnings),
    )


def official_populations_visible(*, user: User) -> QuerySet[OfficialPopulation]:
    """The figures of the areas the user may see, newest year first, with their area."""
    rows = OfficialPopulation.objects.select_related("area", "entered_by")
    return scope_for(user).filter(rows, area_field="area").order_by("area__path", "-year")


def _row_bands(row: dict) -> dict[str, int | None]:
    bands = {band: row[f"fig_{band}"] for band in BANDS if band != WORKING_AGE}
    male, female = row["fig_working_age_male"], row["fig_working_age_female"]
    bands[WORKING_AGE] = None if male is None or female is None else male + female
    return bands


def official_figures(anchor: Area, year: int) -> dict[int, dict[str, OfficialFigure]]:
    """Area id → band → the official figure, for ``anchor`` and every active area below it, in one query.

    Not scoped: the caller (a selector of readings) has checked the user may see ``anchor``.
    """
    return official_figures_by_year(anchor, year).year(year)


class OfficialFiguresByYear:
    """The official figures of a subtree for every year up to ``last_year``, read in one query.

    A past month's rate is its numerator over that year's figure (issue 15): ``year(y)`` resolves
    the subtree for year ``y`` (the rule of ``official_figures``) once. Without ``rows``, each year
    is the cached resolution of the anchor's province (``_cached_resolution``: an area's figure
    depends only on its own subtree, so the province's holds the anchor's), else read in one query.
    """

    def __init__(
        self, anchor: Area, last_year: int, rows: list[dict] | None = None, bounds: Bounds | None = None
    ) -> None:
        self.anchor, self.last_year, self._rows = anchor, last_year, rows
        self._bounds = bounds
        self._years: dict[int, dict[int, dict[str, OfficialFigure]]] = {}

    @property
    def bounds(self) -> Bounds:
        """The anchor's province's own age bounds (``province_bounds``): they decide which band a
        reading is over. Read on first use unless given (``provide_bounds``); none above a province."""
        if self._bounds is None:
            province_id = self.anchor.province_id or self.anchor.pk
            self._bounds = province_bounds(province_id) if province_id is not None else {}
        return self._bounds

    def provide_bounds(self, bounds: Bounds) -> None:
        """The province's bounds read with something else (the indicators' query): no query of their own."""
        if self._bounds is None:
            self._bounds = bounds

    def year(self, year: int) -> dict[int, dict[str, OfficialFigure]]:
        """Area id → band → the figure for ``year`` (no later than ``last_year``: those were not read).

        Read only: the mapping may be shared with other calls (the cache)."""
        year = min(year, self.last_year)
        if year not in self._years:
            resolved = _cached_resolution(self.anchor, year) if self._rows is None else None
            if resolved is None:
                if self._rows is None:
                    self._rows = _figure_rows(self.anchor, self.last_year)
                resolved = _resolve(self.anchor, self._rows, year)
            self._years[year] = resolved
        return self._years[year]


def official_figures_by_year(anchor: Area, last_year: int) -> OfficialFiguresByYear:
    """The figures of ``anchor``'s subtree for every year up to ``last_year`` (cached per province
    and year, else one query; resolved lazily), and its province's own age bounds (read when first
    used, unless provided).

    Not scoped, like ``official_figures``.
    """
    figures = OfficialFiguresByYear(anchor, last_year)
    figures.year(last_year)  # read now, as before: one object read once serves every caller it is given to
    return figures


def _figure_rows(anchor: Area, last_year: int, using: str | None = None) -> list[dict]:
    """``anchor`` and its active areas below, each left-joined with its figures up to ``last_year``."""
    columns = {
        f"fig_{name}": F(f"fig__{name}")
        for name in ("year", *COUNT_FIELDS)
    }
    rows = (
        Area.objects.using(using)
        .filter(path__startswith=anchor.path)
        .filter(Q(pk=anchor.pk) | Q(is_active=True))
        .annotate(fig=FilteredRelation("official_populations", condition=Q(official_populations__year__lte=last_year)))
        .annotate(**columns)
        .values_list("pk", "path", "name", *columns)
    )
    # Read as tuples: most of a province's 5,000 villages have no figure, and of those only the
    # place in the tree is used (their names when a parent lists the ones missing); a full row
    # per village as a dict of 11 keys was a third of the selector's time.
    keys = ("pk", "path", "name", *columns)
    year_at = keys.index("fig_year")  # None: no figure of any year up to ``last_year``
    return [
        dict(zip(keys, values, strict=True))
        if values[year_at] is not None
        else {"pk": values[0], "path": values[1], "name": values[2], "fig_year": None}
        for values in rows
    ]


def official_figures_changed(*province_ids: int | None) -> None:
    """Say, inside the writing transaction, that these provinces' official populations or areas change.

    Every service that writes an ``OfficialPopulation`` or an ``Area`` calls it: the province's cached
    resolutions are replaced from the committed rows (``fieldteam.province_cache``).
    """
    OFFICIAL_FIGURES.changed(*province_ids)


def _cached_resolution(anchor: Area, year: int) -> dict[int, dict[str, OfficialFigure]] | None:
    """The resolution of ``anchor``'s province for ``year`` from the cache (filled on a miss), or
    ``None`` when the cache may not serve it: no province, an inactive anchor (its province's
    resolution leaves it out), a province written by this connection's open transaction, no cache.
    """
    province_id = anchor.province_id or anchor.pk
    if province_id is None or (not anchor.is_active and anchor.pk != province_id):
        return None

    def read(using: str) -> dict[int, dict[str, OfficialFigure]]:
        """On a miss only (a hit, every view, builds nothing)."""
        province = Area(pk=province_id, path=anchor.path[: Area.steplen])  # provinces are the roots
        return _resolve(province, _figure_rows(province, year, using), year)

    return OFFICIAL_FIGURES.get(province_id, year, read)


def clear_caches() -> None:
    """Forget the resolutions this process holds (tests, between transactions)."""
    OFFICIAL_FIGURES.clear()


def _resolve(anchor: Area, rows: list[dict], year: int) -> dict[int, dict[str, OfficialFigure]]:
    """Area id → band → the figure for ``year``, from the rows of ``official_figures_by_year``."""
    latest: dict[str, dict] = {}
    names: dict[str, tuple[int, str]] = {}
    for row in rows:
        path, fig_year = row["path"], row["fig_year"]
        names[path] = (row["pk"], row["name"])
        if fig_year is not None and fig_year <= year and (path not in latest or latest[path]["fig_year"] < fig_year):
            latest[path] = row
    children: dict[str, list[str]] = defaultdict(list)
    for path in names:
        if path != anchor.path:
            children[path[: -Area.steplen]].append(path)
    resolved: dict[str, dict[str, OfficialFigure]] = {}
    no_figures = dict.fromkeys(BANDS, NO_FIGURE)
    # Deepest first: a parent is resolved after all its children.
    for path in sorted(names, key=len, reverse=True):
        own = latest.get(path)
        if own is None and path not in children:
            # A leaf without a figure of its own (most villages of a province): none in any band
            # (one mapping shared by all of them, read only).
            resolved[path] = no_figures
            continue
        own_bands = _row_bands(own) if own is not None else {}
        kids = sorted(children.get(path, ()))
        per_band: dict[str, OfficialFigure] = {}
        # Children none of which has any figure (a commune whose villages have none, the usual
        # case): every band lacks them all, so the list of names is made once, not once per band.
        all_lacking = (
            OfficialFigure(None, missing=tuple(names[kid][1] for kid in kids[:MISSING_SHOWN]), missing_count=len(kids))
            if kids and all(resolved[kid] is no_figures for kid in kids)
            else None
        )
        for band in BANDS:
            value = own_bands.get(band)
            if value is not None:
                per_band[band] = OfficialFigure(value, OWN, (own["fig_year"], own["fig_year"]))  # type: ignore[index]  # own is set when own_bands has a value
                continue
            if not kids:
                per_band[band] = NO_FIGURE
                continue
            if all_lacking is not None:
                per_band[band] = all_lacking
                continue
            parts = [resolved[kid][band] for kid in kids]
            lacking = [names[kid][1] for kid, part in zip(kids, parts, strict=True) if part.value is None]
            if lacking:
                per_band[band] = OfficialFigure(
                    None, missing=tuple(lacking[:MISSING_SHOWN]), missing_count=len(lacking)
                )
                continue
            years = [part.years for part in parts if part.years is not None]
            per_band[band] = OfficialFigure(
                sum(part.value for part in parts if part.value is not None),
                CHILDREN,
                (min(y[0] for y in years), max(y[1] for y in years)) if years else None,
            )
        resolved[path] = per_band
    return {names[path][0]: figures for path, figures in resolved.items()}


__all__ = [
    "BANDS",
    "CHILDREN",
    "HOUSEHOLDS",
    "NO_FIGURE",
    "NO_OFFICIAL_READING",
    "NUMERATOR_ABOVE_OFFICIAL",
    "OFFICIAL_BELOW_REGISTER",
    "OWN",
    "TOTAL",
    "WARNING_LABELS",
    "WORKING_AGE",
    "Bounds",
    "OfficialFigure",
    "OfficialFiguresByYear",
    "OfficialReading",
    "band_of",
    "clear_caches",
    "level_of",
    "official_figures",
    "official_figures_by_year",
    "official_figures_changed",
    "official_populations_visible",
    "official_reading",
    "official_source_label",
    "province_bounds",
    "rate",
    "reading_figures",
]
