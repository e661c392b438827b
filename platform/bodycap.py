"""Every request body held to its endpoint's limit before Django reads a byte of it.

Django's ASGI handler reads a whole body (spooled to a temporary file past
FILE_UPLOAD_MAX_MEMORY_SIZE) before any view or middleware runs, so the endpoints' own checks
(api/body.py) came after the bytes were on the API host's disk: anyone, logged in or not,
could fill it with one request. Here, around Django: a declared size over the limit is refused
before anything is read; a body without one (chunked) is counted as it arrives and cut off at
the limit; and an endpoint that takes large files (an image archive) reads nothing from a
caller whose token does not check out. The limits are the endpoints' own (api/routing.py);
pages that are not API endpoints (console forms, admin) get Django's DATA_UPLOAD_MAX_MEMORY_SIZE.
"""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections
from django.urls import Resolver404, resolve

from paas.platform.api.auth import token_for
from paas.platform.api.body import declared_size
from paas.platform.api.errors import platform_error_response
from paas.platform.exceptions import PayloadTooLarge, PlatformError


def view_of(path: str):
    try:
        return resolve(path).func
    except Resolver404:
        return None


def limit_of(view) -> int:
    own = getattr(view, "body_limit", None)
    return own() if own is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return None


class BodyCap:
    """ASGI middleware: refuse, count and cut request bodies at their endpoint's limit."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        view = view_of(scope["path"])
        limit = limit_of(view)
        try:
            await self.check_before_reading(scope, view, limit)
        except PlatformError as error:
            return await refuse(send, error)
        cut = Counter(receive, limit)
        started = []

        async def tracked_send(message):
            started.append(True)
            await send(message)

        await self.app(scope, cut.receive, tracked_send)
        if cut.over and not started:
            await refuse(send, PayloadTooLarge(f"request body is larger than {limit} bytes"))

    async def check_before_reading(self, scope, view, limit: int) -> None:
        length = header(scope, b"content-length")
        if length is not None:
            declared_size(length.strip(), limit)
        if getattr(view, "token_before_body", False):
            await sync_to_async(authenticate)(header(scope, b"authorization") or "", scope["method"])


def authenticate(authorization: str, method: str) -> None:
    close_old_connections()   # as Django does at each request's start: this runs before it
    token_for(authorization, method)


class Counter:
    """A receive() that stops the body at ``limit`` bytes: past it, Django is told the client left."""

    def __init__(self, receive, limit: int):
        self.inner, self.limit, self.seen, self.over = receive, limit, 0, False

    async def receive(self):
        if self.over:
            return {"type": "http.disconnect"}
        message = await self.inner()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.over = True
                return {"type": "http.disconnect"}
        return message


async def refuse(send, error: PlatformError) -> None:
    """The API's JSON error for ``error``, closing the connection: the rest of the body stays unread."""
    response = platform_error_response(error)
    response["Connection"] = "close"
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    headers.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
