"""The admin of the follow-up rules (issue 17): through the service, a province's officers for their province."""

from __future__ import annotations

import pytest
from django.test import Client

from fieldteam.choices import NotDoneReason
from fieldteam.models import FollowUpRule, User
from tests.admin.test_admin import logged_in, url
from tests.conftest import AreaTree

pytestmark = pytest.mark.django_db


def rule_form(province, reason=NotDoneReason.ABSENT, delay="5") -> dict[str, object]:
    return {"province": province.pk if province else "", "reason": reason, "delay_days": delay}


def test_a_province_officer_sets_their_provinces_rule(client: Client, area_tree: AreaTree, province_officer: User):
    logged_in(client, province_officer)
    response = client.post(url(FollowUpRule, "add"), rule_form(area_tree.province))
    assert response.status_code == 302
    rule = FollowUpRule.objects.get(province=area_tree.province)
    assert (rule.reason, rule.delay_days) == (NotDoneReason.ABSENT, 5)
    # The national rules are listed to them too (they apply in the province), not theirs to change.
    national = FollowUpRule.objects.filter(province__isnull=True).first()
    listed = client.get(url(FollowUpRule, "changelist")).context["cl"].result_count
    assert listed == FollowUpRule.objects.count()
    if national is not None:
        client.post(url(FollowUpRule, "change", national.pk), {"delay_days": "1"})
        national.refresh_from_db()
        assert national.delay_days != 1


@pytest.mark.parametrize(("province", "delay"), [("province", "-1"), ("other_province", "5"), (None, "5")])
def test_a_refused_rule_is_shown_on_the_form_and_not_saved(
    client: Client, area_tree: AreaTree, province_officer: User, province, delay
):
    logged_in(client, province_officer)
    before = list(FollowUpRule.objects.values_list("pk", "province_id", "reason", "delay_days").order_by("pk"))
    response = client.post(
        url(FollowUpRule, "add"), rule_form(getattr(area_tree, province) if province else None, delay=delay)
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert list(FollowUpRule.objects.values_list("pk", "province_id", "reason", "delay_days").order_by("pk")) == before
