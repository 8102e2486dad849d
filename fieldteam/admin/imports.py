"""Import and export in the admin: buttons on the lists, upload and export forms, templates, job pages.

django-import-export's admin (``ImportExportMixin``) imports in the request, from a file read whole
into memory; here every import and export is a ``BackgroundJob`` run by a Celery task (in-process
where no broker is configured), so a 100,000-row file never meets a request time-out. What is kept
from the library's admin: its list buttons (``change_list_import_export.html``, the ``import`` and
``export`` URL names, ``has_import_permission``/``has_export_permission``) and its resources.

The flow: *Import* → choose the file (and, for people, optionally the village or commune every row
belongs to); "dry run" is ticked by default → the job page shows progress, then what would be
created, every error with its row and column, and the rejected rows as a file → *Import these rows
now* runs the same file for real. *Download the template* gives the columns with instructions.

Pages are rendered from ``fieldteam/templates/admin/fieldteam/`` (``import_export_form.html``,
``change_list_import_export.html``), which extend the admin's own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import translation
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from fieldteam import exports
from fieldteam.choices import COMMUNE_KINDS, VILLAGE_KINDS
from fieldteam.imports.engine import KIND_LABELS, KINDS
from fieldteam.imports.jobs import import_job_start
from fieldteam.models import Area, Household, JobKind
from fieldteam.resources import CSV, XLSX
from fieldteam.resources.base import CONTENT_TYPES

from .base import AdminMixinBase, apply_service_errors, is_admin_staff, request_scope
from .typed import staff_user

PEOPLE_KINDS = frozenset({"residents", "households"})

# The upload/export form and the job pages, both extending the admin's own templates.
FORM_PAGE = "admin/fieldteam/import_export_form.html"
# The library's list template with its import/export buttons, plus links of our own.
CHANGE_LIST = "admin/fieldteam/change_list_import_export.html"


def form_page(request: HttpRequest, model_admin: Any, context: dict[str, Any]) -> TemplateResponse:
    base = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "labels": {
            "home": gettext("Home"),
            "columns": gettext("Columns of the file"),
            "column": gettext("Column"),
            "required": gettext("Required"),
            "how": gettext("How to fill it in"),
        },
    }
    return TemplateResponse(request, FORM_PAGE, {**base, **context})


class AreaField(forms.ModelChoiceField):
    """An area picked through the admin's autocomplete (villages and communes, as for households)."""

    def __init__(self, admin_site: admin.AdminSite, **kwargs: Any) -> None:
        widget = AutocompleteSelect(Household._meta.get_field("village"), admin_site)
        super().__init__(queryset=Area.objects.all(), widget=widget, required=False, **kwargs)


class ImportForm(forms.Form):
    import_file = forms.FileField(label=_("File (.xlsx or .csv)"))
    dry_run = forms.BooleanField(
        label=_("Dry run"),
        required=False,
        initial=True,
        help_text=_("Check every row and show what would be imported; nothing is saved. Untick to import at once."),
    )
    skip_invalid = forms.BooleanField(
        label=_("Skip invalid rows"),
        required=False,
        help_text=_(
            "Import the valid rows and return the others as a file with their reasons. "
            "Without it, one invalid row stops the whole import (nothing is saved)."
        ),
    )

    def __init__(self, *args: Any, admin_site: admin.AdminSite, people: bool, scope_area: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.scope_area = scope_area
        if people:
            self.fields["area"] = AreaField(
                admin_site,
                label=_("All rows belong to"),
                help_text=_(
                    "Optional: a village (the village column may then be left out) or a commune "
                    "(every row's village must lie in it)."
                ),
            )
            self.order_fields(["import_file", "area", "dry_run", "skip_invalid"])

    def clean_area(self) -> Area | None:
        area = self.cleaned_data.get("area")
        if area is not None and area.kind not in VILLAGE_KINDS | COMMUNE_KINDS:
            raise ValidationError(_("Choose a village or a commune."))
        if area is not None and not self.scope_area(area):
            raise ValidationError(_("This is outside your area."))
        return area


class ExportForm(forms.Form):
    file_format = forms.ChoiceField(
        label=_("Format"), choices=[(XLSX, "Excel (.xlsx)"), (CSV, "CSV (UTF-8)")], initial=XLSX
    )

    def __init__(self, *args: Any, admin_site: admin.AdminSite, kinds: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if len(kinds) > 1:
            self.fields["kind"] = forms.ChoiceField(
                label=_("What"), choices=[(k, exports.EXPORT_KINDS[k].label) for k in kinds], initial=kinds[0]
            )
        self.fields["area"] = forms.ModelChoiceField(
            label=_("Only in"),
            queryset=Area.objects.all(),
            required=False,
            widget=AutocompleteSelect(Area._meta.get_field("province"), admin_site),
            help_text=_("Optional: a province or commune within your area. Empty: all your area."),
        )
        self.order_fields(["kind", "file_format", "area"])


class ImportExportAdminMixin(AdminMixinBase):
    """Import/export buttons and views for a scoped ModelAdmin.

    ``import_kind``: the kind of ``fieldteam.imports.engine`` this list imports (``None``: no
    import); ``export_kinds``: the kinds of ``fieldteam.exports`` it offers.
    """

    import_kind: ClassVar[str | None] = None
    export_kinds: ClassVar[tuple[str, ...]] = ()
    change_list_template = CHANGE_LIST

    # --- permissions -----------------------------------------------------------------------------

    def has_import_permission(self, request: HttpRequest) -> bool:
        return self.import_kind is not None and self.may_write(request)

    def has_export_permission(self, request: HttpRequest) -> bool:
        return bool(self.export_kinds) and is_admin_staff(request)

    # --- URLs and the list -----------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        info = self.model._meta.app_label, self.model._meta.model_name
        wrap = self.admin_site.admin_view
        urls = [
            path("import/", wrap(self.import_view), name="{}_{}_import".format(*info)),
            path("import/template/", wrap(self.template_view), name="{}_{}_import_template".format(*info)),
            path("export/", wrap(self.export_view), name="{}_{}_export".format(*info)),
        ]
        return urls + super().get_urls()

    def extra_object_tools(self, request: HttpRequest) -> list[tuple[str, Any]]:
        """More links beside the import/export buttons (overridden by lists that have some)."""
        return []

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {
            "has_import_permission": self.has_import_permission(request),
            "has_export_permission": self.has_export_permission(request),
            "ie_base_change_list_template": "admin/change_list.html",
            "extra_object_tools": self.extra_object_tools(request),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def _url(self, name: str) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_{name}", current_app=self.admin_site.name)

    # --- import ----------------------------------------------------------------------------------

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        kind = self.import_kind or ""
        scope = request_scope(request)
        form = ImportForm(
            request.POST or None,
            request.FILES or None,
            admin_site=self.admin_site,
            people=kind in PEOPLE_KINDS,
            scope_area=scope.contains,
        )
        if request.method == "POST" and form.is_valid():
            area = form.cleaned_data.get("area")
            upload = form.cleaned_data["import_file"]
            try:
                job = import_job_start(
                    actor=staff_user(request),
                    kind=kind,
                    upload=upload,
                    file_name=upload.name,
                    dry_run=form.cleaned_data["dry_run"],
                    skip_invalid=form.cleaned_data["skip_invalid"],
                    village=area if area is not None and area.kind in VILLAGE_KINDS else None,
                    commune=area if area is not None and area.kind in COMMUNE_KINDS else None,
                    locale=translation.get_language() or "vi",
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                self.message_user(
                    request, gettext("The file was received; the import runs in the background."), messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk]))
        resource = KINDS[kind].resource_class()
        return form_page(
            request,
            self,
            {
                "title": job_title(JobKind.IMPORT, kind),
                "form": form,
                "intro": gettext(
                    "Fill in the template and upload it. Rows are matched on their codes, so importing "
                    "the same file again creates nothing twice. Big files take a while: the job page shows the progress."
                ),
                "links": [
                    (self._url("import_template") + "?format=xlsx", gettext("Download the template (.xlsx)")),
                    (self._url("import_template") + "?format=csv", gettext("Download the template (.csv)")),
                ],
                "submit_label": gettext("Upload"),
                "columns": [(c.header, c.required, c.help_text) for c in resource.import_columns()],
            },
        )

    def template_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_import_permission(request):
            raise PermissionDenied
        kind = self.import_kind or ""
        fmt = CSV if request.GET.get("format") == CSV else XLSX
        resource = KINDS[kind].resource_class()
        response = HttpResponse(resource.template_bytes(fmt), content_type=exports_content_type(fmt))
        response["Content-Disposition"] = f'attachment; filename="mau-nhap-{kind}.{fmt}"'
        return response

    # --- export ----------------------------------------------------------------------------------

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_export_permission(request):
            raise PermissionDenied
        kinds = list(self.export_kinds)
        form = ExportForm(request.POST or None, admin_site=self.admin_site, kinds=kinds)
        if request.method == "POST" and form.is_valid():
            try:
                job = exports.export_job_start(
                    actor=staff_user(request),
                    kind=form.cleaned_data.get("kind") or kinds[0],
                    fmt=form.cleaned_data["file_format"],
                    area=form.cleaned_data.get("area"),
                    locale=translation.get_language() or "vi",
                )
            except ValidationError as exc:
                apply_service_errors(form, exc)
            else:
                self.message_user(
                    request,
                    gettext("The export runs in the background; the file appears on this page when it is ready."),
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:fieldteam_backgroundjob_change", args=[job.pk]))
        return form_page(
            request,
            self,
            {
                "title": job_title(JobKind.EXPORT, kinds[0]),
                "form": form,
                "intro": gettext("Every row of your area, however many: the file is written in the background."),
                "submit_label": gettext("Export"),
            },
        )


def exports_content_type(fmt: str) -> str:
    return CONTENT_TYPES[fmt]


def job_title(kind: str, name: str) -> str:
    """What a job is, in words ("Import households and residents"), never its name's code."""
    if kind == JobKind.IMPORT and name in KIND_LABELS:
        return gettext("Import %(what)s") % {"what": KIND_LABELS[name]}
    if kind == JobKind.EXPORT and name in exports.EXPORT_KINDS:
        return gettext("Export %(what)s") % {"what": exports.EXPORT_KINDS[name].label}
    return str(JobKind(kind).label) if kind in JobKind.values else name


def job_links(job: Any) -> str:
    """Links shown on a job: its file, and for a finished dry run the button that imports for real."""
    parts = []
    if job.result_file:
        parts.append((reverse("admin:fieldteam_backgroundjob_download", args=[job.pk]), gettext("Download the file")))
    if job.kind == "import" and job.params.get("dry_run") and job.status == "done" and not job.summary.get("refused"):
        parts.append((reverse("admin:fieldteam_backgroundjob_confirm", args=[job.pk]), gettext("Import these rows now")))
    if not parts:
        return "–"
    return format_html_join(" · ", '<a href="{}">{}</a>', parts)


COUNT_LABELS = {
    "households_new": _("new households"),
    "households_existing": _("households already registered"),
    "residents_new": _("new residents"),
    "residents_existing": _("residents already registered"),
    "adoptions_new": _("capabilities recorded"),
    "identifiers_added": _("citizen IDs or phones added to registered residents"),
    "villages_new": _("new villages"),
    "villages_existing": _("villages already there"),
    "villages_updated": _("villages renamed"),
    "teams_new": _("new teams"),
    "teams_existing": _("teams already there"),
    "users_new": _("new users"),
    "memberships_new": _("new memberships"),
    "memberships_existing": _("memberships already there"),
    "targets_new": _("new targets"),
    "targets_existing": _("targets updated"),
    "values": _("values reported"),
    "rows": _("rows"),
}
PREVIEW_LABELS = {
    "row": _("row"),
    "action": _("action"),
    "village": _("village"),
    "household": _("household"),
    "full_name": _("full name"),
    "birth": _("birth"),
    "citizen_id": _("citizen ID"),
    "capabilities": _("capabilities"),
    "head_name": _("head of household"),
    "commune": _("commune"),
    "code": _("code"),
    "name": _("name"),
    "villages": _("villages"),
    "team": _("team"),
    "username": _("user name"),
    "role": _("role"),
    "indicator": _("indicator"),
    "area": _("area"),
    "year": _("year"),
    "value": _("value"),
    "period": _("period"),
}
ACTION_LABELS = {"new": _("new"), "existing": _("already there")}


def summary_html(job: Any) -> str:
    """The outcome, counts, errors and preview of a job, for its page (``admin/fieldteam/job_summary.html``)."""
    summary = job.summary or {}
    if not summary:
        return "–"
    errors = summary.get("errors") or []
    more = summary.get("error_count", len(errors)) - len(errors)
    preview = summary.get("preview") or []
    keys = list(preview[0]) if preview else []

    def cell(key: str, value: Any) -> Any:
        return ACTION_LABELS.get(value, value) if key == "action" else value

    return render_to_string(
        "admin/fieldteam/job_summary.html",
        {
            "outcome": summary.get("outcome"),
            "counts": [(COUNT_LABELS.get(k, k), v) for k, v in (summary.get("counts") or {}).items()],
            "errors": errors,
            "more": gettext("… and %(count)s more in the file.") % {"count": more} if errors and more > 0 else "",
            "first_rows": gettext("First rows:"),
            "preview_head": [PREVIEW_LABELS.get(k, k) for k in keys],
            "preview_rows": [[cell(k, row.get(k, "")) for k in keys] for row in preview],
        },
    )
