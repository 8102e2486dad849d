"""Households and residents: the people a team serves, and their consent records.

Identifiers (citizen ID, phone) are personal data: stored encrypted (``*_ciphertext``), looked up
only through a keyed hash (``*_hash``), and shown masked (``*_masked``) everywhere.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import ConsentChannel, EthnicGroup, ResidentStatus, Sex
from fieldteam.names import fold_name

# "Kinh" as folded by ``fold_name`` (case, diacritics, spacing): the majority group.
_KINH = "kinh"


def ethnic_group_of(ethnicity: str | None) -> str:
    """The group counting uses for a free-text ethnicity: Kinh, another (a minority), or blank (unknown)."""
    folded = fold_name(ethnicity)
    if not folded:
        return EthnicGroup.UNKNOWN.value
    return EthnicGroup.KINH.value if folded in {_KINH, f"dan toc {_KINH}"} else EthnicGroup.MINORITY.value


class Household(models.Model):
    """A household (hộ gia đình) in a village."""

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    village = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("village"), on_delete=models.PROTECT, related_name="households"
    )
    code = models.CharField(_("household code"), max_length=40, blank=True)
    head_name = models.CharField(_("head of household"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    # Bit i is set while the household holds the capability whose ``bit`` is i. Derived from
    # the Adoption rows by the adoption service only; the roll-up counts read it in one scan.
    capability_mask = models.BigIntegerField(_("capabilities held"), default=0, editable=False)
    # The household capabilities held through its members (``CapabilityDerivation`` "any member":
    # a member's smartphone), kept by the writes that change a member (``fieldteam.rollup.derived``).
    # Counted like ``capability_mask``, but no adoption: no one logged them.
    derived_mask = models.BigIntegerField(
        _("capabilities held through members"), default=0, db_default=0, editable=False
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        indexes = [
            models.Index(fields=["province", "village"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["village", "code"], condition=~Q(code=""), name="household_code_unique_in_village"
            ),
        ]

    def __str__(self) -> str:
        label = self.head_name or self.code or f"#{self.pk}"
        return str(_("Household %(label)s") % {"label": label})


class Resident(models.Model):
    """A person living in a village, member of a household."""

    # The columns that hold a citizen ID or phone number in any form: what consent guards, what
    # erasure clears and what the audit trail never records.
    IDENTIFIER_FIELDS = (
        "citizen_id_ciphertext",
        "citizen_id_hash",
        "citizen_id_masked",
        "phone_ciphertext",
        "phone_hash",
        "phone_masked",
    )
    #: Never filtered, searched or ordered on by anyone, in admin or the API (issue 13 item 11):
    #: ethnicity is sensitive data; identifiers are looked up only through the keyed-hash search.
    SENSITIVE_FIELDS = ("ethnicity", "ethnic_group", *IDENTIFIER_FIELDS)

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    village = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("village"), on_delete=models.PROTECT, related_name="residents"
    )
    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.PROTECT, related_name="residents"
    )
    full_name = models.CharField(_("full name"), max_length=200)
    # ``fieldteam.names.fold_name(full_name)``, kept by ``save``: what name search and duplicate
    # detection compare, alike on every database (personal data: masked in the audit trail).
    search_name = models.CharField(max_length=200, blank=True, editable=False, db_default="")
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    birth_year = models.PositiveSmallIntegerField(_("birth year"))
    # Months since year 0 of the birth month (year-only births count as born mid-year); ages at
    # a period's end are then one integer comparison in SQL.
    birth_month_index = models.IntegerField(editable=False)
    sex = models.CharField(_("sex"), max_length=6, choices=Sex.choices)
    # Sensitive personal data under Decree 356/2025: optional and never shown in lists.
    ethnicity = models.CharField(_("ethnicity"), max_length=60, blank=True)
    # ``ethnic_group_of(ethnicity)``, kept by ``save`` (and the bulk import): the counts' breakdown
    # reads this coarse group, never the sensitive text, and only aggregates of it leave the database.
    ethnic_group = models.CharField(
        max_length=8, choices=EthnicGroup.choices, default=EthnicGroup.UNKNOWN, db_default=EthnicGroup.UNKNOWN.value,
        editable=False,
    )

    citizen_id_ciphertext = models.TextField(_("citizen ID (encrypted)"), blank=True, editable=False)
    # NULL, not "": the unique constraint must ignore residents without a citizen ID.
    citizen_id_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    citizen_id_masked = models.CharField(_("citizen ID"), max_length=12, blank=True, editable=False)
    # Set when the citizen ID was registered while another resident, outside the registering user's
    # areas, already held it: stored (so the answer does not reveal the other), not unique, and
    # shown to an officer who sees both in the duplicates review (``services.duplicates``).
    citizen_id_disputed = models.BooleanField(default=False, db_default=False, editable=False)
    phone_ciphertext = models.TextField(_("phone (encrypted)"), blank=True, editable=False)
    phone_hash = models.CharField(max_length=64, null=True, blank=True, editable=False)  # noqa: DJ001
    phone_masked = models.CharField(_("phone"), max_length=12, blank=True, editable=False)

    status = models.CharField(_("status"), max_length=10, choices=ResidentStatus.choices, default=ResidentStatus.ACTIVE)
    left_on = models.DateField(_("moved out or died on"), null=True, blank=True)
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_duplicates",
        help_text=_("Set when this record was a duplicate: its history now belongs to that resident."),
    )
    capability_mask = models.BigIntegerField(_("capabilities held"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        indexes = [
            models.Index(fields=["province", "village", "status"]),
            # No index holds capability_mask: a mask change is then a HOT update that touches no
            # index (bench/rollup.py: the recompute's GROUP BY is a parallel seq scan anyway).
            models.Index(fields=["phone_hash"], name="resident_phone_hash_idx"),
            # Every lookup by citizen ID, disputed or not (the unique index covers undisputed ones only).
            models.Index(fields=["citizen_id_hash"], name="resident_citizen_id_hash_idx"),
            models.Index(fields=["village", "full_name"], name="resident_village_name_idx"),
        ]
        constraints = [
            # A citizen ID belongs to one person: de-duplication through the keyed hash.
            models.UniqueConstraint(
                fields=["citizen_id_hash"], condition=Q(citizen_id_disputed=False), name="resident_citizen_id_unique"
            ),
            models.CheckConstraint(condition=~Q(full_name=""), name="resident_name_not_empty"),
            models.CheckConstraint(
                condition=Q(birth_year__gte=1890) & Q(birth_year__lte=2200), name="resident_birth_year_range"
            ),
            models.CheckConstraint(
                condition=Q(birth_month_index__gte=F("birth_year") * 12)
                & Q(birth_month_index__lt=F("birth_year") * 12 + 12),
                name="resident_birth_month_in_year",
            ),
            models.CheckConstraint(condition=Q(sex__in=[s.value for s in Sex]), name="resident_sex_valid"),
            models.CheckConstraint(
                condition=Q(merged_into__isnull=True) | Q(status=ResidentStatus.MERGED),
                name="resident_merged_into_iff_merged",
            ),
            models.CheckConstraint(
                condition=Q(status=ResidentStatus.ACTIVE, left_on__isnull=True)
                | (~Q(status=ResidentStatus.ACTIVE) & Q(left_on__isnull=False)),
                name="resident_left_on_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.birth_year})"

    def save(self, *args: Any, keep_ethnic_group: bool = False, **kwargs: Any) -> None:
        # Derived columns, not business logic: they must agree with the birth fields and the name
        # however saved. ``keep_ethnic_group``: only erasure, which clears the text but keeps what
        # the person counts for (as it keeps the birth month).
        self.derive_birth_month_index()
        self.search_name = fold_name(self.full_name)
        if not keep_ethnic_group:
            self.ethnic_group = ethnic_group_of(self.ethnicity)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "full_name" in update_fields and "search_name" not in update_fields:
            kwargs["update_fields"] = update_fields = [*update_fields, "search_name"]
        if update_fields is not None and "ethnicity" in update_fields and "ethnic_group" not in update_fields:
            kwargs["update_fields"] = [*update_fields, "ethnic_group"]
        super().save(*args, **kwargs)

    @staticmethod
    def month_index(year: int, month: int) -> int:
        return year * 12 + month - 1

    def derive_birth_month_index(self) -> None:
        """Keep ``birth_month_index`` in step with the birth date or year."""
        if self.birth_date is not None:
            self.birth_year = self.birth_date.year
            self.birth_month_index = self.month_index(self.birth_date.year, self.birth_date.month)
        elif self.birth_year:
            self.birth_month_index = self.month_index(self.birth_year, settings.FIELDTEAM_YEAR_ONLY_BIRTH_MONTH)


class ConsentRecord(models.Model):
    """Explicit, verifiable consent for stated purposes (Law 91/2025/QH15), and its withdrawal."""

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    resident = models.ForeignKey(
        Resident, verbose_name=_("resident"), on_delete=models.CASCADE, related_name="consents"
    )
    purposes = models.JSONField(_("purposes"), default=list)
    channel = models.CharField(_("channel"), max_length=20, choices=ConsentChannel.choices)
    notice_version = models.CharField(_("notice version"), max_length=20)
    given_at = models.DateTimeField(_("given at"))
    # Empty for a consent the system recorded (demo data, a list imported by command).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    withdrawn_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("withdrawal recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        constraints = [
            models.CheckConstraint(
                condition=Q(withdrawn_at__isnull=True) | Q(withdrawn_at__gte=F("given_at")),
                name="consent_withdrawn_after_given",
            ),
            models.CheckConstraint(condition=~Q(notice_version=""), name="consent_notice_version_not_empty"),
        ]

    def __str__(self) -> str:
        return str(_("Consent of %(resident)s, %(date)s") % {"resident": self.resident, "date": self.given_at.date()})
