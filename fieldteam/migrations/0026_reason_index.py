from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0025_report_subscriptions")]

    operations = [
        # The reasons statement reads only a province's "not done" items (issue 17).
        migrations.AddIndex(
            model_name="assistanceitem",
            index=models.Index(
                condition=models.Q(("outcome", "not_done")),
                fields=["province", "log", "capability", "reason", "id"],
                name="assistance_item_not_done",
            ),
        ),
    ]
