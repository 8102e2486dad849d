"""A month's sign-off per area: the commune submits its values, the province approves or returns them.

An approved month is locked: its frozen values no longer change (``fieldteam.services.approvals``
says who may do what; every write of a month's values asks ``ensure_month_open`` first).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import ApprovalStatus


class MonthApproval(models.Model):
    """One area's (a commune's or the province's own) sign-off of one closed month."""

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    area = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, related_name="month_approvals"
    )
    month = models.DateField(_("month"), help_text=_("The first day of the month."))
    status = models.CharField(_("status"), max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.DRAFT)
    note = models.CharField(_("note"), max_length=1000, blank=True)
    comment = models.CharField(_("province's comment"), max_length=1000, blank=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("submitted by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("decided by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("unlocked by"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unlocked_at = models.DateTimeField(_("unlocked at"), null=True, blank=True)
    unlock_reason = models.CharField(_("reason for unlocking"), max_length=1000, blank=True)

    class Meta:
        verbose_name = _("month sign-off")
        verbose_name_plural = _("month sign-offs")
        ordering = ["-month", "area__path"]
        constraints = [
            models.UniqueConstraint(fields=["area", "month"], name="month_approval_unique"),
            models.CheckConstraint(condition=Q(month__day=1), name="month_approval_first_of_month"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in ApprovalStatus]), name="month_approval_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area} {self.month:%m/%Y}: {self.get_status_display()}"
