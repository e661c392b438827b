"""ASGI entry point of the API and console: paas.platform.asgi:application (served as platform/api_server.py says).

Every request but the long polls runs its sync code (views, middleware, the ORM) on one
of PAAS_API_THREADS long-lived threads per worker, the rest queueing for a free one, as
gunicorn's threads did: each thread keeps its PostgreSQL connection between requests,
and a burst of requests cannot open more connections than there are threads. (Django's
own ASGI handler would start a new thread per request, and with it a new database
connection: 6 ms of each request, and as many connections as requests in flight.)

Long polls (platform/api/longpoll.py) pass the queue: they wait on the event loop, do
their short sync steps on threads of their own, and each user may hold only a few.
"""

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "paas.platform.settings")

from asgiref.sync import ThreadSensitiveContext  # noqa: E402  (after the environment above)
from django.conf import settings  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import Resolver404, resolve  # noqa: E402


def is_long_poll(path: str) -> bool:
    """Whether the URL's view is a long poll (LongPollEndpoint marks its views)."""
    try:
        return getattr(resolve(path).func, "long_poll", False)
    except Resolver404:
        return False


class ThreadSlots:
    """Runs each request (long polls excepted) on one of ``size`` long-lived threads; the rest queue."""

    def __init__(self, app, size: int):
        self.app, self.size = app, size
        self.free: asyncio.Queue | None = None  # made in the worker's own event loop

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or is_long_poll(scope["path"]):
            return await self.app(scope, receive, send)
        if self.free is None:
            self.free = asyncio.Queue()
            for index in range(self.size):
                self.free.put_nowait(ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"api-{index}"))
        executor = await self.free.get()
        try:
            # Django's handler finds this context already set and keeps it: all of the
            # request's thread-sensitive sync code runs on this slot's one thread.
            async with ThreadSensitiveContext(executor=executor):
                return await self.app(scope, receive, send)
        finally:
            self.free.put_nowait(executor)


django_application = get_asgi_application()
from paas.platform.bodycap import BodyCap  # noqa: E402  (imports models: after Django's set-up)

# Inside the slots: the cap's token check (upload endpoints) runs on the request's own thread.
application = ThreadSlots(BodyCap(django_application), settings.PAAS_API_THREADS)
