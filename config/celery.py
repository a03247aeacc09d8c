"""The Celery application. Its broker comes from settings (CELERY_BROKER_URL in the environment)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("modelgov")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
