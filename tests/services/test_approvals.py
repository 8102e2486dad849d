"""The month signed off (issue 17): submit, return, approve, unlock, and a locked month's values never change.

Every write path of a month's values is tried against an approved month (the reported-value service,
the import, the admin edit, the month close, a recompute and a log dated in that month), refused
with a Vietnamese message naming the field and nothing changed; after the province officer unlocks
it with a reason (in the audit trail) the same write goes through. On both databases; the locking
tests as a request runs them (outside the test's own transaction).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation

from fieldteam.choices import ApprovalStatus, AreaRoleKind, AssistanceChannel, AssistanceOutcome, PeriodKind
from fieldteam.imports.engine import import_file
from fieldteam.models import AuditEntry, Indicator, IndicatorValue, MonthApproval, RollupState, VillageCount
from fieldteam.periods import Period, month_index
from fieldteam.rollup import recompute
from fieldteam.rollup.sign_off import ensure_month_open
from fieldteam.services import approvals
from fieldteam.services.assistance import ItemInput, log_assistance
from fieldteam.services.indicators import report_indicator_value
from tests.admin.test_admin import logged_in, url
from tests.clock import last_month, this_month
from tests.factories import AreaRoleFactory, HouseholdFactory, IndicatorFactory, ResidentFactory
from tests.imports.conftest import write_xlsx

pytestmark = pytest.mark.django_db

VALUE_HEADERS = ["Mã chỉ tiêu", "Mã địa bàn", "Kỳ", "Giá trị", "Ghi chú"]


@pytest.fixture
def closed(area_tree):
    """Last month closed in both provinces, with a computed indicator frozen for every area."""
    IndicatorFactory()
    for village in (area_tree.village, area_tree.other_village, area_tree.far_village):
        ResidentFactory(household=HouseholdFactory(village=village))
    for province in (area_tree.province, area_tree.other_province):
        RollupState.objects.update_or_create(province=province, defaults={"month": this_month()})
        recompute.close_month(province_id=province.pk, month=last_month())
    return area_tree


def _signed_off(tree, officer, province_officer, area=None):
    area = area or tree.commune
    approvals.submit_month(actor=officer, area=area, month=last_month(), note="Đã rà soát")
    return approvals.approve_month(actor=province_officer, area=area, month=last_month())


def _codes(error: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in error.error_dict.items()}


# --- the sign-off itself ---------------------------------------------------------------------


def test_submit_then_approve_records_who_and_when_in_the_row_and_the_trail(closed, commune_officer, province_officer):
    row = approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month(), note=" Đã rà soát ")
    assert (row.status, row.note, row.submitted_by) == (ApprovalStatus.SUBMITTED, "Đã rà soát", commune_officer)
    row = approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month().replace(day=15))
    assert (row.status, row.decided_by, row.month) == (ApprovalStatus.APPROVED, province_officer, last_month())
    assert row.submitted_at <= row.decided_at
    entries = AuditEntry.objects.filter(content_type__model="monthapproval", object_pk=str(row.pk))
    assert entries.count() == 2
    assert set(entries.values_list("area_id", flat=True)) == {closed.commune.pk}


def test_return_needs_a_comment_and_the_commune_submits_again(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with pytest.raises(ValidationError) as refused:
        approvals.return_month(actor=province_officer, area=closed.commune, month=last_month(), comment="  ")
    assert _codes(refused.value) == {"comment": ["required"]}
    assert MonthApproval.objects.get().status == ApprovalStatus.SUBMITTED
    row = approvals.return_month(actor=province_officer, area=closed.commune, month=last_month(), comment="Sai thôn 2")
    assert (row.status, row.comment) == (ApprovalStatus.RETURNED, "Sai thôn 2")
    assert approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month()).status == "submitted"


def test_a_second_submission_of_an_approved_month_is_refused_in_vietnamese(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    before = list(MonthApproval.objects.values())
    with translation.override("vi"), pytest.raises(ValidationError) as refused:
        approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month(), note="lần 2")
    assert _codes(refused.value) == {"status": ["already_approved"]}
    assert str(refused.value.error_dict["status"][0].message).startswith(f"Tháng {last_month():%m/%Y} đã được duyệt")
    assert list(MonthApproval.objects.values()) == before


def test_a_month_not_closed_and_a_village_do_not_sign_off(closed, commune_officer):
    with pytest.raises(ValidationError) as refused:
        approvals.submit_month(actor=commune_officer, area=closed.commune, month=this_month())
    assert _codes(refused.value) == {"month": ["not_closed"]}
    with pytest.raises(ValidationError) as refused:
        approvals.submit_month(actor=commune_officer, area=closed.village, month=last_month())
    assert _codes(refused.value) == {"area": ["not_signing_area"]}
    assert not MonthApproval.objects.exists()


@pytest.mark.parametrize(
    ("who", "code"),
    [("commune_officer", "read_only"), ("viewer", "read_only"), ("far_officer", "out_of_scope"), ("member", "out_of_scope")],
)
def test_an_approval_by_someone_outside_the_province_or_below_it_is_refused(closed, commune_officer, who, code, request):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    actor = {
        "commune_officer": commune_officer,
        "viewer": AreaRoleFactory(area=closed.province, role=AreaRoleKind.VIEWER).user,
        "far_officer": AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user,
        "member": request.getfixturevalue("member"),
    }[who]
    for decide in (approvals.approve_month, approvals.return_month):
        with translation.override("vi"), pytest.raises(ValidationError) as refused:
            decide(actor=actor, area=closed.commune, month=last_month(), comment="x")
        assert _codes(refused.value) == {"area": [code]}
    with pytest.raises(ValidationError):
        approvals.unlock_month(actor=actor, area=closed.commune, month=last_month(), reason="x")
    assert MonthApproval.objects.get().status == ApprovalStatus.SUBMITTED


def test_a_commune_officer_submits_only_their_own_commune(closed, commune_officer):
    with pytest.raises(ValidationError) as refused:
        approvals.submit_month(actor=commune_officer, area=closed.other_commune, month=last_month())
    assert _codes(refused.value) == {"area": ["out_of_scope"]}
    with pytest.raises(ValidationError) as refused:
        approvals.submit_month(actor=commune_officer, area=closed.province, month=last_month())
    assert _codes(refused.value) == {"area": ["out_of_scope"]}
    assert not MonthApproval.objects.exists()


def test_the_province_is_approved_last_and_the_refusal_names_the_communes(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    approvals.submit_month(actor=province_officer, area=closed.province, month=last_month())
    with translation.override("vi"), pytest.raises(ValidationError) as refused:
        approvals.approve_month(actor=province_officer, area=closed.province, month=last_month())
    assert _codes(refused.value) == {"area": ["communes_not_approved"]}
    message = str(refused.value.error_dict["area"][0].message)
    assert closed.other_commune.name in message and closed.commune.name not in message.split(":")[-1]
    _signed_off(closed, province_officer, province_officer, area=closed.other_commune)
    row = approvals.approve_month(actor=province_officer, area=closed.province, month=last_month())
    assert row.status == ApprovalStatus.APPROVED


def test_unlock_needs_a_reason_returns_the_month_and_the_province_with_it(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    _signed_off(closed, province_officer, province_officer, area=closed.other_commune)
    _signed_off(closed, province_officer, province_officer, area=closed.province)
    with pytest.raises(ValidationError) as refused:
        approvals.unlock_month(actor=province_officer, area=closed.commune, month=last_month(), reason=" ")
    assert _codes(refused.value) == {"reason": ["required"]}
    with pytest.raises(ValidationError) as refused:
        approvals.unlock_month(actor=commune_officer, area=closed.commune, month=last_month(), reason="sửa")
    assert _codes(refused.value) == {"area": ["read_only"]}
    assert MonthApproval.objects.filter(status=ApprovalStatus.APPROVED).count() == 3

    row = approvals.unlock_month(actor=province_officer, area=closed.commune, month=last_month(), reason="Sót 3 hộ")
    assert (row.status, row.unlocked_by, row.unlock_reason) == (ApprovalStatus.RETURNED, province_officer, "Sót 3 hộ")
    province_row = MonthApproval.objects.get(area=closed.province)
    assert (province_row.status, province_row.unlock_reason) == (ApprovalStatus.RETURNED, "Sót 3 hộ")
    entries = AuditEntry.objects.filter(content_type__model="monthapproval", object_pk=str(row.pk))
    assert entries.count() == 3  # submitted, approved, unlocked


# --- a locked month's values never change -------------------------------------------------------


def test_reported_values_of_a_locked_month_are_refused_then_allowed_after_unlock(
    closed, commune_officer, province_officer
):
    grdp = IndicatorFactory(reported=True)
    period = Period(PeriodKind.MONTH, last_month())
    report_indicator_value(actor=province_officer, indicator=grdp, area=closed.commune, period=period, value=Decimal(3))
    _signed_off(closed, commune_officer, province_officer)
    for area in (closed.commune, closed.village):
        with translation.override("vi"), pytest.raises(ValidationError) as refused:
            report_indicator_value(actor=province_officer, indicator=grdp, area=area, period=period, value=Decimal(9))
        assert _codes(refused.value) == {"period": ["month_locked"]}
        assert "đã được duyệt" in str(refused.value.error_dict["period"][0].message)
    assert list(IndicatorValue.objects.filter(indicator=grdp).values_list("value", flat=True)) == [Decimal(3)]
    # Another commune, the province's own figure, and the open month stay writable.
    report_indicator_value(actor=province_officer, indicator=grdp, area=closed.other_commune, period=period, value=Decimal(1))
    report_indicator_value(actor=province_officer, indicator=grdp, area=closed.province, period=period, value=Decimal(1))

    approvals.unlock_month(actor=province_officer, area=closed.commune, month=last_month(), reason="Số GRDP sai")
    row = report_indicator_value(actor=province_officer, indicator=grdp, area=closed.commune, period=period, value=Decimal(9))
    assert row.value == Decimal(9)


def test_a_quarter_or_year_is_locked_by_its_last_month(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    for kind in (PeriodKind.QUARTER, PeriodKind.YEAR):
        period = Period.containing(kind, last_month())
        if period.last_month_index == month_index(last_month()):
            with pytest.raises(ValidationError):
                ensure_month_open(closed.commune, period)
        else:
            ensure_month_open(closed.commune, period)


def test_the_import_refuses_the_rows_of_a_locked_month(closed, commune_officer, province_officer, tmp_path):
    grdp = IndicatorFactory(reported=True)
    _signed_off(closed, commune_officer, province_officer)
    rows = [
        [grdp.code, closed.commune.code, f"{last_month():%Y-%m}", "5", ""],
        [grdp.code, closed.other_commune.code, f"{last_month():%Y-%m}", "5", ""],
    ]
    path = write_xlsx(tmp_path / "v.xlsx", VALUE_HEADERS, rows)
    report = import_file(kind="indicator_values", path=path, actor=province_officer).report
    assert [(e.row, e.column, e.code) for e in report.errors] == [(2, "Kỳ", "month_locked")]
    assert not IndicatorValue.objects.filter(indicator=grdp).exists()


def test_closing_the_month_again_keeps_the_approved_values(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    locked = IndicatorValue.objects.filter(area__path__startswith=closed.commune.path, period_start=last_month())
    others = IndicatorValue.objects.filter(area=closed.other_commune, period_start=last_month())
    assert locked.exists() and others.exists()
    locked.update(numerator=0, denominator=77)  # what was approved, whatever the register says now
    others.update(numerator=0, denominator=77)
    recompute.close_month(province_id=closed.province.pk, month=last_month())
    assert set(locked.values_list("denominator", flat=True)) == {77}
    assert 77 not in set(others.values_list("denominator", flat=True))

    _signed_off(closed, province_officer, province_officer, area=closed.other_commune)
    _signed_off(closed, province_officer, province_officer, area=closed.province)
    before = list(IndicatorValue.objects.order_by("pk").values())
    with pytest.raises(ValidationError) as refused:
        recompute.close_month(province_id=closed.province.pk, month=last_month())
    assert _codes(refused.value) == {"month": ["month_locked"]}
    # The beat's catch-up skips it rather than failing every night.
    RollupState.objects.filter(pk=closed.province.pk).update(month=last_month())
    assert recompute.roll_month_forward(province_id=closed.province.pk) == []
    assert list(IndicatorValue.objects.order_by("pk").values()) == before

    approvals.unlock_month(actor=province_officer, area=closed.commune, month=last_month(), reason="Đóng lại tháng")
    recompute.close_month(province_id=closed.province.pk, month=last_month())
    assert 77 not in set(locked.values_list("denominator", flat=True))


def test_a_recompute_and_a_new_resident_change_only_the_open_month(closed, commune_officer, province_officer):
    _signed_off(closed, commune_officer, province_officer)
    before = list(IndicatorValue.objects.order_by("pk").values())
    ResidentFactory(household=HouseholdFactory(village=closed.village), birth_year=1970)
    recompute.recompute_province(province_id=closed.province.pk)
    assert list(IndicatorValue.objects.order_by("pk").values()) == before


@pytest.mark.django_db(transaction=True)
def test_the_admin_edit_of_a_locked_value_is_refused_on_its_field(client, closed, commune_officer, province_officer):
    grdp = IndicatorFactory(reported=True)
    period = Period(PeriodKind.MONTH, last_month())
    value = report_indicator_value(
        actor=province_officer, indicator=grdp, area=closed.commune, period=period, value=Decimal(3)
    )
    _signed_off(closed, commune_officer, province_officer)
    logged_in(client, province_officer)
    response = client.post(url(IndicatorValue, "change", value.pk), {"value": "8", "note": "sửa"})
    assert response.status_code == 200
    # The period is read-only on a stored value: the refusal is shown above the form.
    errors = response.context["adminform"].form.errors.as_data()
    assert [e.code for e in errors.get("__all__", [])] == ["month_locked"]
    value.refresh_from_db()
    assert value.value == Decimal(3)


@pytest.mark.django_db(transaction=True)
def test_as_a_request_runs_it_nothing_is_half_done(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    with pytest.raises(ValidationError):
        approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    with pytest.raises(ValidationError):
        approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    assert MonthApproval.objects.get().status == ApprovalStatus.APPROVED
    assert AuditEntry.objects.filter(content_type__model="monthapproval").count() == 2


def test_a_date_of_the_month_is_its_first_day(closed, commune_officer):
    row = approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month() + dt.timedelta(days=3))
    assert row.month == last_month()


def test_a_log_dated_in_a_locked_month_changes_only_the_open_months_counts(
    closed, commune_officer, province_officer, member, team
):
    indicator = Indicator.objects.get(kind="computed")
    resident = ResidentFactory(household=HouseholdFactory(village=closed.village), birth_year=1980)
    _signed_off(closed, commune_officer, province_officer)
    before = list(IndicatorValue.objects.order_by("pk").values())
    counted = VillageCount.objects.get(village=closed.village, indicator=indicator).numerator
    log_assistance(
        actor=member,
        team=team,
        occurred_at=timezone.make_aware(dt.datetime.combine(last_month() + dt.timedelta(days=9), dt.time(9))),
        channel=AssistanceChannel.HOME_VISIT,
        items=[ItemInput(indicator.capability, AssistanceOutcome.DONE)],
        resident=resident,
    )
    assert VillageCount.objects.get(village=closed.village, indicator=indicator).numerator == counted + 1
    assert list(IndicatorValue.objects.order_by("pk").values()) == before
