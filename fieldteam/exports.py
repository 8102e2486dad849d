"""Exports of any size, in the background, streamed to the file: no row cap, no time-out.

``export_file`` reads the kind's rows in primary-key chunks (``FieldteamResource.iter_export_rows``:
a keyset over the pk, one query per chunk plus one per related table) and writes them as they come,
through the one spreadsheet writer (``fieldteam.spreadsheets.writing``: XLSX in openpyxl's write-only
workbook, constant memory, or CSV in UTF-8 with BOM so Excel shows Vietnamese right; formulas
neutralised). The columns are the import's columns (an exported file can be edited and
imported again) plus a few read-only ones; identifiers are masked and ethnicity never leaves.

Who sees what: the rows of the actor's scope (``scope_for``), narrowed to ``area`` when given.
``export_job_start`` writes the ``BackgroundJob`` row and queues its run
(``fieldteam.services.jobs.queue_job_on_commit``) on commit; the admin shows the job's progress and links the finished file.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from fieldteam.choices import PROVINCE_KINDS, VILLAGE_KINDS, IndicatorKind
from fieldteam.errors import field_error
from fieldteam.models import (
    Area,
    AssistanceLog,
    BackgroundJob,
    Household,
    IndicatorValue,
    JobKind,
    JobStatus,
    Membership,
    OfficialPopulation,
    Resident,
    Target,
    Team,
    User,
)
from fieldteam.permissions import Scope, scope_for
from fieldteam.resources import (
    FORMATS,
    XLSX,
    AssistanceLogResource,
    FieldteamResource,
    HouseholdResource,
    IndicatorValueResource,
    MemberResource,
    OfficialPopulationResource,
    ReportedValueResource,
    ResidentResource,
    TargetResource,
    TeamResource,
    VillageResource,
)
from fieldteam.resources.base import DATA_SHEET
from fieldteam.services import jobs
from fieldteam.spreadsheets import writing

logger = logging.getLogger(__name__)

PROGRESS_EVERY = 5000


@dataclass(frozen=True)
class ExportKind:
    resource: type[FieldteamResource]
    label: Any
    # The rows of this kind in a scope (and, when given, under an area).
    rows: Callable[[Scope, Area | None], QuerySet]


def _under(area: Area | None, field: str) -> Q:
    if area is None:
        return Q()
    prefix = f"{field}__" if field else ""
    if area.kind in PROVINCE_KINDS and field:
        return Q(**{f"{prefix}province_id": area.pk}) | Q(**{f"{prefix}path__startswith": area.path})
    return Q(**{f"{prefix}path__startswith": area.path})


def _villages(scope: Scope, area: Area | None) -> QuerySet:
    return scope.filter_areas(Area.objects.filter(kind__in=VILLAGE_KINDS)).filter(_under(area, ""))


def _teams(scope: Scope, area: Area | None) -> QuerySet:
    served = Team.objects.filter(scope.area_q("areas")).filter(_under(area, "areas"))
    return Team.objects.filter(pk__in=served.values("pk"))


def _members(scope: Scope, area: Area | None) -> QuerySet:
    served = Membership.objects.filter(scope.area_q("team__areas")).filter(_under(area, "team__areas"))
    return Membership.objects.filter(pk__in=served.values("pk"))


def _population(model: type[Any]) -> Callable[[Scope, Area | None], QuerySet]:
    def rows(scope: Scope, area: Area | None) -> QuerySet:
        queryset = scope.filter(model.objects.all(), area_field="village")
        if area is None:
            return queryset
        if area.kind in PROVINCE_KINDS:
            return queryset.filter(province_id=area.pk)
        return queryset.filter(village__path__startswith=area.path)

    return rows


def _targets(scope: Scope, area: Area | None) -> QuerySet:
    return Target.objects.filter(scope.area_q("area")).filter(_under(area, "area"))


def _population_figures(scope: Scope, area: Area | None) -> QuerySet:
    return OfficialPopulation.objects.filter(scope.area_q("area")).filter(_under(area, "area"))


def _values(kind: str | None) -> Callable[[Scope, Area | None], QuerySet]:
    def rows(scope: Scope, area: Area | None) -> QuerySet:
        queryset = IndicatorValue.objects.filter(scope.area_q("area")).filter(_under(area, "area"))
        return queryset.filter(indicator__kind=kind) if kind else queryset

    return rows


EXPORT_KINDS: dict[str, ExportKind] = {
    "villages": ExportKind(VillageResource, gettext_lazy("villages"), _villages),
    "teams": ExportKind(TeamResource, gettext_lazy("teams"), _teams),
    "members": ExportKind(MemberResource, gettext_lazy("team members"), _members),
    "households": ExportKind(HouseholdResource, gettext_lazy("households"), _population(Household)),
    "residents": ExportKind(ResidentResource, gettext_lazy("residents"), _population(Resident)),
    "targets": ExportKind(TargetResource, gettext_lazy("indicator targets"), _targets),
    "reported_values": ExportKind(
        ReportedValueResource, gettext_lazy("reported indicator values"), _values(IndicatorKind.REPORTED)
    ),
    "indicator_values": ExportKind(IndicatorValueResource, gettext_lazy("indicator values"), _values(None)),
    "population": ExportKind(
        OfficialPopulationResource, gettext_lazy("official population figures"), _population_figures
    ),
    "assistance_logs": ExportKind(AssistanceLogResource, gettext_lazy("assistance logs"), _population(AssistanceLog)),
}


def export_rows(*, kind: str, actor: User | None, area: Area | None = None) -> QuerySet:
    """The rows an export of ``kind`` holds for ``actor`` (everything for ``None``, the system)."""
    scope = scope_for(actor) if actor is not None else Scope(everything=True, paths=())
    return EXPORT_KINDS[kind].rows(scope, area)


def export_file(
    *,
    kind: str,
    actor: User | None,
    path: Path | str,
    fmt: str = XLSX,
    area: Area | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Write the export of ``kind`` to ``path`` as it is read; returns the number of rows written.

    Written by ``fieldteam.spreadsheets.writing``: text that looks like a formula stays text.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    spec = EXPORT_KINDS[kind]
    resource = spec.resource()
    queryset = export_rows(kind=kind, actor=actor, area=area)
    total = queryset.count() if progress else 0

    def tick(written: int) -> None:
        if progress and written % PROGRESS_EVERY == 0:
            progress(written, max(total, written))

    written = writing.write_table(
        path,
        fmt,
        resource.get_export_headers(),
        resource.iter_export_rows(queryset, fmt),
        title=DATA_SHEET,
        progress=tick if progress else None,
    )
    if progress:
        progress(written, max(total, written))
    return written


def export_job_start(
    *, actor: User, kind: str, fmt: str = XLSX, area: Area | None = None, locale: str = "vi"
) -> BackgroundJob:
    """Write the export job's row, then queue the export after commit. ``ValidationError`` names the field."""
    if kind not in EXPORT_KINDS:
        raise field_error("kind", _("Unknown kind of export."), code="invalid_choice")
    if fmt not in FORMATS:
        raise field_error("file_format", _("Choose Excel (.xlsx) or CSV."), code="invalid_choice")
    scope = scope_for(actor)
    if scope.is_empty:
        raise field_error("area", _("You have no area to export."), code="no_scope")
    if area is not None and not (scope.contains(area) or any(p.startswith(area.path) for p in scope.paths)):
        raise field_error("area", _("This is outside your area."), code="out_of_scope")
    with transaction.atomic():
        job = BackgroundJob.objects.create(
            kind=JobKind.EXPORT,
            name=kind,
            area=area if area is not None else _single_area(scope),
            params={"format": fmt, "area_id": area.pk if area else None, "locale": locale},
            created_by=actor,
        )
        jobs.queue_job_on_commit(job=job)
    return job


def _single_area(scope: Scope) -> Area | None:
    if scope.everything or len(scope.paths) != 1:
        return None
    return Area.objects.filter(path=scope.paths[0]).first()


def export_job_run(*, job_id: Any) -> BackgroundJob:
    """Run a queued export job (the Celery task's body). Idempotent: a job already started is left alone."""
    claimed = jobs.claim_job(job_id=job_id)
    job = BackgroundJob.objects.select_related("created_by", "area").get(pk=job_id)
    if not claimed:
        return job
    fmt = job.params.get("format", XLSX)
    area = Area.objects.filter(pk=job.params["area_id"]).first() if job.params.get("area_id") else None

    def progress(done: int, total: int) -> None:
        jobs.report_progress(job_id=job.pk, processed=done, total=total)

    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"export.{fmt}"
            with jobs.running(job=job):
                rows = export_file(
                    kind=job.name, actor=job.created_by, path=path, fmt=fmt, area=area, progress=progress
                )
            stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
            with open(path, "rb") as handle:
                job.result_file.save(f"{job.name}-{stamp}-{uuid.uuid4().hex[:6]}.{fmt}", File(handle), save=False)
    except Exception as exc:
        logger.exception("export job %s failed", job.pk)
        BackgroundJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    BackgroundJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DONE,
        result_file=job.result_file.name,
        total=rows,
        processed=rows,
        summary={"rows": rows, "format": fmt},
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job
