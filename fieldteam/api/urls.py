"""The REST API, mounted at /api/v1/.

Session authentication (with CSRF) for the mobile web, token authentication for other systems.
The OpenAPI schema is at ``schema/`` and its Swagger UI at ``docs/``, served from this server
(drf-spectacular-sidecar: no CDN); without sign-in only where ``API_DOCS_PUBLIC`` is on (off by
default in production).
"""

from typing import Any

from django.conf import settings
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import BasePermission
from rest_framework.routers import SimpleRouter

from fieldteam.api.views.areas import AreaViewSet
from fieldteam.api.views.auth import TokenView
from fieldteam.api.views.breakdowns import AreaBreakdownsView, AreaTeamCoverageView
from fieldteam.api.views.consent import ResidentConsentsView, ResidentConsentWithdrawalView
from fieldteam.api.views.disclosure import ResidentIdentifiersView
from fieldteam.api.views.field_work import AssistanceLogViewSet, TrainingSessionViewSet
from fieldteam.api.views.indicators import ReportedValueViewSet
from fieldteam.api.views.me import MeView
from fieldteam.api.views.national import NationIndicatorsView, NationProvincesView
from fieldteam.api.views.people import HouseholdViewSet, ResidentViewSet
from fieldteam.api.views.population import OfficialPopulationViewSet
from fieldteam.api.views.reasons import AreaReasonListView, AreaReasonsView
from fieldteam.api.views.reports import ReportJobDetail, ReportJobDownload, ReportJobListCreate
from fieldteam.api.views.subscriptions import ReportSubscriptionViewSet
from fieldteam.api.views.sync import SyncView
from fieldteam.api.views.teams import TeamViewSet

app_name = "api"


class ApiDocsPermission(BasePermission):
    """The schema and its UI: to anyone where ``API_DOCS_PUBLIC`` is on, else to signed-in users.

    Read at each request, so the setting needs no change to the URLs.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        return bool(request.user and request.user.is_authenticated)


router = SimpleRouter()
router.register("areas", AreaViewSet, basename="area")
router.register("teams", TeamViewSet, basename="team")
router.register("households", HouseholdViewSet, basename="household")
router.register("residents", ResidentViewSet, basename="resident")
router.register("assistance-logs", AssistanceLogViewSet, basename="assistance-log")
router.register("training-sessions", TrainingSessionViewSet, basename="training-session")
router.register("reported-values", ReportedValueViewSet, basename="reported-value")
router.register("population-figures", OfficialPopulationViewSet, basename="population-figure")
router.register("report-subscriptions", ReportSubscriptionViewSet, basename="report-subscription")

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("nation/indicators/", NationIndicatorsView.as_view(), name="nation-indicators"),
    path("nation/indicators/provinces/", NationProvincesView.as_view(), name="nation-provinces"),
    path("areas/<int:pk>/breakdowns/", AreaBreakdownsView.as_view(), name="area-breakdowns"),
    path("areas/<int:pk>/team-coverage/", AreaTeamCoverageView.as_view(), name="area-team-coverage"),
    path("areas/<int:pk>/reasons/", AreaReasonsView.as_view(), name="area-reasons"),
    path("areas/<int:pk>/reason-list/", AreaReasonListView.as_view(), name="area-reason-list"),
    path("residents/<int:pk>/identifiers/", ResidentIdentifiersView.as_view(), name="resident-identifiers"),
    path("residents/<int:pk>/consents/", ResidentConsentsView.as_view(), name="resident-consents"),
    path(
        "residents/<int:pk>/consents/withdraw/",
        ResidentConsentWithdrawalView.as_view(),
        name="resident-consent-withdrawal",
    ),
    path("sync/", SyncView.as_view(), name="sync"),
    path("reports/", ReportJobListCreate.as_view(), name="report-list"),
    path("reports/<uuid:job_id>/", ReportJobDetail.as_view(), name="report-detail"),
    path("reports/<uuid:job_id>/download/", ReportJobDownload.as_view(), name="report-download"),
    path("auth/token/", TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[ApiDocsPermission]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="api:schema", permission_classes=[ApiDocsPermission]),
        name="docs",
    ),
    *router.urls,
]
