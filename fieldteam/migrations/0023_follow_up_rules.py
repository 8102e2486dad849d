"""Follow-up rules per not-done reason (issue 17), with the national defaults."""

import django.db.models.deletion
from django.db import migrations, models

# As ``fieldteam.models.follow_ups.DEFAULT_DELAYS`` stood when written (a migration never imports the
# app's modules, which move on).
DEFAULT_DELAYS = {
    "absent": 3,
    "missing_documents": 30,
    "no_device": 30,
    "declined": 90,
    "other": 7,
    "no_signal": None,
    "not_eligible": None,
}


def seed_defaults(apps, schema_editor):
    rule = apps.get_model("fieldteam", "FollowUpRule")
    for reason, delay in DEFAULT_DELAYS.items():
        rule.objects.get_or_create(province=None, reason=reason, defaults={"delay_days": delay})


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0022_field_work_fixes")]

    operations = [
        migrations.CreateModel(
            name="FollowUpRule",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("no_device", "No suitable device"),
                            ("declined", "Declined"),
                            ("not_eligible", "Not eligible"),
                            ("missing_documents", "Missing documents"),
                            ("no_signal", "No signal or service down"),
                            ("absent", "Not at home"),
                            ("other", "Other"),
                        ],
                        max_length=20,
                        verbose_name="reason not done",
                    ),
                ),
                (
                    "delay_days",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        help_text="Empty: no follow-up for this reason (e.g. no signal: wait until coverage changes).",
                        null=True,
                        verbose_name="follow up after (days)",
                    ),
                ),
                (
                    "province",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: the national default.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="fieldteam.area",
                        verbose_name="province",
                    ),
                ),
            ],
            options={
                "verbose_name": "follow-up rule",
                "verbose_name_plural": "follow-up rules",
                "ordering": ["province_id", "reason"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("province__isnull", False)),
                        fields=("province", "reason"),
                        name="follow_up_rule_once_per_province",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("province__isnull", True)),
                        fields=("reason",),
                        name="follow_up_rule_once_nationally",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("delay_days__isnull", True), ("delay_days__gte", 0), _connector="OR"),
                        name="follow_up_rule_delay_not_negative",
                    ),
                ],
            },
        ),
        migrations.RunPython(seed_defaults, migrations.RunPython.noop),
    ]
