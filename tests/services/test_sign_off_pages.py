"""The month signed off on the dashboards, in the admin and in the month report (issue 17).

Each area's status (chưa nộp, đã nộp, trả lại, đã duyệt) on the province and commune dashboards with
the late communes named; the admin's submit form and decision actions go through the services;
the month report is built from approved values and names the communes not approved. Every role.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time
from openpyxl import load_workbook

from fieldteam.choices import ApprovalStatus, AreaRoleKind
from fieldteam.models import MonthApproval
from fieldteam.selectors.approvals import due_date, month_sign_off
from fieldteam.services import approvals
from fieldteam.services.reports import month_report_file
from tests.admin.test_admin import logged_in, url
from tests.clock import last_month, this_month
from tests.factories import AreaRoleFactory, CommuneFactory
from tests.services.test_approvals import closed

__all__ = ["closed"]

pytestmark = pytest.mark.django_db


def after_due() -> dt.date:
    """A day after last month's sign-off was due."""
    return due_date(last_month()).replace(day=20)


def before_due() -> dt.date:
    """A day before last month's sign-off is due."""
    return due_date(last_month()).replace(day=2)


def dashboard(area) -> str:
    return reverse("dashboards:area", kwargs={"area_id": area.pk}) + f"?period={last_month():%Y-%m}"


def test_the_province_dashboard_shows_each_communes_status_and_names_the_late_ones(
    client, closed, commune_officer, province_officer
):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    with freeze_time(after_due()):
        html = logged_in(client, province_officer).get(dashboard(closed.province), HTTP_ACCEPT_LANGUAGE="vi")
        html = html.content.decode()
    assert 'id="sign-off"' in html
    assert f'data-area="{closed.commune.pk}" data-status="submitted"' in html
    assert f'data-area="{closed.other_commune.pk}" data-status="draft"' in html
    late = html.split('class="t-far sign-off-late">')[1].split("</p>")[0]
    assert closed.other_commune.name in late and closed.commune.name not in late
    assert "Đã nộp" in html and "Chưa nộp" in html
    # The far province's communes are not listed.
    assert closed.far_commune.name not in html


def test_before_the_due_day_no_commune_is_late(closed, province_officer):
    with freeze_time(before_due()):
        sign_off = month_sign_off(user=province_officer, area=closed.province, month=last_month())
    assert sign_off is not None and sign_off.late == []
    with freeze_time(after_due()):
        sign_off = month_sign_off(user=province_officer, area=closed.province, month=last_month())
    assert [c.area for c in sign_off.late] == [closed.commune, closed.other_commune]


def test_the_commune_dashboard_shows_its_own_status(client, closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.return_month(actor=province_officer, area=closed.commune, month=last_month(), comment="Thiếu thôn 2")
    html = logged_in(client, commune_officer).get(dashboard(closed.commune)).content.decode()
    assert 'class="sign-off-own" data-status="returned"' in html
    assert "Thiếu thôn 2" in html
    assert closed.other_commune.name not in html.split('id="sign-off"')[1]


@pytest.mark.parametrize(("role", "status"), [("far_officer", 404), ("member", 404), ("viewer", 200)])
def test_the_sign_off_is_shown_only_where_the_user_sees(client, closed, role, status, request):
    user = {
        "far_officer": lambda: AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user,
        "member": lambda: request.getfixturevalue("member"),
        "viewer": lambda: AreaRoleFactory(area=closed.province, role=AreaRoleKind.VIEWER).user,
    }[role]()
    response = logged_in(client, user).get(dashboard(closed.province))
    assert response.status_code == status


def test_a_village_dashboard_has_no_sign_off(client, closed, commune_officer):
    assert month_sign_off(user=commune_officer, area=closed.village, month=last_month()) is None
    html = logged_in(client, commune_officer).get(dashboard(closed.village)).content.decode()
    assert 'id="sign-off"' not in html


# --- the admin -----------------------------------------------------------------------------------


def test_the_admin_submits_and_decides_through_the_services(client, closed, commune_officer, province_officer):
    response = logged_in(client, commune_officer).post(
        url(MonthApproval, "add"), {"area": closed.commune.pk, "month": last_month().isoformat(), "note": "Đủ số liệu"}
    )
    assert response.status_code == 302
    row = MonthApproval.objects.get()
    assert (row.status, row.submitted_by) == (ApprovalStatus.SUBMITTED, commune_officer)
    # A commune officer's decision is refused by the service: nothing changes.
    logged_in(client, commune_officer).post(
        url(MonthApproval, "changelist"), {"action": "approve", ACTION_CHECKBOX_NAME: [row.pk], "text": ""}
    )
    assert MonthApproval.objects.get().status == ApprovalStatus.SUBMITTED
    # Returning needs the comment, then approving, then unlocking with a reason.
    client.force_login(province_officer)
    changelist = url(MonthApproval, "changelist")
    client.post(changelist, {"action": "return_to_area", ACTION_CHECKBOX_NAME: [row.pk], "text": ""})
    assert MonthApproval.objects.get().status == ApprovalStatus.SUBMITTED
    client.post(changelist, {"action": "approve", ACTION_CHECKBOX_NAME: [row.pk], "text": "Đạt"})
    assert MonthApproval.objects.get().status == ApprovalStatus.APPROVED
    client.post(changelist, {"action": "unlock", ACTION_CHECKBOX_NAME: [row.pk], "text": "Sửa số hộ"})
    row.refresh_from_db()
    assert (row.status, row.unlock_reason, row.unlocked_by) == (ApprovalStatus.RETURNED, "Sửa số hộ", province_officer)


def test_the_admin_submit_form_shows_the_refusal_on_its_field(client, closed, commune_officer):
    response = logged_in(client, commune_officer).post(
        url(MonthApproval, "add"), {"area": closed.commune.pk, "month": this_month().isoformat(), "note": ""}
    )
    assert response.status_code == 200
    assert "month" in response.context["adminform"].form.errors
    assert not MonthApproval.objects.exists()


def test_the_admin_lists_only_the_rows_in_scope(client, closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    far_officer = AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user
    approvals.submit_month(actor=far_officer, area=closed.far_commune, month=last_month())
    for user, sees in ((province_officer, closed.commune), (far_officer, closed.far_commune)):
        listed = logged_in(client, user).get(url(MonthApproval, "changelist")).context["cl"].result_list
        assert [r.area for r in listed] == [sees]


# --- the month report ------------------------------------------------------------------------------


def test_the_month_report_is_built_from_approved_values_and_names_the_rest(closed, commune_officer, province_officer):
    approvals.submit_month(actor=commune_officer, area=closed.commune, month=last_month())
    approvals.approve_month(actor=province_officer, area=closed.commune, month=last_month())
    report = month_report_file(user=province_officer, area=closed.province, month=last_month(), fmt="xlsx")
    book = load_workbook(io.BytesIO(report.content))
    approved, total, missing = book.worksheets
    approved_areas = {row[1] for row in approved.iter_rows(values_only=True)}
    assert closed.commune.name in approved_areas and closed.other_commune.name not in approved_areas
    missing_areas = {row[1] for row in missing.iter_rows(values_only=True)}
    assert closed.other_commune.name in missing_areas and closed.commune.name not in missing_areas
    assert total.max_row >= 2


def test_the_month_report_of_an_area_out_of_scope_is_refused(closed, commune_officer):
    far_officer = AreaRoleFactory(area=closed.other_province, role=AreaRoleKind.PROVINCE_OFFICER).user
    with pytest.raises(ValidationError):
        month_report_file(user=far_officer, area=closed.province, month=last_month(), fmt="csv")
    with pytest.raises(ValidationError):
        month_report_file(user=commune_officer, area=closed.province, month=last_month(), fmt="csv")




def test_the_sign_off_reads_a_constant_number_of_queries(closed, province_officer):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            month_sign_off(user=province_officer, area=closed.province, month=last_month())
        return len(captured)

    queries()  # the user's scope, read once and kept for the request
    before = queries()
    for n in range(3):
        CommuneFactory(parent=closed.province, name=f"Xã Mới {n}")
    assert queries() == before <= 3
