import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0024_month_sign_off")]

    operations = [
        migrations.CreateModel(
            name="ReportSubscription",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "period_kind",
                    models.CharField(
                        choices=[("month", "Month"), ("quarter", "Quarter"), ("year", "Year")],
                        default="month",
                        max_length=10,
                        verbose_name="period kind",
                    ),
                ),
                (
                    "format",
                    models.CharField(
                        choices=[("xlsx", "Excel (XLSX)"), ("csv", "CSV")],
                        default="xlsx",
                        max_length=10,
                        verbose_name="format",
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(
                        default=django.utils.timezone.now, editable=False, verbose_name="subscribed at"
                    ),
                ),
                (
                    "area",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="report_subscriptions",
                        to="fieldteam.area",
                        verbose_name="area",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="report_subscriptions",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
            ],
            options={
                "verbose_name": "report by email",
                "verbose_name_plural": "reports by email",
                "ordering": ["area__path", "period_kind", "format"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("user", "area", "period_kind", "format"), name="report_subscription_unique"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("period_kind__in", ["month", "quarter", "year"])),
                        name="report_subscription_period_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("format__in", ["xlsx", "csv"])), name="report_subscription_format_valid"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ReportDelivery",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "period_start",
                    models.DateField(help_text="The first day of the period reported.", verbose_name="period start"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[("sent", "Sent"), ("failed", "Failed (tried again)"), ("skipped", "Not sent")],
                        max_length=10,
                        verbose_name="status",
                    ),
                ),
                ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="attempts")),
                ("attempted_at", models.DateTimeField(verbose_name="last attempt")),
                ("sent_at", models.DateTimeField(blank=True, null=True, verbose_name="sent at")),
                ("recipients", models.CharField(blank=True, max_length=254, verbose_name="sent to")),
                ("error", models.CharField(blank=True, max_length=1000, verbose_name="error")),
                (
                    "subscription",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="fieldteam.reportsubscription",
                        verbose_name="subscription",
                    ),
                ),
            ],
            options={
                "verbose_name": "report sent",
                "verbose_name_plural": "reports sent",
                "ordering": ["-period_start", "subscription_id"],
                "constraints": [
                    models.UniqueConstraint(fields=("subscription", "period_start"), name="report_delivery_unique"),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["sent", "failed", "skipped"])),
                        name="report_delivery_status_valid",
                    ),
                ],
            },
        ),
    ]
