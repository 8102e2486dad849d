"""Report endpoints of the API, mounted at /api/v1/reports/ (issue "Dashboards and reports")."""

from django.urls import path

from . import api

app_name = "reports_api"
urlpatterns = [
    path("", api.ReportJobListCreate.as_view(), name="list"),
    path("<uuid:job_id>/", api.ReportJobDetail.as_view(), name="detail"),
    path("<uuid:job_id>/download/", api.ReportJobDownload.as_view(), name="download"),
]
