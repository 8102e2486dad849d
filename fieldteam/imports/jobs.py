"""Imports as background jobs: the upload and the job row saved, the run queued on commit, the run itself."""

from __future__ import annotations

import contextlib
import logging
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fieldteam.errors import field_error
from fieldteam.imports.base import ImportOptions, ProgressCallback
from fieldteam.imports.engine import KINDS, import_file
from fieldteam.models import (
    Area,
    BackgroundJob,
    JobKind,
    JobStatus,
    User,
)
from fieldteam.permissions import Scope, scope_for
from fieldteam.resources import (
    XLSX,
)
from fieldteam.services import jobs
from fieldteam.spreadsheets import reading
from fieldteam.spreadsheets.reading import SpreadsheetRefused

logger = logging.getLogger(__name__)


def import_job_start(
    *,
    actor: User,
    kind: str,
    upload: File,
    file_name: str,
    dry_run: bool = True,
    skip_invalid: bool = False,
    village: Area | None = None,
    commune: Area | None = None,
    locale: str = "vi",
) -> BackgroundJob:
    """Save the upload and the job row, then queue the import after commit (a lost message leaves a
    visible queued job, never a silent gap). Raises ``ValidationError`` naming the field."""
    if kind not in KINDS:
        raise field_error("kind", _("Unknown kind of import."), code="invalid_choice")
    try:
        # Format, size and (for .xlsx) the zip directory, before the file is stored or parsed.
        fmt = reading.check_upload(upload, file_name)
    except SpreadsheetRefused as refused:
        raise field_error("import_file", refused.message, code="format") from None
    scope = scope_for(actor)
    if not scope.can_edit:
        raise field_error("import_file", _("Your role may only view; it cannot import."), code="read_only")
    for name, area in (("village", village), ("commune", commune)):
        if area is not None and not scope.contains(area):
            raise field_error(name, _("This is outside your area."), code="out_of_scope")
    with transaction.atomic():
        job = BackgroundJob(
            kind=JobKind.IMPORT,
            name=kind,
            area=village or commune or _single_area(scope),
            params={
                "dry_run": dry_run,
                "skip_invalid": skip_invalid,
                "village_id": village.pk if village else None,
                "commune_id": commune.pk if commune else None,
                "file_name": file_name,
                "format": fmt,
                "locale": locale,
            },
            created_by=actor,
        )
        job.input_file.save(f"{kind}-{uuid.uuid4().hex[:12]}.{fmt}", upload, save=False)
        job.save()
        jobs.queue_job_on_commit(job=job)
    return job


def import_job_confirm(*, actor: User, job: BackgroundJob) -> BackgroundJob:
    """Run for real the import a dry run checked: a new job on the same file."""
    if job.kind != JobKind.IMPORT or not job.params.get("dry_run") or job.status != JobStatus.DONE:
        raise field_error("job", _("Only a finished dry run can be imported."), code="not_a_dry_run")
    if job.summary.get("refused"):
        raise field_error("job", _("The file was refused; fix it and upload it again."), code="refused")
    with transaction.atomic():
        new = BackgroundJob.objects.create(
            kind=JobKind.IMPORT,
            name=job.name,
            area=job.area,
            params={**job.params, "dry_run": False, "checked_by_job": str(job.pk)},
            input_file=job.input_file.name,
            created_by=actor,
        )
        jobs.queue_job_on_commit(job=new)
    return new


def _single_area(scope: Scope) -> Area | None:
    if scope.everything or len(scope.paths) != 1:
        return None
    return Area.objects.filter(path=scope.paths[0]).first()


def _job_progress(job_id: Any) -> ProgressCallback:
    def report(processed: int, total: int | None, phase: str) -> None:
        fields: dict[str, Any] = {"processed": processed, "summary": {"phase": phase}}
        if total is not None:
            fields["total"] = max(total, processed)
        jobs.report_progress(job_id=job_id, **fields)

    return report


@contextlib.contextmanager
def _local_copy(field_file: Any) -> Iterator[Path]:
    """A path to the stored file (a temporary copy where the storage is not on this disk)."""
    try:
        yield Path(field_file.path)
        return
    except NotImplementedError:
        pass
    suffix = Path(field_file.name).suffix
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        with field_file.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                handle.write(chunk)
        handle.flush()
        yield Path(handle.name)


def import_job_run(*, job_id: Any) -> BackgroundJob:
    """Run a queued import job (the Celery task's body). Idempotent: a job already started is left alone."""
    claimed = jobs.claim_job(job_id=job_id)
    job = BackgroundJob.objects.select_related("created_by").get(pk=job_id)
    if not claimed:
        return job
    params = job.params
    options = ImportOptions(
        dry_run=bool(params.get("dry_run")),
        skip_invalid=bool(params.get("skip_invalid")),
        village=Area.objects.filter(pk=params.get("village_id")).first() if params.get("village_id") else None,
        commune=Area.objects.filter(pk=params.get("commune_id")).first() if params.get("commune_id") else None,
    )
    try:
        with _local_copy(job.input_file) as path, jobs.running(job=job):
            result = import_file(
                kind=job.name,
                path=path,
                actor=job.created_by,
                options=options,
                fmt=params.get("format"),
                file_name=params.get("file_name", ""),
                progress=_job_progress(job.pk),
            )
    except Exception as exc:
        logger.exception("import job %s failed", job.pk)
        BackgroundJob.objects.filter(pk=job.pk).update(
            status=JobStatus.FAILED, error=f"{type(exc).__name__}: {exc}", finished_at=timezone.now()
        )
        job.refresh_from_db()
        return job
    report = result.report
    job.refresh_from_db()
    if result.rejected_file is not None:
        fmt = params.get("format", XLSX)
        job.result_file.save(
            f"{job.name}-rejected-{str(job.pk)[:8]}.{fmt}", ContentFile(result.rejected_file), save=False
        )
    job.status = JobStatus.DONE
    job.total = max(report.total_rows, job.processed)
    job.processed = job.total
    job.summary = report.as_summary()
    job.error = report.refused
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "total", "processed", "summary", "error", "result_file", "finished_at"])
    return job
