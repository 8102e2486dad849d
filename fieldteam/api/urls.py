"""The REST API, mounted at /api/v1/ (issue "Field work API")."""

app_name = "api"
urlpatterns: list = []
