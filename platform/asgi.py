"""ASGI entry point of the API and console: paas.platform.asgi:application (served as platform/api_server.py says).

Django's ASGI handler runs each request's sync code (every view but the long polls) on a
thread of that request's own. Unbounded, a burst of requests would start as many threads
and open as many PostgreSQL connections, past the server's max_connections: so at most
PAAS_API_THREADS requests per worker are inside Django at once and the rest queue, as
gunicorn's threads made them queue before. Long polls (platform/api/longpoll.py) pass
the queue: they wait on the event loop, and each user may hold only a few of them.
"""

import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")
# A kept-open ("persistent") database connection would be left behind on a dead thread at
# every request: connections here live for one request (Django's advice for ASGI).
os.environ.setdefault("PAAS_DB_CONN_MAX_AGE", "0")

from django.conf import settings  # noqa: E402  (after the environment above)
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402


def is_long_poll(path: str) -> bool:
    """Whether the URL's view is a long poll (LongPollEndpoint marks its views)."""
    try:
        return getattr(resolve(path).func, "long_poll", False)
    except Resolver404:
        return False


class BoundedThreads:
    """At most ``limit`` requests per process inside Django at once, long polls excepted."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit
        self.slots: asyncio.Semaphore | None = None  # made in the worker's own event loop

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_long_poll(scope["path"]):
            return await self.app(scope, receive, send)
        if self.slots is None:
            self.slots = asyncio.Semaphore(self.limit)
        async with self.slots:
            return await self.app(scope, receive, send)


application = BoundedThreads(get_asgi_application(), settings.PAAS_API_THREADS)
