"""The Celery app, configured from Django settings (every CELERY_* name)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")

app = Celery("paas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.include = ["paas.platform.tasks.builds", "paas.platform.tasks.acme", "paas.platform.tasks.images",
                    "paas.services.tasks"]
