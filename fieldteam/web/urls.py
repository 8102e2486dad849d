"""The mobile web for team members, mounted at / (issue "Mobile web")."""

app_name = "web"
urlpatterns: list = []
