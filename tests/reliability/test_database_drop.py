"""The database connection dropped in the middle of a sync batch: the phone's resend stores each
item exactly once (the items committed before the drop are "already received", the rest created)."""

from __future__ import annotations

import pytest
from django.db import close_old_connections, connection

from fieldteam.models import AssistanceLog, SyncReceipt
from fieldteam.rollup import recompute
from fieldteam.sync import envelope
from tests.reliability.conftest import SYNC
from tests.reliability.pg import admin_connection

pytestmark = [pytest.mark.fault, pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

CUT_AT_ITEM = 8


def test_a_batch_cut_by_a_dropped_connection_is_resent_and_stored_exactly_once(village, monkeypatch):
    batch = [village.sync_item(number) for number in range(20)]
    receive = envelope._receive  # each item, whichever way it is written (one statement or the ORM)
    applied = []

    def cut_the_connection_at_item_n(batch_state, raw_id, kind, data):
        applied.append(raw_id)
        if len(applied) == CUT_AT_ITEM:
            # From another connection, as a failover, a restart or a network cut would.
            with admin_connection() as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [connection.connection.info.backend_pid])
        return receive(batch_state, raw_id, kind, data)

    monkeypatch.setattr(envelope, "_receive", cut_the_connection_at_item_n)
    client = village.client()
    client.raise_request_exception = False

    cut = client.post(SYNC, {"items": batch}, format="json")

    assert cut.status_code == 500  # the phone keeps the batch and sends it again
    monkeypatch.setattr(envelope, "_receive", receive)
    close_old_connections()  # what the server does at the start of the next request
    resent = client.post(SYNC, {"items": batch}, format="json")

    assert resent.status_code == 200
    statuses = [result["status"] for result in resent.json()["results"]]
    assert statuses == ["already_received"] * (CUT_AT_ITEM - 1) + ["created"] * (len(batch) - CUT_AT_ITEM + 1)
    ids = [item["client_id"] for item in batch]
    assert AssistanceLog.objects.filter(pk__in=ids).count() == len(batch)
    assert SyncReceipt.objects.filter(pk__in=ids).count() == len(batch)
    assert recompute.recompute_province(province_id=village.province.pk).drift == []
