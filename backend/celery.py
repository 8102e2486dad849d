"""The Celery app, beside the settings (cookiecutter-django layout)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.settings.local")

app = Celery("fieldteam")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
