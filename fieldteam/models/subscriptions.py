"""Reports delivered without asking (issue 17): an officer's subscription, and each report sent.

A subscription names an area (a commune or a province the subscriber sees), a period kind and a
format; once a period of that area is approved, beat sends its report by email
(``fieldteam.services.subscriptions.deliver_approved_reports``). One ``ReportDelivery`` per
subscription and period says what became of it, so that a report goes out once, never twice, and a
failed send is tried again.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import DeliveryStatus, PeriodKind, ReportFormat


class ReportSubscription(models.Model):
    """``user`` receives the report of ``area`` for every approved period of ``period_kind``, in ``format``.

    Written through ``fieldteam.services.subscriptions`` (``subscribe`` / ``unsubscribe``). Only
    periods approved after the subscription was made are sent: subscribing is not a request for
    the archive.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    area = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("area"), on_delete=models.CASCADE, related_name="report_subscriptions"
    )
    period_kind = models.CharField(
        _("period kind"), max_length=10, choices=PeriodKind.choices, default=PeriodKind.MONTH
    )
    format = models.CharField(_("format"), max_length=10, choices=ReportFormat.choices, default=ReportFormat.XLSX)
    created_at = models.DateTimeField(_("subscribed at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("report by email")
        verbose_name_plural = _("reports by email")
        ordering = ["area__path", "period_kind", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "area", "period_kind", "format"], name="report_subscription_unique"
            ),
            models.CheckConstraint(
                condition=Q(period_kind__in=[k.value for k in PeriodKind]), name="report_subscription_period_kind_valid"
            ),
            models.CheckConstraint(
                condition=Q(format__in=[f.value for f in ReportFormat]), name="report_subscription_format_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.area} ({self.get_period_kind_display()}, {self.get_format_display()})"


class ReportDelivery(models.Model):
    """What became of one subscription's report of the period starting ``period_start``.

    Written only by ``deliver_approved_reports``: ``sent`` and ``skipped`` are final; ``failed`` is
    tried again at the next run (up to ``MAX_ATTEMPTS`` of the service).
    """

    subscription = models.ForeignKey(
        ReportSubscription, verbose_name=_("subscription"), on_delete=models.CASCADE, related_name="deliveries"
    )
    period_start = models.DateField(_("period start"), help_text=_("The first day of the period reported."))
    status = models.CharField(_("status"), max_length=10, choices=DeliveryStatus.choices)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    attempted_at = models.DateTimeField(_("last attempt"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipients = models.CharField(_("sent to"), max_length=254, blank=True)
    error = models.CharField(_("error"), max_length=1000, blank=True)

    class Meta:
        verbose_name = _("report sent")
        verbose_name_plural = _("reports sent")
        ordering = ["-period_start", "subscription_id"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="report_delivery_unique"),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in DeliveryStatus]), name="report_delivery_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subscription} {self.period_start:%m/%Y}: {self.get_status_display()}"
