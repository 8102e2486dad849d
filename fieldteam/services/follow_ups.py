"""Follow-up rules: a province's own delay per not-done reason (issue 17).

The follow-ups themselves are derived from the logs (``fieldteam.selectors.follow_ups``); only the
rules are written, here.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from fieldteam.choices import PROVINCE_KINDS, NotDoneReason
from fieldteam.errors import field_error
from fieldteam.models import Area, FollowUpRule, User
from fieldteam.permissions import ensure_officer, ensure_superuser

RULES_REFUSED = _("Only the province's officers change its follow-up rules.")
NATIONAL_REFUSED = _("Only an administrator changes the national follow-up rules.")


def _checked_delay(delay_days: int | None) -> int | None:
    if delay_days is None:
        return None
    if isinstance(delay_days, bool) or not isinstance(delay_days, int):
        raise field_error("delay_days", _("Enter a whole number of days."), code="invalid")
    if delay_days < 0:
        raise field_error(
            "delay_days",
            _("The follow-up delay cannot be negative: enter 0 or more days, or leave it empty for no follow-up."),
            code="negative",
        )
    if delay_days > 3650:
        raise field_error("delay_days", _("A follow-up delay is at most 3650 days."), code="too_long")
    return delay_days


@transaction.atomic
def set_follow_up_rule(
    *, actor: User | None, province: Area | None, reason: str, delay_days: int | None
) -> FollowUpRule:
    """Set how many days after a "not done" for ``reason`` its follow-up is due in ``province``
    (``None``: the national default); ``delay_days`` empty: no follow-up for that reason.

    A province's officers (or a superuser) set its rules; only a superuser (``actor=None``: the
    system) the national ones. Refused with a ``ValidationError`` naming the field (a negative
    delay, an unknown reason, an area that is not a province), nothing saved.
    """
    if province is None:
        ensure_superuser(actor, field="province", message=NATIONAL_REFUSED)
    else:
        ensure_officer(actor, province, field="province", message=RULES_REFUSED)
        if province.kind not in PROVINCE_KINDS:
            raise field_error(
                "province", _("%(area)s is not a province."), code="not_a_province", params={"area": province.name}
            )
    if reason not in NotDoneReason.values:
        raise field_error("reason", _("Choose a reason from the list."), code="invalid_choice")
    delay = _checked_delay(delay_days)
    row = FollowUpRule.objects.select_for_update().filter(province=province, reason=reason).first() or FollowUpRule(
        province=province, reason=reason
    )
    row.delay_days = delay
    row.full_clean(validate_unique=False, validate_constraints=False)
    row.save()
    return row


@transaction.atomic
def delete_follow_up_rule(*, actor: User | None, rule: FollowUpRule) -> None:
    """Remove a province's own rule: the national default applies there again. The national rules stay."""
    row = FollowUpRule.objects.select_for_update(of=("self",)).select_related("province").get(pk=rule.pk)
    if row.province is None:
        raise field_error(
            "province", _("A national rule cannot be removed: set its delay instead."), code="national_rule"
        )
    ensure_officer(actor, row.province, field="province", message=RULES_REFUSED)
    row.delete()
