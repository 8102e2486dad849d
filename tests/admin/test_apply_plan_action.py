"""The area changelist's "Apply a plan's targets to the chosen communes" (thin: calls apply_plan_targets)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from fieldteam.choices import AreaRoleKind
from fieldteam.models import Plan, PlanTarget, Target
from tests.factories import AreaRoleFactory, IndicatorFactory

CHANGELIST = "admin:fieldteam_area_changelist"


@pytest.fixture
def plan(area_tree) -> Plan:
    plan = Plan.objects.create(
        province=area_tree.province, document="1331/KH-UBND", name="Kế hoạch 1331", adopted_on=date(2022, 6, 22)
    )
    PlanTarget.objects.create(plan=plan, indicator=IndicatorFactory(), year=2030, value=Decimal("95"))
    return plan


def _post(client, areas, **data):
    return client.post(
        reverse(CHANGELIST),
        {"action": "apply_plan", helpers.ACTION_CHECKBOX_NAME: [a.pk for a in areas], **data},
        follow=False,
    )


@pytest.mark.django_db(transaction=True)
def test_a_province_officer_applies_a_plan_to_chosen_communes(client, area_tree, plan, province_officer):
    client.force_login(province_officer)
    assert "apply_plan" in client.get(reverse(CHANGELIST)).content.decode()

    page = _post(client, [area_tree.commune])  # the action asks for the plan and its date first
    assert page.status_code == 200 and plan.name in page.content.decode()
    assert not Target.objects.exists()

    done = _post(client, [area_tree.commune], apply="yes", plan=plan.pk, effective_from="01/07/2025")

    assert done.status_code == 302
    assert list(Target.objects.values_list("area_id", "plan_id", "effective_from")) == [
        (area_tree.commune.pk, plan.pk, date(2025, 7, 1))
    ]


@pytest.mark.django_db(transaction=True)
def test_the_service_refuses_what_the_form_lets_through_and_nothing_is_saved(client, area_tree, plan, province_officer):
    client.force_login(province_officer)

    response = _post(client, [area_tree.commune], apply="yes", plan=plan.pk, effective_from="01/01/2020")

    assert response.status_code == 302  # back to the list with the service's error
    assert not Target.objects.exists()
    messages = [str(m) for m in response.wsgi_request._messages]
    assert len(messages) == 1 and "2022" in messages[0]


@pytest.mark.django_db
@pytest.mark.parametrize("role", [AreaRoleKind.VIEWER, AreaRoleKind.COMMUNE_OFFICER])
def test_others_are_not_offered_the_action_and_cannot_run_it(client, area_tree, plan, role):
    user = AreaRoleFactory(area=area_tree.commune, role=role).user
    client.force_login(user)
    assert "apply_plan" not in client.get(reverse(CHANGELIST)).content.decode()

    _post(client, [area_tree.commune], apply="yes", plan=plan.pk, effective_from="01/07/2025")

    assert not Target.objects.exists()
