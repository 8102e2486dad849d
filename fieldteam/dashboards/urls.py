"""Dashboards and reports for leaders and officers, mounted at /dashboards/ (issue "Dashboards and reports")."""

from django.urls import path

from . import views

app_name = "dashboards"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("areas/<int:area_id>/", views.area_dashboard, name="area"),
    path("areas/<int:area_id>/report/", views.report_create, name="report"),
    path("areas/<int:area_id>/work-list.<str:fmt>", views.work_list_export, name="work_list"),
    path("areas/<int:area_id>/reasons/<slug:kind>.<str:fmt>", views.reason_list_export, name="reason_list"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/download/", views.job_download, name="job_download"),
]

