"""Field work: assistance logs (append-only events) and training sessions with attendance."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import AssistanceChannel, AssistanceOutcome, NotDoneReason


class AssistanceLog(models.Model):
    """One visit or call: who helped whom with what, when and how.

    The id is made by the client (the phone, often offline), so a resend of the same log is
    recognised and never counted twice. Rows are append-only.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Province, team and member lead the composite indexes below, which serve their lookups too: a
    # single-column index of each would only cost every log written.
    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+", db_index=False
    )
    team = models.ForeignKey(
        "fieldteam.Team", verbose_name=_("team"), on_delete=models.PROTECT, related_name="logs", db_index=False
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="assistance_logs",
        db_index=False,
    )
    resident = models.ForeignKey(
        "fieldteam.Resident",
        verbose_name=_("resident"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assistance_logs",
    )
    household = models.ForeignKey(
        "fieldteam.Household",
        verbose_name=_("household"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assistance_logs",
    )
    village = models.ForeignKey("fieldteam.Area", verbose_name=_("village"), on_delete=models.PROTECT, related_name="+")
    occurred_at = models.DateTimeField(_("occurred at"))
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)
    channel = models.CharField(_("channel"), max_length=20, choices=AssistanceChannel.choices)
    note = models.TextField(_("note"), blank=True)
    training_session = models.ForeignKey(
        "fieldteam.TrainingSession",
        verbose_name=_("training session"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="logs",
    )
    # Hash of the client's payload: a resend with the same id and the same content is "already
    # received"; the same id with other content is a conflict, never merged.
    content_hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("assistance log")
        verbose_name_plural = _("assistance logs")
        ordering = ["-occurred_at"]
        indexes = [
            models.Index(fields=["province", "village", "occurred_at"]),
            models.Index(fields=["team", "occurred_at"]),
            models.Index(fields=["member", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(resident__isnull=False) & Q(household__isnull=True))
                | (Q(resident__isnull=True) & Q(household__isnull=False)),
                name="assistance_log_one_subject",
            ),
            models.CheckConstraint(
                condition=Q(channel__in=[c.value for c in AssistanceChannel]), name="assistance_log_channel_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d} {self.resident or self.household}"


class AssistanceItem(models.Model):
    """One capability a log was about, with its outcome (done, or not done and why)."""

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    # Looked up through the head of ``assistance_item_once_per_log``: no index of its own.
    log = models.ForeignKey(
        AssistanceLog, verbose_name=_("log"), on_delete=models.CASCADE, related_name="items", db_index=False
    )
    capability = models.ForeignKey(
        "fieldteam.Capability", verbose_name=_("capability"), on_delete=models.PROTECT, related_name="+"
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=AssistanceOutcome.choices)
    reason = models.CharField(_("reason not done"), max_length=20, choices=NotDoneReason.choices, blank=True)

    class Meta:
        verbose_name = _("assistance item")
        verbose_name_plural = _("assistance items")
        # As the member entered them (ids are given in that order), whichever index the database reads.
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["log", "capability"], name="assistance_item_once_per_log"),
            models.CheckConstraint(
                condition=Q(outcome=AssistanceOutcome.DONE, reason="")
                | Q(outcome=AssistanceOutcome.NOT_DONE) & ~Q(reason=""),
                name="assistance_item_reason_iff_not_done",
            ),
        ]
        indexes = [
            # The reasons statement (``selectors.reasons``) reads a province's "not done" items only,
            # a few percent of them: without this it reads every item of the province. The columns
            # after the log are what the statement takes from the item, so it reads the index only
            # (keys rather than INCLUDE, which SQLite lacks: the same index on both).
            models.Index(
                fields=["province", "log", "capability", "reason", "id"],
                condition=Q(outcome=AssistanceOutcome.NOT_DONE),
                name="assistance_item_not_done",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.capability}: {self.get_outcome_display()}"


class TrainingSession(models.Model):
    """A group class ("bình dân học vụ số"). Attending counts as assistance for digital skills."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(
        "fieldteam.Team", verbose_name=_("team"), on_delete=models.PROTECT, related_name="training_sessions"
    )
    village = models.ForeignKey("fieldteam.Area", verbose_name=_("place"), on_delete=models.PROTECT, related_name="+")
    topic = models.CharField(_("topic"), max_length=200)
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    trainer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("trainer"), on_delete=models.PROTECT, related_name="+"
    )
    capability = models.ForeignKey(
        "fieldteam.Capability",
        verbose_name=_("capability taught"),
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Attending counts as assistance for this capability (basic digital skills)."),
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("training session")
        verbose_name_plural = _("training sessions")
        ordering = ["-started_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="training_session_ends_after_start",
            ),
            models.CheckConstraint(condition=~Q(topic=""), name="training_session_topic_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.topic} ({self.started_at:%Y-%m-%d})"


class TrainingAttendance(models.Model):
    """A resident who attended a training session."""

    province = models.ForeignKey("fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+")
    session = models.ForeignKey(
        TrainingSession, verbose_name=_("session"), on_delete=models.CASCADE, related_name="attendances"
    )
    resident = models.ForeignKey(
        "fieldteam.Resident", verbose_name=_("resident"), on_delete=models.PROTECT, related_name="attendances"
    )
    completed = models.BooleanField(_("completed the session"), default=True)

    class Meta:
        verbose_name = _("attendance")
        verbose_name_plural = _("attendances")
        constraints = [models.UniqueConstraint(fields=["session", "resident"], name="attendance_once_per_session")]

    def __str__(self) -> str:
        return f"{self.resident} @ {self.session}"
