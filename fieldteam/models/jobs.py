"""Background work the users wait for (reports, imports, exports), and receipts of offline sync."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class JobKind(models.TextChoices):
    REPORT = "report", _("Periodic report")
    EXPORT = "export", _("Export")
    IMPORT = "import", _("Import")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class BackgroundJob(models.Model):
    """A long task a user started: its progress, and the file it produced (or its error).

    The row is written before the Celery task is queued, so a lost message leaves a visible
    queued job that can be run again, never a silent gap.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=JobKind.choices)
    name = models.CharField(_("what"), max_length=100, help_text=_("E.g. residents, periodic-report."))
    status = models.CharField(_("status"), max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    area = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    total = models.PositiveIntegerField(_("rows in all"), null=True, blank=True)
    processed = models.PositiveIntegerField(_("rows done"), default=0)
    input_file = models.FileField(_("input file"), upload_to="jobs/in/%Y/%m/", blank=True)
    result_file = models.FileField(_("result file"), upload_to="jobs/out/%Y/%m/", blank=True)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("started by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Touched when the job is claimed and at each progress step: a running job whose heartbeat is
    # old lost its worker (``fieldteam.services.jobs.release_stalled_jobs``).
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("background job")
        verbose_name_plural = _("background jobs")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["created_by", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(total__isnull=True) | Q(processed__lte=models.F("total")), name="job_processed_within_total"
            ),
        ]

    def __str__(self) -> str:
        # ``name`` is a code ("residents"); the pages show its label (``admin.imports.job_title``).
        return f"{self.get_kind_display()} ({self.get_status_display()})"

    @property
    def percent(self) -> int | None:
        if not self.total:
            return None
        return min(100, self.processed * 100 // self.total)


class SyncReceipt(models.Model):
    """One item received through offline sync, by the id its phone made.

    A resend with the same id and the same content is "already received"; the same id with
    other content is a conflict, reported and never merged.
    """

    client_id = models.UUIDField(_("client id"), primary_key=True)
    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20)
    content_hash = models.CharField(_("content hash"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=40)
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+"
    )
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sync receipt")
        verbose_name_plural = _("sync receipts")

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"
