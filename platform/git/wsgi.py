"""WSGI entry point of the git server, for gunicorn: paas.platform.git.wsgi:application."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
django.setup()

from paas.platform.git.server import GitApplication  # noqa: E402  (needs Django set up)

application = GitApplication()
