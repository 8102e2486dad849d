"""The reports of approved months, sent for real (issue 17): an SMTP server on localhost, read back.

Each test starts aiosmtpd on a free port of 127.0.0.1, points Django's SMTP backend at it and runs
the ``deliver_reports`` task (beat's); what the server received is parsed back: subject, recipient,
and the attached workbook opened with openpyxl. A server that refuses the message, or is not there,
leaves the report to be sent by the next run; two runs at once (PostgreSQL, as workers run them)
send it once.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import io
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connection
from django.utils import timezone
from openpyxl import load_workbook

from backend.celery import app
from fieldteam import tasks
from fieldteam.choices import DeliveryStatus
from fieldteam.models import ReportDelivery, RollupState
from fieldteam.rollup import recompute
from fieldteam.services import approvals, subscriptions
from tests.clock import last_month, this_month
from tests.factories import HouseholdFactory, IndicatorFactory, ReportSubscriptionFactory, ResidentFactory


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage


@dataclass
class Handler:
    """aiosmtpd's handler: keeps each message, or refuses them while ``refuse`` is set."""

    received: list[Received] = field(default_factory=list)
    refuse: bool = False
    delay: float = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            time.sleep(self.delay)  # a slow server: a send takes this long (blocking, like a real round trip)
        if self.refuse:
            return "554 5.7.1 Message refused"
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]  # aiosmtpd types mail_from as str | None; set by then
        return "250 Message accepted"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp_server(settings) -> Iterator[Handler]:
    """A real SMTP server on localhost, with Django's SMTP backend pointed at it."""
    handler = Handler()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10
    settings.DEFAULT_FROM_EMAIL = "bao-cao@fieldteam.example"
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def approved(area_tree, commune_officer, province_officer):
    """Last month closed in the province, the commune's month approved, its officer subscribed before that."""
    IndicatorFactory()
    ResidentFactory(household=HouseholdFactory(village=area_tree.village))
    RollupState.objects.update_or_create(province=area_tree.province, defaults={"month": this_month()})
    recompute.close_month(province_id=area_tree.province.pk, month=last_month())
    approvals.submit_month(actor=commune_officer, area=area_tree.commune, month=last_month())
    approvals.approve_month(actor=province_officer, area=area_tree.commune, month=last_month())
    # Subscribed an hour before the approval; the row is written after it, so that the run the
    # approval queues when it commits (tests outside a transaction) does not send it first.
    ReportSubscriptionFactory(
        user=commune_officer, area=area_tree.commune, created_at=timezone.now() - dt.timedelta(hours=1)
    )
    return area_tree


def _run_task() -> dict[str, int]:
    return tasks.deliver_reports.delay().get()


@pytest.mark.django_db
def test_the_report_arrives_by_smtp_with_the_workbook_attached(smtp_server, approved, commune_officer):
    assert _run_task() == {"sent": 1, "failed": 0, "skipped": 0}

    [received] = smtp_server.received
    assert received.rcpt_tos == [commune_officer.email]
    assert received.mail_from == "bao-cao@fieldteam.example"
    message = received.message
    assert message["Subject"] == f"Báo cáo tháng {last_month():%m/%Y}: Xã Ia Grai"
    assert message["To"] == commune_officer.email
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and "đã được duyệt" in body.get_content()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert attachment.get_filename().endswith(".xlsx")
    book = load_workbook(io.BytesIO(attachment.get_content()))
    assert len(book.worksheets) == 3
    first = book.worksheets[0]
    assert str(first["A1"].value).startswith(f"Báo cáo tháng {last_month():%m/%Y}: Xã Ia Grai")
    codes = [row[0] for row in first.iter_rows(min_row=5, values_only=True)]
    assert approved.commune.code in codes  # the commune's approved values are in it

    # Beat runs again: nothing more reaches the server.
    assert _run_task() == {"sent": 0, "failed": 0, "skipped": 0}
    assert len(smtp_server.received) == 1


@pytest.mark.django_db
def test_a_refusing_server_then_an_accepting_one_sends_it_once(smtp_server, approved):
    smtp_server.refuse = True
    assert _run_task() == {"sent": 0, "failed": 1, "skipped": 0}
    delivery = ReportDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert "554" in delivery.error
    assert smtp_server.received == []

    smtp_server.refuse = False
    assert _run_task()["sent"] == 1
    assert _run_task()["sent"] == 0
    assert len(smtp_server.received) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)


@pytest.mark.django_db
def test_no_server_at_all_is_a_failure_tried_again(settings, approved):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", _free_port(), 5
    assert _run_task() == {"sent": 0, "failed": 1, "skipped": 0}
    assert ReportDelivery.objects.get().status == DeliveryStatus.FAILED


def test_the_task_goes_to_the_reports_queue_and_beat_runs_it() -> None:
    assert app.amqp.router.route({}, tasks.deliver_reports.name)["queue"].name == "reports"
    schedule = {entry["task"]: entry["schedule"] for entry in app.conf.beat_schedule.values()}
    assert schedule[tasks.deliver_reports.name] <= 15 * 60


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_send_each_report_once(smtp_server, approved):
    """Two workers run the task at the same moment (a beat run and an approval's): one message."""
    smtp_server.delay = 0.5  # each send is slow, so the two runs overlap
    results: list[Any] = []
    start = threading.Barrier(2)

    def run() -> None:
        try:
            start.wait()
            results.append(subscriptions.deliver_approved_reports())
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(run.sent for run in results) == [0, 1]
    assert len(smtp_server.received) == 1
    assert ReportDelivery.objects.get().attempts == 1
