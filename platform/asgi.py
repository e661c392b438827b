"""ASGI entry point of the API and console: paas.platform.asgi:application (served as platform/api_server.py says)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
# Django's ASGI handler runs each request's sync code on a thread of that request's own,
# so a kept-open ("persistent") database connection would be left behind on a dead thread
# at every request: connections here live for one request (Django's advice for ASGI).
os.environ.setdefault("PAAS_DB_CONN_MAX_AGE", "0")

from django.core.asgi import get_asgi_application  # noqa: E402  (after the environment above)

application = get_asgi_application()
