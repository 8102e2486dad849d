"""Which report jobs a user may see: their own, while the job's area is still in their scope."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from fieldteam.models import BackgroundJob, User
from fieldteam.permissions import scope_for
from fieldteam.selectors.reports import JOB_NAMES


def report_jobs(*, user: User) -> QuerySet[BackgroundJob]:
    """The report jobs ``user`` started (a superuser: everyone's), newest first."""
    jobs = BackgroundJob.objects.filter(name__in=JOB_NAMES.values()).select_related("area").order_by("-created_at")
    return jobs if user.is_superuser else jobs.filter(created_by=user)


def visible_job(*, user: User, job_id: UUID) -> BackgroundJob:
    """The job if ``user`` started it and may still see its area; otherwise a 404 (never a 403)."""
    job = report_jobs(user=user).filter(pk=job_id).first()
    if job is None or (job.area is not None and not scope_for(user).contains(job.area)):
        raise Http404(_("No such report."))
    return job
