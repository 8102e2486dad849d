"""Community digital-technology teams, their members and staff area roles."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import Affiliation, AreaRoleKind, MembershipRole


class Team(models.Model):
    """A community digital-technology team (Tổ công nghệ số cộng đồng), serving one or a few areas."""

    name = models.CharField(_("name"), max_length=200)
    province = models.ForeignKey(
        "fieldteam.Area", verbose_name=_("province"), on_delete=models.PROTECT, related_name="+"
    )
    areas = models.ManyToManyField(
        "fieldteam.Area",
        verbose_name=_("areas served"),
        related_name="teams",
        help_text=_("Usually one village; a commune-level team serves the commune."),
    )
    founded_on = models.DateField(_("founded on"))
    decision_ref = models.CharField(_("founding decision"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="team_name_not_empty")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in a team, with role, affiliation and dates (open-ended while ``ended_on`` is empty)."""

    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.PROTECT, related_name="memberships"
    )
    role = models.CharField(_("role"), max_length=10, choices=MembershipRole.choices, default=MembershipRole.MEMBER)
    affiliation = models.CharField(_("affiliation"), max_length=30, choices=Affiliation.choices, blank=True)
    started_on = models.DateField(_("started on"))
    ended_on = models.DateField(_("ended on"), null=True, blank=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=Q(ended_on__isnull=True) | Q(ended_on__gte=F("started_on")),
                name="membership_ends_after_start",
            ),
            # One open membership per person and team; past ones are kept as history.
            models.UniqueConstraint(
                fields=["team", "user"], condition=Q(ended_on__isnull=True), name="membership_one_open_per_team"
            ),
            models.CheckConstraint(
                condition=Q(role__in=[r.value for r in MembershipRole]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.team} ({self.get_role_display()})"


class MemberTraining(models.Model):
    """A course a team member took themselves (the plans count members trained), recorded by an officer.

    Recorded against the team the person was a member of (``team``: whose areas say who may record
    and see it); the person is ``user``, so a member of two teams counts as trained in both.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("member"), on_delete=models.PROTECT, related_name="trainings"
    )
    team = models.ForeignKey(Team, verbose_name=_("team"), on_delete=models.PROTECT, related_name="member_trainings")
    topic = models.CharField(_("course or topic"), max_length=200)
    trained_on = models.DateField(_("trained on"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member training")
        verbose_name_plural = _("member trainings")
        ordering = ["-trained_on", "pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(topic=""), name="member_training_topic_not_empty"),
            models.UniqueConstraint(fields=["user", "topic", "trained_on"], name="member_training_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.topic} ({self.trained_on:%d/%m/%Y})"


class AreaRole(models.Model):
    """A staff role over an area's subtree (commune officer, province officer, viewer)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="area_roles"
    )
    area = models.ForeignKey("fieldteam.Area", verbose_name=_("area"), on_delete=models.PROTECT, related_name="+")
    role = models.CharField(_("role"), max_length=20, choices=AreaRoleKind.choices)
    granted_on = models.DateField(_("granted on"), auto_now_add=True)

    class Meta:
        verbose_name = _("area role")
        verbose_name_plural = _("area roles")
        constraints = [
            models.UniqueConstraint(fields=["user", "area", "role"], name="area_role_unique"),
            models.CheckConstraint(condition=Q(role__in=[r.value for r in AreaRoleKind]), name="area_role_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.get_role_display()} – {self.area}"
