"""Official population figures per area and year: the denominators the province reports over (issue 15).

The register (residents and households the teams have recorded) fills in over months; the official
figure (from the statistics office or the commune's population records) is what a plan's rate is
reported over. Readings carry both, and the register's coverage of the official figure.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

# The bands a figure may give besides its total, each at most the total (and nested: 18+ within
# 15+ within 14+; working age, from 15, within 15+).
BAND_FIELDS = ("age_14_plus", "age_15_plus", "age_18_plus", "working_age_male", "working_age_female", "households")
COUNT_FIELDS = ("total", *BAND_FIELDS)


def _within(smaller: str, larger: str) -> Q:
    return Q(**{f"{smaller}__isnull": True}) | Q(**{f"{larger}__isnull": True}) | Q(**{f"{smaller}__lte": F(larger)})


class OfficialPopulation(models.Model):
    """An area's official population for a year: the total, the age bands the indicators use, households.

    ``total`` is required; a band may be unknown (empty). Entered through
    ``fieldteam.services.population.set_official_population`` (admin, import, API), with who and when.
    """

    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+"
    )
    area = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, related_name="official_populations"
    )
    year = models.PositiveSmallIntegerField(_("year"))
    total = models.PositiveIntegerField(_("total population"))
    age_14_plus = models.PositiveIntegerField(_("aged 14 and over"), null=True, blank=True)
    age_15_plus = models.PositiveIntegerField(_("aged 15 and over"), null=True, blank=True)
    age_18_plus = models.PositiveIntegerField(_("aged 18 and over"), null=True, blank=True)
    working_age_male = models.PositiveIntegerField(_("working-age men"), null=True, blank=True)
    working_age_female = models.PositiveIntegerField(_("working-age women"), null=True, blank=True)
    households = models.PositiveIntegerField(_("households"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=200, blank=True, help_text=_("E.g. Cục Thống kê, công an xã."))
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("entered by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    entered_at = models.DateTimeField(_("entered at"))

    class Meta:
        verbose_name = _("official population")
        verbose_name_plural = _("official population figures")
        ordering = ["area__path", "-year"]
        constraints = [
            models.UniqueConstraint(fields=["area", "year"], name="official_population_unique_per_area_year"),
            models.CheckConstraint(
                condition=Q(year__gte=2000) & Q(year__lte=2100), name="official_population_year_range"
            ),
            models.CheckConstraint(
                condition=Q(total__gte=0)
                & Q(age_14_plus__gte=0)
                & Q(age_15_plus__gte=0)
                & Q(age_18_plus__gte=0)
                & Q(working_age_male__gte=0)
                & Q(working_age_female__gte=0)
                & Q(households__gte=0),
                # NULL bands pass a CHECK (unknown), as SQL has it.
                name="official_population_not_negative",
            ),
            *(
                models.CheckConstraint(
                    condition=_within(band, "total"), name=f"official_population_{band}_within_total"
                )
                for band in BAND_FIELDS
            ),
            models.CheckConstraint(
                condition=_within("age_15_plus", "age_14_plus") & _within("age_18_plus", "age_15_plus"),
                name="official_population_age_bands_nested",
            ),
            models.CheckConstraint(
                condition=Q(working_age_male__isnull=True)
                | Q(working_age_female__isnull=True)
                | Q(age_15_plus__isnull=True)
                | Q(age_15_plus__gte=F("working_age_male") + F("working_age_female")),
                name="official_population_working_age_within_15_plus",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area} {self.year}: {self.total}"

    @property
    def working_age(self) -> int | None:
        """Working-age men and women together; unknown when either is."""
        if self.working_age_male is None or self.working_age_female is None:
            return None
        return self.working_age_male + self.working_age_female
