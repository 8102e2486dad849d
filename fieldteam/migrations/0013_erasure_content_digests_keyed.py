"""Content digests of sync items become keyed (issue 13, "Personal data under attack", item 4).

A sync receipt (and the log or session an item made) kept a plain SHA-256 of the item as sent; a
resident item holds the citizen ID and phone number, so the number could be rebuilt from the
database alone by trying every possible one. ``content_hash`` is now the HMAC, under the identifier
hash key, of that same SHA-256, so each stored digest is re-keyed in place: resends of items
received before this migration still match. Not reversible (the plain digests are not kept).

Audit entries written before keep the digests they recorded: the trail is append-only. The log
and session items those describe carry no identifier field.
"""

from django.db import migrations

BATCH = 2000


def rekey(apps, schema_editor) -> None:
    # ``fieldteam.services.assistance.keyed_content_digest``, from the layer that touches no database.
    from fieldteam.identifiers import keyed_hash

    for name, pk in (("SyncReceipt", "client_id"), ("AssistanceLog", "id"), ("TrainingSession", "id")):
        model = apps.get_model("fieldteam", name)
        if not any(f.name == "content_hash" for f in model._meta.get_fields()):
            continue
        rows = model.objects.exclude(content_hash="").order_by(pk).only(pk, "content_hash")
        batch = []
        for row in rows.iterator(chunk_size=BATCH):
            row.content_hash = keyed_hash("content", row.content_hash)
            batch.append(row)
            if len(batch) == BATCH:
                model.objects.bulk_update(batch, ["content_hash"])
                batch = []
        if batch:
            model.objects.bulk_update(batch, ["content_hash"])


class Migration(migrations.Migration):
    dependencies = [("fieldteam", "0012_assistance_items_in_entered_order")]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop, elidable=True)]
