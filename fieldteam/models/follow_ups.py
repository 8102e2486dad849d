"""Follow-up rules: how long after a "not done" the team goes back, per reason (issue 17).

A follow-up itself is not stored: it is derived from the latest assistance item of each subject
and capability (``fieldteam.selectors.follow_ups``), so resends and offline batches can neither
lose nor duplicate one. Only the delays are data: a national default per reason (``province``
empty) and any province's own.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import NotDoneReason

#: The national defaults seeded by migration 0023: days until the team goes back; None: no follow-up
#: (no signal waits for coverage, not for a date; not eligible will not change by going back).
DEFAULT_DELAYS: dict[str, int | None] = {
    NotDoneReason.ABSENT: 3,
    NotDoneReason.MISSING_DOCUMENTS: 30,
    NotDoneReason.NO_DEVICE: 30,
    NotDoneReason.DECLINED: 90,
    NotDoneReason.OTHER: 7,
    NotDoneReason.NO_SIGNAL: None,
    NotDoneReason.NOT_ELIGIBLE: None,
}


class FollowUpRule(models.Model):
    """Days from a "not done" for ``reason`` to its follow-up's due date; empty: no follow-up.

    ``province`` empty is the national default; a province's own row replaces it there. Set
    through ``fieldteam.services.follow_ups.set_follow_up_rule``.
    """

    province = models.ForeignKey(
        "fieldteam.Area",
        verbose_name=_("province"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the national default."),
    )
    reason = models.CharField(_("reason not done"), max_length=20, choices=NotDoneReason.choices)
    delay_days = models.PositiveSmallIntegerField(
        _("follow up after (days)"),
        null=True,
        blank=True,
        help_text=_("Empty: no follow-up for this reason (e.g. no signal: wait until coverage changes)."),
    )

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ["province_id", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["province", "reason"],
                condition=Q(province__isnull=False),
                name="follow_up_rule_once_per_province",
            ),
            models.UniqueConstraint(
                fields=["reason"], condition=Q(province__isnull=True), name="follow_up_rule_once_nationally"
            ),
            models.CheckConstraint(
                condition=Q(delay_days__isnull=True) | Q(delay_days__gte=0), name="follow_up_rule_delay_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}: {self.delay_days if self.delay_days is not None else '-'}"
