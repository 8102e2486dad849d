"""Reports delivered without asking (issue 17): subscribing, and the approved months' reports by email.

Subscribing: officers and viewers of a commune or province, every other role refused naming the
field, bad input refused with nothing saved. Delivery: once per approved month (never for a
submitted or returned one), again after a failed send, never twice; the file attached is the
report ``month_report_file`` makes as the subscriber. Mail goes to Django's test outbox here; the
real SMTP round trip is in ``tests/tasks/test_deliver_reports.py``. On both databases.
"""

from __future__ import annotations

import datetime as dt
import io
import smtplib
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from openpyxl import load_workbook

from fieldteam.choices import AreaRoleKind, DeliveryStatus, MembershipRole
from fieldteam.models import AreaRole, ReportDelivery, ReportSubscription, RollupState
from fieldteam.rollup import recompute
from fieldteam.services import approvals, reports, subscriptions
from tests.clock import last_month, this_month
from tests.factories import (
    AreaRoleFactory,
    HouseholdFactory,
    IndicatorFactory,
    MembershipFactory,
    ReportSubscriptionFactory,
    ResidentFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db



@pytest.fixture
def closed(area_tree):
    """Last month closed in the province, with a computed indicator frozen for every area."""
    IndicatorFactory()
    for village in (area_tree.village, area_tree.other_village):
        ResidentFactory(household=HouseholdFactory(village=village))
    RollupState.objects.update_or_create(province=area_tree.province, defaults={"month": this_month()})
    recompute.close_month(province_id=area_tree.province.pk, month=last_month())
    return area_tree


def _approve(area, commune_officer, province_officer, month=None):
    month = month or last_month()
    approvals.submit_month(actor=commune_officer if area.is_commune else province_officer, area=area, month=month)
    return approvals.approve_month(actor=province_officer, area=area, month=month)


def _codes(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


# --- subscribing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "where"),
    [
        ("commune_officer", "commune"),
        ("province_officer", "province"),
        ("province_officer", "other_commune"),
        ("viewer", "province"),
        ("viewer", "commune"),
        ("superuser", "far_commune"),
    ],
)
def test_officers_and_viewers_subscribe_to_a_commune_or_province_they_see(area_tree, who, where, request):
    actor = {
        "commune_officer": lambda: request.getfixturevalue("commune_officer"),
        "province_officer": lambda: request.getfixturevalue("province_officer"),
        "viewer": lambda: AreaRoleFactory(area=area_tree.province, role=AreaRoleKind.VIEWER).user,
        "superuser": lambda: request.getfixturevalue("superuser"),
    }[who]()
    area = getattr(area_tree, where)
    row = subscriptions.subscribe(actor=actor, area=area, fmt="csv")
    assert (row.user, row.area, row.period_kind, row.format) == (actor, area, "month", "csv")
    # Subscribing again to the same report keeps the one subscription.
    assert subscriptions.subscribe(actor=actor, area=area, fmt="csv") == row
    assert ReportSubscription.objects.count() == 1
    assert subscriptions.subscribe(actor=actor, area=area, fmt="xlsx") != row


@pytest.mark.parametrize(
    ("who", "where", "code"),
    [
        ("member", "village", "read_only"),  # sees the village through the team, holds no area role
        ("member", "commune", "out_of_scope"),
        ("commune_team_leader", "commune", "read_only"),  # a team serving the whole commune still is a team
        ("commune_officer", "other_commune", "out_of_scope"),
        ("commune_officer", "province", "out_of_scope"),
        ("far_officer", "commune", "out_of_scope"),
    ],
)
def test_members_and_areas_out_of_scope_are_refused_in_vietnamese(
    area_tree, commune_officer, who, where, code, request
):
    actor = {
        "member": lambda: request.getfixturevalue("member"),
        "commune_team_leader": lambda: (
            MembershipFactory(team=TeamFactory(village=area_tree.commune), role=MembershipRole.LEADER).user
        ),
        "commune_officer": lambda: commune_officer,
        "far_officer": lambda: AreaRoleFactory(area=area_tree.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user,
    }[who]()
    with translation.override("vi"), pytest.raises(ValidationError) as refused:
        subscriptions.subscribe(actor=actor, area=getattr(area_tree, where))
    assert _codes(refused.value) == {"area": [code]}
    message = str(refused.value.error_dict["area"][0].message)
    assert any(ord(letter) > 127 for letter in message), message  # in Vietnamese
    assert not ReportSubscription.objects.exists()


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"area": None}, "area", "required"),
        ({"area": "village"}, "area", "not_signing_area"),
        ({"period_kind": "quarter"}, "period_kind", "invalid_choice"),
        ({"period_kind": "week"}, "period_kind", "invalid_choice"),
        ({"fmt": "pdf"}, "format", "invalid_choice"),
        ({"fmt": ""}, "format", "invalid_choice"),
    ],
)
def test_bad_input_names_the_field_and_saves_nothing(area_tree, commune_officer, kwargs, field, code):
    arguments = {"area": area_tree.commune, **kwargs}
    if arguments["area"] == "village":
        arguments["area"] = area_tree.village
    with pytest.raises(ValidationError) as refused:
        subscriptions.subscribe(actor=commune_officer, **arguments)
    assert _codes(refused.value) == {field: [code]}
    assert not ReportSubscription.objects.exists()


def test_unsubscribe_ends_ones_own_and_refuses_anothers(area_tree, commune_officer, superuser):
    mine = subscriptions.subscribe(actor=commune_officer, area=area_tree.commune)
    colleague = AreaRoleFactory(area=area_tree.commune).user
    with pytest.raises(ValidationError) as refused:
        subscriptions.unsubscribe(actor=colleague, subscription=mine)
    assert _codes(refused.value) == {"subscription": ["out_of_scope"]}
    assert ReportSubscription.objects.filter(pk=mine.pk).exists()
    subscriptions.unsubscribe(actor=commune_officer, subscription=mine)
    assert not ReportSubscription.objects.exists()
    theirs = subscriptions.subscribe(actor=colleague, area=area_tree.commune)
    subscriptions.unsubscribe(actor=superuser, subscription=theirs)
    assert not ReportSubscription.objects.exists()


# --- delivering --------------------------------------------------------------------------------


def test_an_approved_month_is_sent_once_with_the_subscribers_report_attached(closed, commune_officer, province_officer):
    subscription = subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)

    run = subscriptions.deliver_approved_reports()

    assert (run.sent, run.failed, run.skipped) == (1, 0, 0)
    [message] = mail.outbox
    assert message.to == [commune_officer.email]
    assert message.subject == f"Báo cáo tháng {last_month():%m/%Y}: {closed.commune.name}"
    assert "đã được duyệt" in message.body
    expected = reports.month_report_file(user=commune_officer, area=closed.commune, month=last_month(), fmt="xlsx")
    [(filename, content, content_type)] = message.attachments
    assert (filename, content_type) == (expected.filename, expected.content_type)
    assert _cells(content) == _cells(expected.content)
    delivery = ReportDelivery.objects.get()
    assert (delivery.subscription, delivery.period_start, delivery.status, delivery.attempts) == (
        subscription,
        last_month(),
        DeliveryStatus.SENT,
        1,
    )
    assert delivery.recipients == commune_officer.email

    # Beat again, and again: nothing more.
    assert subscriptions.deliver_approved_reports().sent == 0
    assert subscriptions.deliver_approved_reports().sent == 0
    assert len(mail.outbox) == 1


def _cells(content: bytes) -> list[list[object]]:
    """Every sheet's values (an XLSX file's bytes differ from run to run by its timestamps)."""
    book = load_workbook(io.BytesIO(content))
    return [[sheet.title, *(list(row) for row in sheet.iter_rows(values_only=True))] for sheet in book.worksheets]


def test_the_csv_subscription_gets_the_csv_file(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune, fmt="csv")
    _approve(closed.commune, commune_officer, province_officer)
    subscriptions.deliver_approved_reports()
    [(filename, content, content_type)] = mail.outbox[0].attachments
    expected = reports.month_report_file(user=commune_officer, area=closed.commune, month=last_month(), fmt="csv")
    # A text attachment is held as text (Django encodes it as UTF-8 when sending), byte-order mark included.
    assert (filename, content, content_type) == (expected.filename, expected.content.decode("utf-8"), "text/csv")
    assert content.startswith("\ufeff")


def test_a_submitted_or_returned_month_is_not_sent(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    assert subscriptions.deliver_approved_reports().sent == 0
    approvals.return_month(actor=province_officer, area=closed.commune, month=last_month(), comment="Sai thôn 2")
    assert subscriptions.deliver_approved_reports().sent == 0
    assert mail.outbox == []
    assert not ReportDelivery.objects.exists()
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    assert subscriptions.deliver_approved_reports().sent == 1


def test_unlocked_and_approved_again_is_not_sent_twice(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    assert subscriptions.deliver_approved_reports().sent == 1
    approvals.unlock_month(actor=province_officer, area=closed.commune, month=last_month(), reason="Sửa số hộ")
    _approve(closed.commune, commune_officer, province_officer)
    assert subscriptions.deliver_approved_reports().sent == 0
    assert len(mail.outbox) == 1


def test_the_province_report_goes_out_when_the_provinces_own_row_is_approved(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=province_officer, area=closed.province)
    other_officer = AreaRoleFactory(area=closed.other_commune).user
    _approve(closed.commune, commune_officer, province_officer)
    _approve(closed.other_commune, other_officer, province_officer)
    # Every commune approved, but not the province's own row: not yet.
    assert subscriptions.deliver_approved_reports().sent == 0
    _approve(closed.province, commune_officer, province_officer)
    assert subscriptions.deliver_approved_reports().sent == 1
    assert mail.outbox[0].to == [province_officer.email]
    assert closed.province.name in mail.outbox[0].subject


def test_a_failed_send_is_tried_again_and_then_sent_once(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=smtplib.SMTPServerDisconnected("gone")):
        run = subscriptions.deliver_approved_reports()
    assert (run.sent, run.failed) == (0, 1)
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == (DeliveryStatus.FAILED, 1, None)
    assert "SMTPServerDisconnected" in delivery.error
    assert mail.outbox == []

    assert subscriptions.deliver_approved_reports().sent == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.error) == (DeliveryStatus.SENT, 2, "")
    assert subscriptions.deliver_approved_reports().sent == 0
    assert len(mail.outbox) == 1


def test_a_send_failing_every_time_stops_after_the_last_attempt(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=ConnectionRefusedError(111, "refused")) as send:
        for _ in range(subscriptions.MAX_ATTEMPTS + 3):
            subscriptions.deliver_approved_reports()
    assert send.call_count == subscriptions.MAX_ATTEMPTS
    assert ReportDelivery.objects.get().attempts == subscriptions.MAX_ATTEMPTS


def test_a_subscriber_without_email_is_skipped_and_recorded_once(closed, commune_officer, province_officer):
    commune_officer.email = ""
    commune_officer.save(update_fields=["email"])
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    with translation.override("en"):  # the record is written in the site's language whatever the caller's
        run = subscriptions.deliver_approved_reports()
    assert (run.sent, run.skipped) == (0, 1)
    delivery = ReportDelivery.objects.get()
    assert (delivery.status, delivery.recipients) == (DeliveryStatus.SKIPPED, "")
    assert "email" in delivery.error.lower() and "không có" in delivery.error
    assert subscriptions.deliver_approved_reports().skipped == 0
    assert ReportDelivery.objects.get().attempts == 1
    assert mail.outbox == []


def test_a_subscriber_who_lost_the_role_gets_nothing_more(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    AreaRole.objects.filter(user=commune_officer).delete()
    _approve(closed.commune, AreaRoleFactory(area=closed.commune).user, province_officer)
    assert subscriptions.deliver_approved_reports().skipped == 1
    assert mail.outbox == []
    assert ReportDelivery.objects.get().status == DeliveryStatus.SKIPPED


def test_months_approved_before_the_subscription_are_not_sent(closed, commune_officer, province_officer):
    _approve(closed.commune, commune_officer, province_officer)
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    assert subscriptions.deliver_approved_reports().sent == 0
    assert mail.outbox == []


def test_each_subscriber_gets_the_report_as_their_own_scope_builds_it(closed, commune_officer, province_officer):
    """Three subscribers of the province (two officers and a viewer) and one of a commune: one mail each."""
    viewer = AreaRoleFactory(area=closed.province, role=AreaRoleKind.VIEWER).user
    other_officer = AreaRoleFactory(area=closed.other_commune).user
    for user in (province_officer, viewer):
        subscriptions.subscribe(actor=user, area=closed.province)
    subscriptions.subscribe(actor=other_officer, area=closed.other_commune)
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    assert subscriptions.deliver_approved_reports().sent == 1  # the commune's; the other commune is not approved
    _approve(closed.other_commune, other_officer, province_officer)
    _approve(closed.province, commune_officer, province_officer)
    assert subscriptions.deliver_approved_reports().sent == 3
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        u.email for u in (commune_officer, other_officer, province_officer, viewer)
    )


def test_the_approval_sends_the_reports_once_it_commits(
    closed, commune_officer, province_officer, django_capture_on_commit_callbacks
):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    assert len(callbacks) == 1
    assert [m.to for m in mail.outbox] == [[commune_officer.email]]
    assert ReportDelivery.objects.get().status == DeliveryStatus.SENT


def test_a_refused_approval_queues_nothing(
    closed, commune_officer, province_officer, django_capture_on_commit_callbacks
):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(ValidationError):
        approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())  # not submitted
    assert callbacks == []
    assert mail.outbox == []


def test_the_sent_at_is_the_runs_time(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    now = timezone.now() + dt.timedelta(minutes=5)
    subscriptions.deliver_approved_reports(now=now)
    delivery = ReportDelivery.objects.get()
    assert delivery.sent_at == delivery.attempted_at == now


def test_an_inactive_subscriber_is_skipped(closed, commune_officer, province_officer):
    subscriptions.subscribe(actor=commune_officer, area=closed.commune)
    _approve(closed.commune, commune_officer, province_officer)
    commune_officer.is_active = False
    commune_officer.save()
    assert subscriptions.deliver_approved_reports().skipped == 1
    assert mail.outbox == []
    assert ReportDelivery.objects.get().error == "Tài khoản của người đăng ký đã bị khóa."


def test_finding_what_is_due_takes_three_queries_whatever_the_subscriptions(
    closed, commune_officer, province_officer, django_assert_num_queries
):
    _approve(closed.commune, commune_officer, province_officer)
    early = timezone.now() - dt.timedelta(days=1)
    for _ in range(20):
        user = AreaRoleFactory(area=closed.commune).user
        ReportSubscriptionFactory(user=user, area=closed.commune, created_at=early)
    ReportSubscriptionFactory(user=UserFactory(staff=True), area=closed.other_commune, created_at=early)
    with django_assert_num_queries(3):
        due = subscriptions.pending_deliveries()
    assert len(due) == 20
    assert {month for _pk, month in due} == {last_month()}
