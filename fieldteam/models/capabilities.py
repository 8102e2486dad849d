"""The capability catalogue and adoptions: who holds what, since when, from which source."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AdoptionSource, CapabilitySubject, DerivationKind

MAX_CAPABILITY_BIT = 62  # bits of a signed 64-bit integer mask


class Capability(models.Model):
    """One thing a resident or household can adopt. A catalogue, so provinces can add their own."""

    code = models.SlugField(_("code"), max_length=50, unique=True)
    name = models.CharField(_("name"), max_length=200)
    subject = models.CharField(_("held by"), max_length=10, choices=CapabilitySubject.choices)
    description = models.TextField(_("description"), blank=True)
    # Position in Resident/Household.capability_mask. Assigned once, never reused.
    bit = models.PositiveSmallIntegerField(_("bit"), unique=True, editable=False)
    province = models.ForeignKey(
        "fieldteam.Area",
        verbose_name=_("province"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty for the national catalogue; set for a province's own capability."),
    )
    sort_order = models.PositiveSmallIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("capability")
        verbose_name_plural = _("capabilities")
        ordering = ["sort_order", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(bit__lte=MAX_CAPABILITY_BIT), name="capability_bit_fits_mask"),
            models.CheckConstraint(
                condition=Q(subject__in=[s.value for s in CapabilitySubject]), name="capability_subject_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def mask(self) -> int:
        return 1 << self.bit


class CapabilityDerivation(models.Model):
    """A rule of the catalogue by which a subject holds ``target`` without an adoption of it.

    ``implies``: whoever holds ``source`` holds ``target`` (same kind of subject; e.g. a person who
    uses online public services uses the Internet). ``any_member``: a household holds ``target``
    while any of its current members holds ``source`` (e.g. a smartphone). Derived holdings are
    counted like adopted ones (``fieldteam.rollup.rules``) but are no adoption: no one logged them.
    """

    kind = models.CharField(_("kind"), max_length=12, choices=DerivationKind.choices)
    source = models.ForeignKey(
        Capability, verbose_name=_("held capability"), on_delete=models.PROTECT, related_name="derivations_from"
    )
    target = models.ForeignKey(
        Capability, verbose_name=_("derived capability"), on_delete=models.PROTECT, related_name="derivations_to"
    )

    class Meta:
        verbose_name = _("capability derivation")
        verbose_name_plural = _("capability derivations")
        ordering = ["target__sort_order", "source__sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="capability_derivation_unique"),
            models.CheckConstraint(condition=~Q(source=F("target")), name="capability_derivation_not_itself"),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in DerivationKind]), name="capability_derivation_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.target} ← {self.source}"

    def clean(self) -> None:
        source = self.source if self.source_id else None
        target = self.target if self.target_id else None
        if source is None or target is None:
            return
        if self.kind == DerivationKind.ANY_MEMBER and (
            source.subject != CapabilitySubject.RESIDENT or target.subject != CapabilitySubject.HOUSEHOLD
        ):
            raise ValidationError(
                {"kind": _("“Any member” derives a household capability from a resident capability.")}
            )
        if self.kind == DerivationKind.IMPLIES and source.subject != target.subject:
            raise ValidationError({"kind": _("“Implies” links two capabilities held by the same kind of subject.")})


class Adoption(models.Model):
    """The fact that a resident or household holds a capability, from ``since`` until ``ended_on``.

    Written only by ``fieldteam.services.adoption``, which keeps the subject's capability mask and
    the village counts in step in the same transaction. Rows are never deleted: an adoption that
    no longer holds is ended, so values for past periods can still be computed.
    """

    # The head of the (province, capability, since) index: no index of its own.
    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    capability = models.ForeignKey(
        Capability, verbose_name=_("capability"), on_delete=models.PROTECT, related_name="adoptions"
    )
    resident = models.ForeignKey(
        "fieldteam.Resident",
        verbose_name=_("resident"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="adoptions",
    )
    # Indexed over the household adoptions only (``adoption_household_idx``): most rows are a resident's.
    household = models.ForeignKey(
        "fieldteam.Household",
        verbose_name=_("household"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="adoptions",
        db_index=False,
    )
    since = models.DateField(_("since"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=12, choices=AdoptionSource.choices)
    # Indexed over the adoptions a log recorded only (``adoption_assistance_log_idx``): imported
    # and entered ones have none, and an index of NULLs costs every bulk insert.
    assistance_log = models.ForeignKey(
        "fieldteam.AssistanceLog",
        verbose_name=_("assistance log"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="adoptions",
        db_index=False,
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("adoption")
        verbose_name_plural = _("adoptions")
        indexes = [
            models.Index(fields=["province", "capability", "since"]),
            # Partial: a lookup by log or household (``= x``, ``IN (...)``) implies NOT NULL and uses them.
            models.Index(
                fields=["assistance_log"], condition=Q(assistance_log__isnull=False), name="adoption_assistance_log_idx"
            ),
            models.Index(fields=["household"], condition=Q(household__isnull=False), name="adoption_household_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(resident__isnull=False) & Q(household__isnull=True))
                | (Q(resident__isnull=True) & Q(household__isnull=False)),
                name="adoption_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("since")), name="adoption_ends_after_since"
            ),
            models.UniqueConstraint(
                fields=["resident", "capability"],
                condition=Q(ended_on__isnull=True, resident__isnull=False),
                name="adoption_one_open_per_resident",
            ),
            models.UniqueConstraint(
                fields=["household", "capability"],
                condition=Q(ended_on__isnull=True, household__isnull=False),
                name="adoption_one_open_per_household",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resident or self.household} – {self.capability} ({self.since})"
