"""The router's one exceptions module.

Every protocol or routing failure is a ``RouterError`` that carries the HTTP status
the client gets and the platform error code written to the access log. Whatever a
request raises is turned into one by ``classify`` (the one place that decides what a
failure is); the asyncio edge (``serving/proxy.py``, ``serving/session.py``) then
renders exactly one error response; nothing else in the router writes error pages.

Error codes follow the spirit of Heroku's router codes; ROUTES.md has the table.
"""

import logging

log = logging.getLogger("paas.router.serving.proxy")


class RouterError(Exception):
    """Base class: ``status`` for the client, ``code`` for the access log."""

    status = 500
    code = "H99"
    # Framing errors leave the connection in an unknown state: the only safe
    # thing after them is to close, or a smuggled request could follow.
    close = False

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None):
        super().__init__(detail or self.__class__.__name__)
        self.detail = detail
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code


class RouterBug(RouterError):
    """A fault in the router's own code (not the client's, not the instance's): 500, H99,
    logged with its traceback by ``classify``."""
    status = 500
    code = "H99"
    close = True


def classify(exc: BaseException, rid: str = "") -> RouterError:
    """The RouterError a request's failure is answered and logged as.

    A socket error that is not already a RouterError comes from the client's side
    (instance sockets are read where their errors are named: BackendClosed,
    BackendInterrupted); anything else is a router bug, logged with its traceback.
    """
    if isinstance(exc, RouterError):
        return exc
    if isinstance(exc, (ConnectionError, OSError)):
        return ClientGone(str(exc))
    log.error("request %s failed", rid, exc_info=exc)
    return RouterBug(repr(exc))


# --- client side: the request is refused ------------------------------------

class BadRequest(RouterError):
    """Malformed or ambiguous request framing (possible smuggling)."""
    status = 400
    code = "H25"
    close = True


class URITooLong(BadRequest):
    status = 414


class HeadersTooLarge(BadRequest):
    status = 431


class BodyTooLarge(BadRequest):
    status = 413


class ClientTimeout(RouterError):
    """The client was too slow sending its request head or body (slowloris)."""
    status = 408
    code = "H28"
    close = True


class ClientGone(RouterError):
    """The client closed or reset its connection before the response was done."""
    status = 499
    code = "H27"
    close = True


# --- routing ----------------------------------------------------------------

class UnknownHost(RouterError):
    status = 404
    code = "H00"


class Maintenance(RouterError):
    status = 503
    code = "H80"


class NoBackends(RouterError):
    status = 503
    code = "H14"


class WakeTimeout(RouterError):
    """A scaled-to-zero app did not get a healthy instance within the timeout."""
    status = 503
    code = "H20"


# --- backend side: the instance misbehaved ------------------------------------

class BackendConnectFailed(RouterError):
    """No connection could be made; safe to retry on another instance."""
    status = 503
    code = "H21"


class BackendConnectTimeout(BackendConnectFailed):
    code = "H19"


class BackendTimeout(RouterError):
    """No first response byte within the timeout."""
    status = 504
    code = "H12"


class BackendClosed(RouterError):
    """The instance closed the connection without a (complete) response head."""
    status = 502
    code = "H13"


class BadResponse(RouterError):
    """The instance sent an invalid, oversized or ambiguous response head."""
    status = 502
    code = "H17"


class BackendInterrupted(RouterError):
    """The instance reset or stalled after the response had started."""
    status = 502
    code = "H18"
