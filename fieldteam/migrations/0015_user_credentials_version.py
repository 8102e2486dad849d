# Issue 13 item 6: tokens and sessions end when a password or is_active changes.

from django.db import migrations, models

import fieldteam.models.users


class Migration(migrations.Migration):

    dependencies = [
        ('fieldteam', '0014_resident_names_and_disputed_citizen_ids'),
    ]

    operations = [
        migrations.AlterModelManagers(
            name='user',
            managers=[
                ('objects', fieldteam.models.users.UserManager()),
            ],
        ),
        migrations.AddField(
            model_name='user',
            name='credentials_version',
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
    ]
