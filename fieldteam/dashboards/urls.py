"""Dashboards and reports for leaders and officers, mounted at /dashboards/ (issue "Dashboards and reports")."""

from django.urls import path

from . import views

app_name = "dashboards"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("nation/", views.nation_dashboard, name="nation"),
    path("nation/report/", views.nation_report, name="nation_report"),
    path("areas/<int:area_id>/", views.area_dashboard, name="area"),
    path("areas/<int:area_id>/report/", views.report_create, name="report"),
    path("areas/<int:area_id>/report-mail/", views.report_mail_subscribe, name="subscribe"),
    path("areas/<int:area_id>/report-mail/<int:subscription_id>/stop/", views.report_mail_unsubscribe, name="unsubscribe"),
    path("areas/<int:area_id>/work-list.<str:fmt>", views.work_list_export, name="work_list"),
    path("areas/<int:area_id>/reasons/<slug:kind>.<str:fmt>", views.reason_list_export, name="reason_list"),
    # Issue 17: the month report from approved values (``month``: 2026-11; a bad one answers 400).
    path("areas/<int:area_id>/month-report/<str:month>.<str:fmt>", views.month_report_export, name="month_report"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/download/", views.job_download, name="job_download"),
]

