"""The mobile web for team members, mounted at / (issue "Mobile web")."""

from django.urls import include, path

from fieldteam.web import pwa, views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("search/", views.search, name="search"),
    path("residents/<int:resident_id>/", views.resident, name="resident"),
    path("households/<int:household_id>/", views.household, name="household"),
    path("shell/resident/", views.resident_shell, name="resident_shell"),
    path("shell/household/", views.household_shell, name="household_shell"),
    path("register/", views.register, name="register"),
    path("training/", views.training, name="training"),
    path("history/", views.history, name="history"),
    path("outbox/", views.outbox, name="outbox"),
    path("work/<int:village_id>/<slug:capability>/", views.work, name="work"),
    path("offline/", views.offline, name="offline"),
    path("roster.json", pwa.roster, name="roster"),
    path("manifest.webmanifest", pwa.manifest, name="manifest"),
    path("favicon.ico", pwa.favicon, name="favicon"),
    path("sw.js", pwa.service_worker, name="sw"),
    path("i18n/", include("django.conf.urls.i18n")),
]
