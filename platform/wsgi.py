"""WSGI entry point for gunicorn: paas.platform.wsgi:application."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
application = get_wsgi_application()
