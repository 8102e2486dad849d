from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("health/", include("fieldteam.health")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("fieldteam.api.urls")),
    path("dashboards/", include("fieldteam.dashboards.urls")),
    path("", include("fieldteam.web.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
