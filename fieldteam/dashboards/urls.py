"""Dashboards and reports for leaders and officers, mounted at /dashboards/ (issue "Dashboards and reports")."""

app_name = "dashboards"
urlpatterns: list = []
