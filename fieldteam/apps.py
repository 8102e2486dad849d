from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FieldteamConfig(AppConfig):
    name = "fieldteam"
    verbose_name = _("Community digital-technology teams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from fieldteam import audit

        audit.register_models()
