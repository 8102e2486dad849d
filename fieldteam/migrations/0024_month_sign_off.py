"""A month's sign-off: submitted by the commune, approved by the province, then locked (issue 17)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0023_follow_up_rules"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations = [
        migrations.CreateModel(
            name="MonthApproval",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("month", models.DateField(help_text="The first day of the month.", verbose_name="month")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Not submitted"),
                            ("submitted", "Submitted"),
                            ("returned", "Returned"),
                            ("approved", "Approved"),
                        ],
                        default="draft",
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=1000, verbose_name="note")),
                ("comment", models.CharField(blank=True, max_length=1000, verbose_name="province's comment")),
                ("submitted_at", models.DateTimeField(blank=True, null=True, verbose_name="submitted at")),
                ("decided_at", models.DateTimeField(blank=True, null=True, verbose_name="decided at")),
                ("unlocked_at", models.DateTimeField(blank=True, null=True, verbose_name="unlocked at")),
                ("unlock_reason", models.CharField(blank=True, max_length=1000, verbose_name="reason for unlocking")),
                (
                    "area",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="month_approvals",
                        to="fieldteam.area",
                        verbose_name="area",
                    ),
                ),
                (
                    "decided_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="decided by",
                    ),
                ),
                (
                    "province",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fieldteam.area",
                        verbose_name="province",
                    ),
                ),
                (
                    "submitted_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="submitted by",
                    ),
                ),
                (
                    "unlocked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="unlocked by",
                    ),
                ),
            ],
            options={
                "verbose_name": "month sign-off",
                "verbose_name_plural": "month sign-offs",
                "ordering": ["-month", "area__path"],
                "constraints": [
                    models.UniqueConstraint(fields=("area", "month"), name="month_approval_unique"),
                    models.CheckConstraint(condition=models.Q(("month__day", 1)), name="month_approval_first_of_month"),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["draft", "submitted", "returned", "approved"])),
                        name="month_approval_status_valid",
                    ),
                ],
            },
        ),
    ]
