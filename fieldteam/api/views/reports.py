"""Reports over the API, at /api/v1/reports/: create a report job, poll it, download the file.

    POST /api/v1/reports/                 {"area": 12, "period": "2026-Q1", "format": "xlsx"}
                                          {"report": "work_list", "area": 345, "capability": "smartphone"}
    GET  /api/v1/reports/                 the caller's report jobs, newest first (paginated)
    GET  /api/v1/reports/<id>/            one job: status, progress, download link when done
    GET  /api/v1/reports/<id>/download/   the file (409 while it is not ready)

Session or token authentication (the project's DRF defaults). Scoped like the dashboards: an
area or job outside the caller's scope answers 404. A small area's report is made during the
request (201, already done); a large one is queued (202) and polled.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import FileResponse
from django.urls import reverse
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from fieldteam.api.views.base import acting_user
from fieldteam.choices import ReportFormat
from fieldteam.models import BackgroundJob, Capability, JobStatus
from fieldteam.periods import Period
from fieldteam.selectors import reports as report_documents
from fieldteam.selectors.indicators import visible_area
from fieldteam.selectors.jobs import report_jobs, visible_job
from fieldteam.services import reports


class NotReady(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("The file is not ready yet.")
    default_code = "not_ready"


class AnyFileRenderer(BaseRenderer):
    """Lets a download be asked for with any ``Accept`` (``*/*``, the file's own type, ...).

    The file itself is a ``FileResponse`` and is never rendered; an error answer is written as JSON.
    """

    media_type = "*/*"
    format = "file"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else json.dumps(data, default=str).encode()


class ReportJobOutput(serializers.ModelSerializer):
    area_name = serializers.CharField(source="area.name", default=None, read_only=True)
    percent = serializers.IntegerField(read_only=True, allow_null=True)
    url = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = BackgroundJob
        fields = [
            "id",
            "kind",
            "name",
            "status",
            "area",
            "area_name",
            "params",
            "total",
            "processed",
            "percent",
            "summary",
            "error",
            "created_at",
            "finished_at",
            "url",
            "download_url",
        ]
        read_only_fields = fields

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_url(self, job: BackgroundJob) -> str:
        return self._absolute(reverse("api:report-detail", kwargs={"job_id": job.pk}))

    def get_download_url(self, job: BackgroundJob) -> str | None:
        if job.status != JobStatus.DONE:
            return None
        return self._absolute(reverse("api:report-download", kwargs={"job_id": job.pk}))


class ReportCreateInput(serializers.Serializer):
    report = serializers.ChoiceField(choices=report_documents.REPORTS, default=report_documents.PERIODIC)
    area = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    period = serializers.CharField(
        required=False, help_text=_("2026-03 (month), 2026-Q1 (quarter) or 2026 (year); default: this month.")
    )
    format = serializers.ChoiceField(choices=ReportFormat.choices, default=ReportFormat.XLSX)
    capability = serializers.SlugField(required=False, help_text=_("Work list only: one capability's code."))

    def validate_period(self, value: str) -> Period:
        try:
            return Period.parse(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        except ValueError as exc:  # a well-formed but impossible date, e.g. year 0
            raise serializers.ValidationError(_("There are no values for that period.")) from exc

    def validate_capability(self, value: str) -> Capability:
        capability = Capability.objects.filter(code=value, is_active=True).first()
        if capability is None:
            raise serializers.ValidationError(_("Unknown capability."))
        return capability


def _as_drf_error(exc: DjangoValidationError) -> DRFValidationError:
    return DRFValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class ReportJobListCreate(GenericAPIView):
    serializer_class = ReportJobOutput

    def get_queryset(self) -> QuerySet[BackgroundJob]:
        if getattr(self, "swagger_fake_view", False):  # the schema generator, without a user
            return BackgroundJob.objects.none()
        return report_jobs(user=acting_user(self.request))

    @extend_schema(responses=ReportJobOutput(many=True))
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        serializer = ReportJobOutput(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)

    @extend_schema(
        request=ReportCreateInput,
        responses={
            201: OpenApiResponse(ReportJobOutput, description=_("Made during the request: done (or failed).")),
            202: OpenApiResponse(ReportJobOutput, description=_("Queued: poll its url.")),
        },
    )
    def post(self, request: Request) -> Response:
        data = ReportCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values: dict[str, Any] = data.validated_data
        area = visible_area(user=acting_user(request), area_id=values["area"])
        in_request = values["report"] == report_documents.WORK_LIST or reports.runs_in_request(area)
        try:
            job = reports.report_job_create(
                user=acting_user(request),
                area=area,
                fmt=values["format"],
                report=values["report"],
                period=values.get("period"),
                capability=values.get("capability"),
                locale=get_language(),
                in_request=in_request,
            )
        except DjangoValidationError as exc:
            raise _as_drf_error(exc) from exc
        output = ReportJobOutput(job, context={"request": request}).data
        code = status.HTTP_201_CREATED if in_request else status.HTTP_202_ACCEPTED
        return Response(output, status=code, headers={"Location": output["url"]})


class ReportJobDetail(APIView):
    @extend_schema(responses=ReportJobOutput)
    def get(self, request: Request, job_id: UUID) -> Response:
        job = visible_job(user=acting_user(request), job_id=job_id)
        return Response(ReportJobOutput(job, context={"request": request}).data)


class ReportJobDownload(APIView):
    renderer_classes = [JSONRenderer, AnyFileRenderer]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: None})
    def get(self, request: Request, job_id: UUID) -> FileResponse:
        job = visible_job(user=acting_user(request), job_id=job_id)
        if job.status == JobStatus.FAILED:
            raise NotFound(job.error or _("The report could not be made."))
        stored_name = job.result_file.name  # empty when there is no file yet
        if job.status != JobStatus.DONE or not stored_name:
            raise NotReady
        return FileResponse(
            job.result_file.open("rb"),
            as_attachment=True,
            filename=job.summary.get("filename") or stored_name.rsplit("/", 1)[-1],
            content_type=job.summary.get("content_type"),
        )
