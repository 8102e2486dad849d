from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FieldteamConfig(AppConfig):
    name = "fieldteam"
    verbose_name = _("Community digital-technology teams")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Here, not at the top: the audit module imports the models, which exist only once the app
        # registry is ready (Django's place for start-up registration; tests/test_layers.py allows it).
        from fieldteam import audit

        audit.register_models()
