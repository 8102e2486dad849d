"""Report endpoints of the API, mounted at /api/v1/reports/ (issue "Dashboards and reports")."""

app_name = "reports_api"
urlpatterns: list = []
