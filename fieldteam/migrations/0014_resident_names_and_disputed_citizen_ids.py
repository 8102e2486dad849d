"""Names normalised and searchable alike everywhere; disputed citizen IDs (issue 13, items 1 and 14).

- ``search_name``: the folded name (``fieldteam.names.fold_name``) that search and duplicate
  detection compare; filled here for every resident, and every stored name (residents' and heads of
  household) is rewritten in its normal form (NFC, no invisible characters, spaces collapsed).
- ``citizen_id_disputed``: a citizen ID registered while a resident outside the registering user's
  areas already held it; the unique constraint now covers undisputed numbers only, and a plain
  index serves every lookup by hash.
"""

from django.db import migrations, models

BATCH = 2000


def normalise_names(apps, schema_editor) -> None:
    from fieldteam.names import fold_name, normalise_name

    Resident = apps.get_model("fieldteam", "Resident")
    Household = apps.get_model("fieldteam", "Household")
    batch = []
    for row in Resident.objects.order_by("pk").only("pk", "full_name", "search_name").iterator(chunk_size=BATCH):
        name = normalise_name(row.full_name) or row.full_name  # the name is never empty (constraint)
        if (name, fold_name(name)) != (row.full_name, row.search_name):
            row.full_name, row.search_name = name, fold_name(name)
            batch.append(row)
        if len(batch) == BATCH:
            Resident.objects.bulk_update(batch, ["full_name", "search_name"])
            batch = []
    Resident.objects.bulk_update(batch, ["full_name", "search_name"])
    batch = []
    for row in Household.objects.exclude(head_name="").order_by("pk").only("pk", "head_name").iterator(chunk_size=BATCH):
        name = normalise_name(row.head_name)
        if name != row.head_name:
            row.head_name = name
            batch.append(row)
        if len(batch) == BATCH:
            Household.objects.bulk_update(batch, ["head_name"])
            batch = []
    Household.objects.bulk_update(batch, ["head_name"])


class Migration(migrations.Migration):

    dependencies = [
        ('fieldteam', '0013_erasure_content_digests_keyed'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='resident',
            name='resident_citizen_id_unique',
        ),
        migrations.AddField(
            model_name='resident',
            name='citizen_id_disputed',
            field=models.BooleanField(db_default=False, default=False, editable=False),
        ),
        migrations.AddField(
            model_name='resident',
            name='search_name',
            field=models.CharField(blank=True, db_default='', editable=False, max_length=200),
        ),
        migrations.AddIndex(
            model_name='resident',
            index=models.Index(fields=['citizen_id_hash'], name='resident_citizen_id_hash_idx'),
        ),
        migrations.AddConstraint(
            model_name='resident',
            constraint=models.UniqueConstraint(condition=models.Q(('citizen_id_disputed', False)), fields=('citizen_id_hash',), name='resident_citizen_id_unique'),
        ),
        migrations.RunPython(normalise_names, migrations.RunPython.noop, elidable=True),
    ]
