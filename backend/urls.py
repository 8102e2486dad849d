from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("health/", include("fieldteam.health")),
    path("admin/", admin.site.urls),
    path("api/v1/reports/", include("fieldteam.dashboards.api_urls")),
    path("api/v1/", include("fieldteam.api.urls")),
    path("dashboards/", include("fieldteam.dashboards.urls")),
    path("", include("fieldteam.web.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
