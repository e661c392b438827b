"""Liveness of the API and its database."""

from django.db import connection


def healthz(request):
    """Answers 200 when the API can reach PostgreSQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok"}
