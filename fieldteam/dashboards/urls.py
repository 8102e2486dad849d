"""Dashboards and reports for leaders and officers, mounted at /dashboards/ (issue "Dashboards and reports")."""

from django.contrib import admin
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
    path("jobs/<uuid:job_id>/", views.job_detail, name="job"),
    path("jobs/<uuid:job_id>/download/", views.job_download, name="job_download"),
]

# The staff landing page: the admin index gains a block linking to the dashboards of the officer's
# areas. The stock template stays in charge (ours extends it); it is named here because the admin
# app precedes ours in INSTALLED_APPS, so an "admin/index.html" of ours would never be found.
# Left alone if the admin's owner has set an index template of their own.
if admin.site.index_template is None:
    admin.site.index_template = "dashboards/admin_index.html"
