"""Field work as people meet it (issue 16)."""

from django.db import migrations, models


def reported_indicators_are_provincial(apps, schema_editor):
    """The reported indicators held so far are provincial statistics (GRDP share, ...): no value below."""
    indicator = apps.get_model("fieldteam", "Indicator")
    indicator.objects.filter(kind="reported").update(lowest_level="province")


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0021_log_statement_function_v2")]

    operations = [
        # Indicators: a short name for the heads of tables, and the lowest level with a value (homes).
        migrations.AddField(
            model_name="indicator",
            name="short_name",
            field=models.CharField(
                blank=True,
                help_text="A few words for the heads of tables; the full name is shown on hover and focus.",
                max_length=40,
                verbose_name="short name",
            ),
        ),
        migrations.AddField(
            model_name="indicator",
            name="lowest_level",
            field=models.CharField(
                choices=[("village", "Village"), ("commune", "Commune"), ("province", "Province")],
                default="village",
                help_text=(
                    "The lowest level with a value: village for what household data counts, province for a "
                    "provincial statistic (share of GRDP, ...). Pages below it do not list the indicator."
                ),
                max_length=10,
                verbose_name="measured down to",
            ),
        ),
        migrations.RunPython(reported_indicators_are_provincial, migrations.RunPython.noop),
    ]
