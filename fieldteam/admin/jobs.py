"""Background jobs (reports, imports, exports) and sync receipts: read-only records."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from fieldteam.imports.jobs import import_job_confirm
from fieldteam.models import BackgroundJob, JobKind, JobStatus, SyncReceipt
from fieldteam.permissions import Scope
from fieldteam.services import jobs

from .base import ScopedModelAdmin
from .imports import FORM_PAGE, job_links, job_title, summary_html
from .typed import staff_user


class RecordAdmin(ScopedModelAdmin):
    can_add_rows = False
    can_change_rows = False
    can_delete_rows = False


@admin.register(BackgroundJob)
class BackgroundJobAdmin(RecordAdmin):
    scope_area_field = "area"
    list_display = ("created_at", "kind", "what", "area", "status", "progress", "created_by", "download")
    list_filter = ("kind", "status")
    list_select_related = ("area", "created_by")
    date_hierarchy = "created_at"
    fields = (
        "kind",
        "what",
        "area",
        "status",
        "progress_bar",
        "result",
        "files",
        "options",
        "error",
        "created_by",
        "created_at",
        "finished_at",
    )
    readonly_fields = fields
    actions = ("queue_again",)

    def filter_in_scope(self, scope: Scope, queryset: QuerySet) -> QuerySet:
        # A job without an area (e.g. a national export) is seen by whoever started it only.
        return super().filter_in_scope(scope, queryset.exclude(area__isnull=True)) | queryset.filter(
            area__isnull=True, created_by_id=getattr(self, "_request_user_id", None)
        )

    def get_queryset(self, request: HttpRequest) -> QuerySet[BackgroundJob]:
        self._request_user_id = request.user.pk
        return super().get_queryset(request)

    @admin.display(description=_("what"), ordering="name")
    def what(self, obj: BackgroundJob) -> str:
        return job_title(obj.kind, obj.name)

    @admin.display(description=_("progress"))
    def progress(self, obj: BackgroundJob) -> str:
        return f"{obj.percent}%" if obj.percent is not None else "–"

    @admin.display(description=_("file"))
    def download(self, obj: BackgroundJob) -> str:
        if not obj.result_file:
            return "–"
        # Through the scoped view, never the public media URL: the files hold personal data.
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:fieldteam_backgroundjob_download", args=[obj.pk]), _("Download")
        )

    @admin.display(description=_("progress"))
    def progress_bar(self, obj: BackgroundJob) -> str:
        phase = (obj.summary or {}).get("phase", "")
        done = f"{obj.processed:,}" + (f" / {obj.total:,}" if obj.total else "")
        if obj.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            # The page reloads itself until the job is over.
            return format_html(
                '<meta http-equiv="refresh" content="3"><progress max="100" value="{}"></progress> {} {}',
                obj.percent or 0,
                done,
                phase,
            )
        return format_html(
            '<progress max="100" value="{}"></progress> {}',
            100 if obj.status == JobStatus.DONE else obj.percent or 0,
            done,
        )

    @admin.display(description=_("result"))
    def result(self, obj: BackgroundJob) -> str:
        return summary_html(obj)

    @admin.display(description=_("files"))
    def files(self, obj: BackgroundJob) -> str:
        return job_links(obj)

    @admin.display(description=_("options"))
    def options(self, obj: BackgroundJob) -> str:
        params = obj.params or {}
        shown = []
        if "dry_run" in params:
            shown.append(gettext("dry run") if params.get("dry_run") else gettext("import"))
            if params.get("skip_invalid"):
                shown.append(gettext("skip invalid rows"))
        if params.get("file_name"):
            shown.append(params["file_name"])
        if params.get("format"):
            shown.append(params["format"])
        return ", ".join(shown) or "–"

    # --- views: the file, and "import these rows now" --------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("<uuid:job_id>/download/", wrap(self.download_view), name="fieldteam_backgroundjob_download"),
            path("<uuid:job_id>/confirm/", wrap(self.confirm_view), name="fieldteam_backgroundjob_confirm"),
            *super().get_urls(),
        ]

    def _visible_job(self, request: HttpRequest, job_id: Any) -> BackgroundJob:
        job = self.get_queryset(request).filter(pk=job_id).first()
        if job is None:
            raise Http404
        return job

    def download_view(self, request: HttpRequest, job_id: Any) -> FileResponse:
        # Seen in scope, else 404; a file with personal data only for an officer of the job's area
        # (403 otherwise), each download in the trail.
        job = self._visible_job(request, job_id)
        handle = jobs.open_job_file(actor=staff_user(request), job=job)
        stored_name = job.result_file.name
        assert stored_name  # noqa: S101 - open_job_file raised Http404 when there is no file
        response = FileResponse(handle, as_attachment=True, filename=stored_name.rsplit("/", 1)[-1])
        response["Cache-Control"] = "no-store"
        return response

    def confirm_view(self, request: HttpRequest, job_id: Any) -> HttpResponse:
        job = self._visible_job(request, job_id)
        if request.method == "POST":
            try:
                new = import_job_confirm(actor=staff_user(request), job=job)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                return HttpResponseRedirect(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk]))
            self.message_user(request, gettext("The import runs in the background."), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:fieldteam_backgroundjob_change", args=[new.pk]))
        summary = job.summary or {}
        skipped = summary.get("rejected_rows", 0) if job.params.get("skip_invalid") else 0
        intro = gettext("Import the %(valid)s valid rows of %(file)s now?") % {
            "valid": summary.get("valid_rows", 0),
            "file": job.params.get("file_name", ""),
        }
        if summary.get("rejected_rows") and not job.params.get("skip_invalid"):
            intro += " " + gettext(
                "The file has rows with errors: nothing will be imported (tick “skip invalid rows” to import the rest)."
            )
        elif skipped:
            intro += " " + ngettext(
                "%(count)s row with errors will be skipped.", "%(count)s rows with errors will be skipped.", skipped
            ) % {"count": skipped}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import these rows now"),
            "intro": intro,
            "form": None,
            "submit_label": gettext("Import"),
            "labels": {"home": gettext("Home")},
        }
        return TemplateResponse(request, FORM_PAGE, context)

    @admin.action(description=_("Queue the selected jobs again (queued jobs whose task was lost)"))
    def queue_again(self, request: HttpRequest, queryset: QuerySet[BackgroundJob]) -> None:
        queued = 0
        for job in queryset.filter(status=JobStatus.QUEUED, kind__in=[JobKind.IMPORT, JobKind.EXPORT]):
            jobs.queue_job_on_commit(job=job)
            queued += 1
        self.message_user(
            request, ngettext("%(count)s job queued again.", "%(count)s jobs queued again.", queued) % {"count": queued}
        )


@admin.register(SyncReceipt)
class SyncReceiptAdmin(RecordAdmin):
    scope_area_field = "province"
    superuser_only = True  # the phones' resend guard, not officers' work
    list_display = ("received_at", "kind", "client_id", "object_id", "member")
    list_filter = ("kind",)
    list_select_related = ("member",)
    search_fields = ("=client_id", "=object_id")
    fields = ("client_id", "kind", "object_id", "content_hash", "member", "province", "received_at")
    readonly_fields = fields
