"""Reports delivered without asking (issue 17): subscribe, unsubscribe, and send the approved months.

An officer or viewer of a commune or province subscribes to its monthly report in XLSX or CSV
(``subscribe``); when a month of that area is approved (a commune's own sign-off row, or the
province's own row, which is approved last), ``deliver_approved_reports`` (beat, every 15 minutes,
and right after each approval commits) builds the report as the subscriber
(``reports.month_report_file``: their scope, not the system's) and emails it with the file attached.

Once per subscription and month, never twice: each is recorded as a ``ReportDelivery``, written in
the same transaction that sends, under a lock on the subscription, so two runs at once send it
once. ``sent`` and ``skipped`` (no email address, no longer an officer or viewer of the area) are
final; ``failed`` (the mail server refused or could not be reached) is tried again by the next runs,
up to ``MAX_ATTEMPTS``. A crash between the send and the commit sends it again: at least once.
Only months approved after the subscription was made are sent.
"""

from __future__ import annotations

import logging
import smtplib
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldteam.choices import ApprovalStatus, DeliveryStatus, PeriodKind, ReportFormat
from fieldteam.errors import field_error
from fieldteam.models import Area, MonthApproval, ReportDelivery, ReportSubscription, User
from fieldteam.permissions import ensure_area_staff, ensure_own
from fieldteam.selectors.subscriptions import PERIOD_KINDS
from fieldteam.services import jobs, reports

logger = logging.getLogger(__name__)

#: A failed send is tried again by this many runs in all (beat runs every 15 minutes: about two hours).
MAX_ATTEMPTS = 8
SUBSCRIBE_REFUSED = gettext_lazy("Only an officer or a viewer of this area receives its reports by email.")
#: What the mail backends raise when a message cannot be handed over (refused, unreachable, timed out).
SEND_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)


@transaction.atomic
def subscribe(
    *, actor: User, area: Area | None, period_kind: str = PeriodKind.MONTH, fmt: str = ReportFormat.XLSX
) -> ReportSubscription:
    """Subscribe ``actor`` to ``area``'s report of every approved period of ``period_kind``, as ``fmt``.

    An officer or viewer of the area (a commune or a province), or a superuser; a team member is
    refused (``read_only``), an area out of scope too (``out_of_scope``). Subscribing again to the
    same report returns the subscription already there. Bad input is refused naming ``area``,
    ``period_kind`` or ``format``; nothing is saved then.
    """
    if area is None:
        raise field_error("area", _("Choose a commune or a province."), code="required")
    ensure_area_staff(actor, area, field="area", message=SUBSCRIBE_REFUSED)
    if not (area.is_commune or area.is_province):
        raise field_error(
            "area",
            _("Reports are sent for a commune or a province, once its month is approved."),
            code="not_signing_area",
        )
    if period_kind not in PERIOD_KINDS:
        raise field_error("period_kind", _("Only monthly reports are sent by email for now."), code="invalid_choice")
    if fmt not in ReportFormat.values:
        raise field_error("format", _("Choose XLSX or CSV."), code="invalid_choice")
    subscription, _created = ReportSubscription.objects.get_or_create(
        user=actor, area=area, period_kind=period_kind, format=fmt
    )
    return subscription


@transaction.atomic
def unsubscribe(*, actor: User, subscription: ReportSubscription) -> None:
    """End ``subscription`` (the subscriber's own; a superuser may end anyone's). Its delivery records go with it.

    Another user's subscription is refused as not found (``out_of_scope``, naming ``subscription``).
    """
    ensure_own(actor, subscription.user_id, field="subscription", message=_("No such subscription."))
    ReportSubscription.objects.filter(pk=subscription.pk).delete()


# --- delivery ------------------------------------------------------------------------------------


@dataclass
class DeliveryRun:
    """What one run of ``deliver_approved_reports`` did: how many reports it sent, failed to send, skipped."""

    sent: int = 0
    failed: int = 0
    skipped: int = 0


#: The final statuses: never tried again.
SETTLED = (DeliveryStatus.SENT, DeliveryStatus.SKIPPED)


def _settled_q() -> Q:
    return Q(status__in=SETTLED) | Q(attempts__gte=MAX_ATTEMPTS)


def pending_deliveries() -> list[tuple[int, date]]:
    """(subscription id, month) of every approved month not yet settled for a subscription, oldest month first.

    Three queries whatever the number of subscriptions: the subscriptions, the approved months of
    their areas since the oldest of them, and the deliveries already settled.
    """
    subscriptions = list(
        ReportSubscription.objects.filter(period_kind=PeriodKind.MONTH).values_list("pk", "area_id", "created_at")
    )
    if not subscriptions:
        return []
    since = min(created for _pk, _area, created in subscriptions)
    approved: dict[int, list[tuple[date, datetime]]] = defaultdict(list)
    for area_id, month, decided_at in MonthApproval.objects.filter(
        status=ApprovalStatus.APPROVED, area_id__in={area for _pk, area, _c in subscriptions}, decided_at__gte=since
    ).values_list("area_id", "month", "decided_at"):
        if decided_at is not None:  # an approved row always has it (the filter above): for the type checker
            approved[area_id].append((month, decided_at))
    if not approved:
        return []
    settled = set(
        ReportDelivery.objects.filter(
            _settled_q(), subscription_id__in=[pk for pk, area, _c in subscriptions if area in approved]
        ).values_list("subscription_id", "period_start")
    )
    pending = [
        (pk, month)
        for pk, area_id, created in subscriptions
        for month, decided_at in approved.get(area_id, ())
        if decided_at >= created and (pk, month) not in settled
    ]
    return sorted(pending, key=lambda pair: (pair[1], pair[0]))


def _message(subscription: ReportSubscription, month: date, report: reports.ReportFile) -> EmailMessage:
    area, user = subscription.area, subscription.user
    names = {"month": f"{month:%m/%Y}", "area": area.name, "name": user.display_name, "filename": report.filename}
    subject = _("Month %(month)s report: %(area)s") % names
    body = (
        _(
            "Hello %(name)s,\n\n"
            "Month %(month)s of %(area)s has been approved. Its report, made from the approved values, "
            "is attached: %(filename)s.\n\n"
            "You receive this email because you subscribed to the monthly reports of %(area)s. "
            "To stop them, use the area's dashboard (Monthly reports by email) or the administration."
        )
        % names
    )
    message = EmailMessage(subject=subject, body=body, to=[user.email])
    # The type without its parameters: Django adds the charset of a text attachment (CSV) itself.
    message.attach(report.filename, report.content, report.content_type.split(";")[0])
    return message


@transaction.atomic
def _deliver_one(*, subscription_id: int, month: date, now: datetime) -> str | None:
    """Send one subscription's report of ``month`` unless settled meanwhile; the delivery's status, or ``None``."""
    subscription = (
        ReportSubscription.objects.select_for_update().select_related("user", "area").filter(pk=subscription_id).first()
    )
    if subscription is None:  # unsubscribed since the pending list was read
        return None
    delivery = ReportDelivery.objects.filter(subscription=subscription, period_start=month).first()
    if delivery is not None and (delivery.status in SETTLED or delivery.attempts >= MAX_ATTEMPTS):
        return None  # another run got there first (it held the lock)
    if not MonthApproval.objects.filter(area=subscription.area, month=month, status=ApprovalStatus.APPROVED).exists():
        return None  # unlocked since: sent once it is approved again
    delivery = delivery or ReportDelivery(subscription=subscription, period_start=month)
    delivery.attempts += 1
    delivery.attempted_at = now
    user = subscription.user
    delivery.recipients = user.email
    try:
        if not user.is_active:
            raise field_error("user", _("The subscriber's account is disabled."), code="inactive")
        # Checked again at each send: a subscriber who lost the area's role gets nothing more.
        ensure_area_staff(user, subscription.area, field="area", message=SUBSCRIBE_REFUSED)
        if not user.email:
            raise field_error("user", _("The subscriber has no email address."), code="no_email")
        report = reports.month_report_file(user=user, area=subscription.area, month=month, fmt=subscription.format)
        message = _message(subscription, month, report)
    except ValidationError as refused:
        delivery.status, delivery.error = DeliveryStatus.SKIPPED, " ".join(refused.messages)[:1000]
        delivery.save()
        return delivery.status
    try:
        message.send()
    except SEND_ERRORS as error:
        logger.warning(
            "report of %s for %s to subscription %s not sent: %s", subscription.area_id, month, subscription.pk, error
        )
        delivery.status, delivery.error = DeliveryStatus.FAILED, f"{type(error).__name__}: {error}"[:1000]
    else:
        delivery.status, delivery.error, delivery.sent_at = DeliveryStatus.SENT, "", now
    delivery.save()
    return delivery.status


def deliver_on_commit() -> None:
    """Queue a delivery run for when the current transaction commits (after an approval: no wait for beat)."""
    jobs.enqueue_on_commit("fieldteam.tasks.deliver_reports")


def deliver_approved_reports(*, now: datetime | None = None) -> DeliveryRun:
    """Email every subscriber the report of each month of their area approved since they subscribed, once.

    Idempotent: what is sent (or skipped) is recorded and never sent again; a failed send is tried
    again by the next run. Each report is its own transaction (see the module docstring). Mail is
    written in the site's language (Vietnamese; users have no language of their own), whatever the
    language of the request or task that runs this.
    """
    now = now or timezone.now()
    run = DeliveryRun()
    with translation.override(settings.LANGUAGE_CODE):
        for subscription_id, month in pending_deliveries():
            status = _deliver_one(subscription_id=subscription_id, month=month, now=now)
            if status == DeliveryStatus.SENT:
                run.sent += 1
            elif status == DeliveryStatus.FAILED:
                run.failed += 1
            elif status == DeliveryStatus.SKIPPED:
                run.skipped += 1
    return run
