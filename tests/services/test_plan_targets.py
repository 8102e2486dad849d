"""A plan's targets on any set of areas (``apply_plan_targets``) and which target is in force.

The rule (``Target``): per area, indicator and year, the target with the latest date in force
among the area's own and its ancestors'; at the same date the nearer one.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from fieldteam.choices import AreaRoleKind, PeriodKind, TargetComparison
from fieldteam.models import AuditEntry, Plan, PlanTarget, Target
from fieldteam.periods import Period, today
from fieldteam.selectors.indicators import area_indicator_values
from fieldteam.services.indicators import apply_plan_targets, refresh_plan_targets, set_target
from tests.factories import AreaRoleFactory, IndicatorFactory, TargetFactory

OLD_DATE, MERGER, NEW_DATE = date(2022, 6, 22), date(2025, 7, 1), date(2026, 1, 19)


def _plan(province, document: str, adopted_on: date, targets: list[tuple]) -> Plan:
    plan = Plan.objects.create(province=province, document=document, name=f"Kế hoạch {document}", adopted_on=adopted_on)
    for indicator, year, value, comparison in targets:
        PlanTarget.objects.create(
            plan=plan, indicator=indicator, year=year, value=Decimal(value), comparison=comparison
        )
    return plan


def _in_force(user, area, indicator, year: int = 2030):
    reading = next(
        r
        for r in area_indicator_values(user=user, area=area, period=Period.containing(PeriodKind.MONTH, today()))
        if r.indicator == indicator
    )
    info = reading.targets.get(year)
    return None if info is None else (info.value, info.comparison, info.area_id)


@pytest.fixture
def indicator(db):
    return IndicatorFactory()


@pytest.fixture
def old_plan(area_tree, indicator) -> Plan:
    return _plan(area_tree.province, "1331/KH-UBND", OLD_DATE, [(indicator, 2030, "95", TargetComparison.MORE_THAN)])


@pytest.fixture
def new_plan(area_tree, indicator) -> Plan:
    return _plan(area_tree.province, "18/KH-UBND", NEW_DATE, [(indicator, 2030, "90", TargetComparison.AT_LEAST)])


def _error_code(caught: pytest.ExceptionInfo, field: str) -> str:
    return caught.value.error_dict[field][0].code


@pytest.mark.django_db(transaction=True)
def test_a_plan_moves_from_the_merged_province_to_the_communes_of_the_former_one(
    area_tree, indicator, old_plan, province_officer, superuser
):
    # Loaded on the whole merged province first, as load_reference does.
    apply_plan_targets(actor=None, plan=old_plan, areas=[area_tree.province], effective_from=OLD_DATE)
    assert _in_force(superuser, area_tree.other_commune, indicator) is not None

    written = apply_plan_targets(
        actor=province_officer, plan=old_plan, areas=[area_tree.commune], effective_from=OLD_DATE
    )

    assert (written.created, written.removed) == (1, 1)
    assert _in_force(superuser, area_tree.commune, indicator) == (Decimal("95"), "more_than", area_tree.commune.pk)
    assert _in_force(superuser, area_tree.village, indicator)[2] == area_tree.commune.pk  # inherited below
    assert _in_force(superuser, area_tree.other_commune, indicator) is None  # former Bình Định: not this plan
    assert not Target.objects.filter(area=area_tree.province).exists()
    # Every row written or removed is in the trail.
    actions = set(AuditEntry.objects.filter(object_repr__contains=indicator.code).values_list("action", flat=True))
    assert {AuditEntry.Action.CREATE, AuditEntry.Action.DELETE} <= actions


@pytest.mark.django_db(transaction=True)
def test_a_newer_plan_on_the_province_replaces_an_older_plan_on_a_commune(
    area_tree, indicator, old_plan, new_plan, province_officer, superuser
):
    apply_plan_targets(actor=province_officer, plan=old_plan, areas=[area_tree.commune], effective_from=OLD_DATE)
    apply_plan_targets(actor=province_officer, plan=new_plan, areas=[area_tree.province], effective_from=NEW_DATE)

    assert _in_force(superuser, area_tree.commune, indicator) == (Decimal("90"), "at_least", area_tree.province.pk)
    assert _in_force(superuser, area_tree.other_commune, indicator)[0] == Decimal("90")


@pytest.mark.django_db(transaction=True)
def test_a_newer_plan_on_a_commune_replaces_an_older_plan_on_the_province(
    area_tree, indicator, old_plan, new_plan, province_officer, superuser
):
    apply_plan_targets(actor=province_officer, plan=old_plan, areas=[area_tree.province], effective_from=OLD_DATE)
    apply_plan_targets(actor=province_officer, plan=new_plan, areas=[area_tree.commune], effective_from=NEW_DATE)

    assert _in_force(superuser, area_tree.commune, indicator)[0] == Decimal("90")
    assert _in_force(superuser, area_tree.other_commune, indicator)[0] == Decimal("95")


@pytest.mark.django_db
def test_at_the_same_date_the_nearer_target_wins_and_a_plan_is_not_in_force_before_its_date(
    area_tree, indicator, superuser
):
    TargetFactory(indicator=indicator, area=area_tree.province, year=2030, value=Decimal("80"))
    TargetFactory(indicator=indicator, area=area_tree.commune, year=2030, value=Decimal("70"))
    assert _in_force(superuser, area_tree.village, indicator)[0] == Decimal("70")

    plan = _plan(area_tree.province, "2/KH-UBND", OLD_DATE, [(indicator, 2025, "60", TargetComparison.AT_LEAST)])
    apply_plan_targets(actor=None, plan=plan, areas=[area_tree.province], effective_from=today() + timedelta(days=1))
    assert _in_force(superuser, area_tree.village, indicator, 2025) is None


@pytest.mark.django_db
def test_a_correction_by_hand_keeps_the_targets_date(area_tree, indicator, old_plan, province_officer, superuser):
    """Correcting a province's target does not make it newer than a commune's own."""
    province_target = TargetFactory(indicator=indicator, area=area_tree.province, year=2030, effective_from=OLD_DATE)
    TargetFactory(indicator=indicator, area=area_tree.commune, year=2030, value=Decimal("70"), effective_from=MERGER)

    set_target(
        actor=province_officer,
        indicator=indicator,
        area=area_tree.province,
        year=2030,
        value=Decimal("85"),
        target=province_target,
    )

    province_target.refresh_from_db()
    assert province_target.effective_from == OLD_DATE
    assert _in_force(superuser, area_tree.commune, indicator)[0] == Decimal("70")


@pytest.mark.django_db(transaction=True)
def test_refresh_brings_every_area_of_the_plan_up_to_date(area_tree, indicator, old_plan, province_officer):
    apply_plan_targets(actor=province_officer, plan=old_plan, areas=[area_tree.commune], effective_from=MERGER)
    other = IndicatorFactory()
    PlanTarget.objects.filter(plan=old_plan).update(value=Decimal("96"))
    PlanTarget.objects.create(plan=old_plan, indicator=other, year=2025, value=Decimal("10"))

    written = refresh_plan_targets(actor=province_officer, plan=old_plan)

    assert (written.created, written.updated) == (1, 1)
    rows = set(Target.objects.values_list("indicator_id", "area_id", "value", "effective_from"))
    assert rows == {
        (indicator.pk, area_tree.commune.pk, Decimal("96"), MERGER),
        (other.pk, area_tree.commune.pk, Decimal("10"), MERGER),
    }


# --- refused, nothing saved ------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("role", "area_name", "code"),
    [
        (AreaRoleKind.VIEWER, "commune", "read_only"),
        (AreaRoleKind.COMMUNE_OFFICER, "commune", "out_of_scope"),  # the province is above its scope
        (AreaRoleKind.PROVINCE_OFFICER, "far_commune", "out_of_scope"),
    ],
)
def test_only_the_province_officer_of_every_area_applies_a_plan(area_tree, old_plan, role, area_name, code):
    user = AreaRoleFactory(
        area=area_tree.province if role != AreaRoleKind.COMMUNE_OFFICER else area_tree.commune, role=role
    ).user
    areas = [area_tree.commune, getattr(area_tree, area_name)]

    with pytest.raises(ValidationError) as caught:
        apply_plan_targets(actor=user, plan=old_plan, areas=areas, effective_from=OLD_DATE)

    assert _error_code(caught, "areas") == code
    assert not Target.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_bad_input_is_refused_naming_the_field(area_tree, old_plan, new_plan, province_officer, superuser):
    def refused(field: str, **kwargs) -> str:
        arguments = {
            "actor": province_officer,
            "plan": old_plan,
            "areas": [area_tree.commune],
            "effective_from": OLD_DATE,
        }
        with pytest.raises(ValidationError) as caught:
            apply_plan_targets(**{**arguments, **kwargs})
        return _error_code(caught, field)

    assert refused("plan", plan=Plan(pk=10**9)) == "unknown_plan"
    assert refused("areas", areas=[]) == "required"
    assert refused("effective_from", effective_from=None) == "required"
    assert refused("effective_from", effective_from=OLD_DATE - timedelta(days=1)) == "before_plan"
    other_plan = _plan(area_tree.other_province, "811/QĐ-UBND", OLD_DATE, [])
    assert refused("areas", plan=other_plan, actor=superuser) == "other_province"
    empty = _plan(area_tree.province, "1/KH-UBND", OLD_DATE, [])
    assert refused("plan", plan=empty) == "empty_plan"
    assert not Target.objects.exists()

    # An older plan does not replace a newer one on the same area; nothing of the batch is written.
    apply_plan_targets(actor=province_officer, plan=new_plan, areas=[area_tree.commune], effective_from=NEW_DATE)
    before = set(Target.objects.values_list("pk", "area_id", "value", "plan_id", "effective_from"))
    assert refused("effective_from", areas=[area_tree.other_commune, area_tree.commune], effective_from=MERGER) == (
        "older_than_applied_plan"
    )
    assert set(Target.objects.values_list("pk", "area_id", "value", "plan_id", "effective_from")) == before
