"""Dashboard pages, report downloads and report jobs (server-rendered, Vietnamese first).

Every view reads through the selectors as the signed-in user: an area, report or job outside
the user's scope answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from uuid import UUID

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from fieldteam.choices import PROVINCE_KINDS, PeriodKind
from fieldteam.dashboards.data import (
    build_dashboard,
    build_national_dashboard,
    coverage_rows,
    parse_national_period,
    parse_period,
    reason_rows,
)
from fieldteam.errors import field_error
from fieldteam.formatting import period_choices, period_label
from fieldteam.http import SignedInRequest
from fieldteam.models import Area, Capability, JobStatus
from fieldteam.periods import Period
from fieldteam.permissions import scope_for, sees_nation
from fieldteam.selectors.approvals import month_sign_off
from fieldteam.selectors.breakdowns import area_breakdowns
from fieldteam.selectors.coverage import team_coverage
from fieldteam.selectors.follow_ups import commune_follow_ups
from fieldteam.selectors.homes import homes_for
from fieldteam.selectors.indicators import visible_area
from fieldteam.selectors.jobs import report_jobs, visible_job
from fieldteam.selectors.national import ensure_sees_nation
from fieldteam.selectors.notices import notices_for
from fieldteam.selectors.reasons import LIST_TITLES, may_see_reasons, reason_counts
from fieldteam.selectors.subscriptions import subscription_panel, subscriptions_of
from fieldteam.services import reports, subscriptions

LOGIN_URL = reverse_lazy("dashboards:login")
# The job page reloads itself this often (seconds) until the file is ready.
JOB_REFRESH_SECONDS = 3
RECENT_JOBS = 10

signed_in = login_required(login_url=LOGIN_URL)
# The reason lists a dashboard links to: (key, title).
REASON_LISTS = list(LIST_TITLES.items())


class LoginView(auth_views.LoginView):
    template_name = "dashboards/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return reverse("dashboards:home")


class LogoutView(auth_views.LogoutView):
    next_page = reverse_lazy("dashboards:login")  # type: ignore[assignment]  # Django resolves lazy URLs; the stubs want str


def _attachment(report: reports.ReportFile) -> HttpResponse:
    response = HttpResponse(report.content, content_type=report.content_type)
    response["Content-Disposition"] = f'attachment; filename="{report.filename}"'
    return response


@require_safe
@signed_in
def home(request: SignedInRequest) -> HttpResponse:
    """The areas the user may see; straight to the dashboard when there is only one."""
    scope = scope_for(request.user)
    if scope.everything:
        areas = list(Area.objects.filter(depth=1, kind__in=PROVINCE_KINDS).order_by("name"))
    else:
        areas = list(Area.objects.filter(path__in=scope.paths).order_by("path"))
    nation = sees_nation(request.user)  # issue 18: the national page is linked from here
    if len(areas) == 1 and not nation and "all" not in request.GET:
        return redirect("dashboards:area", area_id=areas[0].pk)
    jobs = list(report_jobs(user=request.user)[:RECENT_JOBS])
    context = {
        "areas": areas,
        "jobs": jobs,
        "homes": homes_for(user=request.user),
        "sees_nation": nation,
        # Issue 17: a returned month, communes waiting for approval or late.
        "notices": notices_for(user=request.user),
    }
    return render(request, "dashboards/home.html", context)


@require_safe
@signed_in
def area_dashboard(request: SignedInRequest, area_id: int) -> HttpResponse:
    area = visible_area(user=request.user, area_id=area_id)
    period, problem = parse_period(request.GET.get("period", ""))
    if problem:
        messages.warning(request, problem)
    dashboard = build_dashboard(user=request.user, area=area, period=period, rank_code=request.GET.get("rank", ""))
    coverage = team_coverage(user=request.user, area=area)
    reasons = (
        reason_counts(user=request.user, area=area, period=period)
        if area.numchild and may_see_reasons(user=request.user, area=area)
        else None
    )
    context = {
        "dashboard": dashboard,
        "area": area,
        "period_choices": period_choices(period),
        "selected_period": str(period),
        "homes": homes_for(user=request.user),
        # Issue 15: the gap for women and ethnic minorities (small cells hidden), and team coverage.
        "breakdowns": area_breakdowns(user=request.user, area=area, period=period),
        "coverage": coverage,
        # The rows of the two long tables written once in Python (a province has 135 communes).
        "coverage_rows": coverage_rows(coverage) if coverage else "",
        # Issue 17: not-done reasons per child area, for an office (a commune's or province's dashboard).
        "reasons": reasons,
        "reason_rows": reason_rows(reasons) if reasons else "",
        "reason_lists": REASON_LISTS,
        # Issue 17: follow-up visits per village, on a commune's dashboard.
        "follow_ups": commune_follow_ups(user=request.user, area=area),
        # Issue 17: the month signed off, each commune's status and the late ones.
        "sign_off": month_sign_off(user=request.user, area=area, period=period),
        # Issue 17: the notices of the user's own areas (a returned month, communes waiting or late).
        "notices": notices_for(user=request.user),
        # Issue 17: the approved months' reports by email, for an officer or viewer of a commune or province.
        "subscriptions": subscription_panel(user=request.user, area=area),
    }
    # Issue 17: the month report from approved values is an office's (officers and viewers).
    context["month_report"] = context["sign_off"] is not None and scope_for(request.user).is_staff_of(area)
    return render(request, "dashboards/area.html", context)


@require_safe
@signed_in
def nation_dashboard(request: SignedInRequest) -> HttpResponse:
    """The national level (issue 18): 404 unless the user sees the nation (``permissions.sees_nation``)."""
    period, problem = parse_national_period(request.GET.get("period", ""))
    if problem:
        messages.warning(request, problem)
    dashboard = build_national_dashboard(user=request.user, period=period, rank_code=request.GET.get("rank", ""))
    context = {
        "dashboard": dashboard,
        "period_choices": period_choices(dashboard.period),
        "selected_period": str(dashboard.period),
        "homes": homes_for(user=request.user),
    }
    return render(request, "dashboards/nation.html", context)


@require_POST
@signed_in
def nation_report(request: SignedInRequest) -> HttpResponse:
    """The national report, made in the request (the provinces' rows only)."""
    ensure_sees_nation(request.user)  # a stranger gets 404 before any message
    period, problem = parse_national_period(request.POST.get("period", ""))
    fmt = request.POST.get("format", "xlsx")
    if problem or fmt not in reports.FORMATS:
        messages.error(request, problem or _("Choose XLSX or CSV."))
        return redirect("dashboards:nation")
    return _attachment(reports.national_report_file(user=request.user, period=period, fmt=fmt))


@require_POST
@signed_in
def report_create(request: SignedInRequest, area_id: int) -> HttpResponse:
    """The periodic report: made at once for a small area, else queued as a job (then its page)."""
    area = visible_area(user=request.user, area_id=area_id)
    period, problem = parse_period(request.POST.get("period", ""))
    fmt = request.POST.get("format", "xlsx")
    back = f"{reverse('dashboards:area', kwargs={'area_id': area.pk})}?period={period}"
    if problem or fmt not in reports.FORMATS:
        messages.error(request, problem or _("Choose XLSX or CSV."))
        return redirect(back)
    if reports.runs_in_request(area):
        return _attachment(reports.report_file(user=request.user, area=area, period=period, fmt=fmt))
    job = reports.report_job_create(user=request.user, area=area, period=period, fmt=fmt, locale=get_language())
    return redirect("dashboards:job", job_id=job.pk)


def _report_mail_section(area: Area) -> str:
    return f"{reverse('dashboards:area', kwargs={'area_id': area.pk})}#report-mail"


@require_POST
@signed_in
def report_mail_subscribe(request: SignedInRequest, area_id: int) -> HttpResponse:
    """Receive the area's report of each approved month by email, in the format posted."""
    area = visible_area(user=request.user, area_id=area_id)
    try:
        subscriptions.subscribe(actor=request.user, area=area, fmt=request.POST.get("format", ""))
    except ValidationError as refused:
        messages.error(request, " ".join(refused.messages))
    else:
        messages.success(
            request, _("Each approved month of %(area)s, its report will be emailed to you.") % {"area": area.name}
        )
    return redirect(_report_mail_section(area))


@require_POST
@signed_in
def report_mail_unsubscribe(request: SignedInRequest, area_id: int, subscription_id: int) -> HttpResponse:
    """Stop one of the user's own reports by email (another's, or none: 404)."""
    area = visible_area(user=request.user, area_id=area_id)
    subscription = subscriptions_of(user=request.user).filter(pk=subscription_id, area=area).first()
    if subscription is None:
        raise Http404(_("No such subscription."))
    subscriptions.unsubscribe(actor=request.user, subscription=subscription)
    messages.success(request, _("The report will no longer be emailed to you."))
    return redirect(_report_mail_section(area))


@require_safe
@signed_in
def work_list_export(request: SignedInRequest, area_id: int, fmt: str) -> HttpResponse:
    """A village's work list (optionally one capability, ``?capability=<code>``) as XLSX or CSV."""
    area = visible_area(user=request.user, area_id=area_id)
    capability = None
    if code := request.GET.get("capability"):
        capability = Capability.objects.filter(code=code, is_active=True).first()
        if capability is None:
            raise Http404(_("No such capability."))
    try:
        report = reports.work_list_file(user=request.user, village=area, fmt=fmt, capability=capability)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from exc
    return _attachment(report)


@require_safe
@signed_in
def reason_list_export(request: SignedInRequest, area_id: int, kind: str, fmt: str) -> HttpResponse:
    """One list an office acts on (villages and counts, ``selectors.reasons.LISTS``) as XLSX or CSV."""
    area = visible_area(user=request.user, area_id=area_id)
    if not may_see_reasons(user=request.user, area=area):
        raise Http404(_("No such area."))
    period, problem = parse_period(request.GET.get("period", ""))
    if problem:
        messages.error(request, problem)
        return redirect("dashboards:area", area_id=area.pk)
    try:
        report = reports.reason_list_file(user=request.user, area=area, period=period, kind=kind, fmt=fmt)
    except ValidationError as exc:
        raise Http404(" ".join(exc.messages)) from exc
    return _attachment(report)


def _codes(error: ValidationError) -> set[str]:
    errors = [e for found in error.error_dict.values() for e in found] if hasattr(error, "error_dict") else error.error_list
    return {e.code for e in errors if e.code}


@require_safe
@signed_in
def month_report_export(request: SignedInRequest, area_id: int, month: str, fmt: str) -> HttpResponse:
    """A commune's or province's report of a closed month from its approved values, as XLSX or CSV.

    An area out of scope answers 404 like a missing one; a user who sees it only through a team
    403 (an office's report); a bad month, format or area kind 400 with the reason.
    """
    area = visible_area(user=request.user, area_id=area_id)
    try:
        period = Period.parse(month)
        if period.kind != PeriodKind.MONTH:
            raise field_error("month", _("A month is written 2026-03."), code="period_format")
        report = reports.month_report_file(user=request.user, area=area, month=period.start, fmt=fmt)
    except ValidationError as refused:
        codes = _codes(refused)
        if "read_only" in codes:
            raise PermissionDenied(" ".join(refused.messages)) from refused
        if "out_of_scope" in codes:
            raise Http404(" ".join(refused.messages)) from refused
        return HttpResponseBadRequest(" ".join(refused.messages), content_type="text/plain; charset=utf-8")
    return _attachment(report)


@require_safe
@signed_in
def job_detail(request: SignedInRequest, job_id: UUID) -> HttpResponse:
    job = visible_job(user=request.user, job_id=job_id)
    finished = job.status in (JobStatus.DONE, JobStatus.FAILED)
    period = job.params.get("period")
    context = {
        "job": job,
        "finished": finished,
        "refresh": None if finished else JOB_REFRESH_SECONDS,
        "period_label": period_label(Period.parse(period)) if period else "",
    }
    return render(request, "dashboards/job.html", context)


@require_safe
@signed_in
def job_download(request: SignedInRequest, job_id: UUID) -> FileResponse:
    job = visible_job(user=request.user, job_id=job_id)
    if job.status != JobStatus.DONE or not job.result_file:
        raise Http404(_("The file is not ready."))
    return FileResponse(
        job.result_file.open("rb"),
        as_attachment=True,
        filename=job.summary.get("filename") or (job.result_file.name or "").rsplit("/", 1)[-1],
        content_type=job.summary.get("content_type"),
    )
