"""Breakdowns of the village counts by sex and ethnic group; members' own training (issue 15).

The residents' ``ethnic_group`` is derived here from the ethnicity already recorded (one UPDATE per
distinct spelling, a few dozen); the new count columns start at zero and are filled by the next
recompute of each province (``manage.py recompute_rollup``, or the nightly one): run it right after
this migration, before the dashboards are read.
"""

import unicodedata

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _fold(text):
    # ``fieldteam.names.fold_name`` as of this migration (a migration does not import live code).
    value = " ".join((text or "").split()).replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", value)
    return unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch))).casefold()


def _group(text):
    folded = _fold(text)
    if not folded:
        return "unknown"
    return "kinh" if folded in {"kinh", "dan toc kinh"} else "minority"


def derive_ethnic_groups(apps, schema_editor):
    Resident = apps.get_model("fieldteam", "Resident")
    spellings = Resident.objects.exclude(ethnicity="").values_list("ethnicity", flat=True).distinct()
    by_group: dict[str, list[str]] = {}
    for spelling in spellings:
        by_group.setdefault(_group(spelling), []).append(spelling)
    for group, values in by_group.items():
        for start in range(0, len(values), 500):
            Resident.objects.filter(ethnicity__in=values[start : start + 500]).update(ethnic_group=group)


class Migration(migrations.Migration):
    dependencies = [
        ("fieldteam", "0019_indicator_semantics"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="indicatorvalue",
            name="women_numerator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="indicatorvalue",
            name="women_denominator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="indicatorvalue",
            name="minority_numerator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="indicatorvalue",
            name="minority_denominator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="indicatorvalue",
            name="kinh_numerator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="indicatorvalue",
            name="kinh_denominator",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="women_numerator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="women_denominator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="minority_numerator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="minority_denominator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="kinh_numerator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="villagecount",
            name="kinh_denominator",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AddField(
            model_name="resident",
            name="ethnic_group",
            field=models.CharField(
                choices=[("kinh", "Kinh"), ("minority", "Ethnic minority"), ("unknown", "Not recorded")],
                db_default="unknown",
                default="unknown",
                editable=False,
                max_length=8,
            ),
        ),
        migrations.CreateModel(
            name="MemberTraining",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("topic", models.CharField(max_length=200, verbose_name="course or topic")),
                ("trained_on", models.DateField(verbose_name="trained on")),
                ("recorded_at", models.DateTimeField(auto_now_add=True, verbose_name="recorded at")),
                (
                    "recorded_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="recorded by",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="member_trainings",
                        to="fieldteam.team",
                        verbose_name="team",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="trainings",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="member",
                    ),
                ),
            ],
            options={
                "verbose_name": "member training",
                "verbose_name_plural": "member trainings",
                "ordering": ["-trained_on", "pk"],
                "constraints": [
                    models.CheckConstraint(condition=~models.Q(topic=""), name="member_training_topic_not_empty"),
                    models.UniqueConstraint(fields=("user", "topic", "trained_on"), name="member_training_unique"),
                ],
            },
        ),
        migrations.RunPython(derive_ethnic_groups, migrations.RunPython.noop, elidable=True),
    ]
