"""The control plane's domain errors, each carrying the HTTP status it maps to.

This is the one place where a domain failure meets HTTP: the API's error
middleware turns any PlatformError into ``{"error": code, "message": ...}`` with
``status``. Services raise these; views never build error responses themselves.
"""


class PlatformError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(PlatformError):
    status = 400
    code = "bad_request"


class Unauthorized(PlatformError):
    status = 401
    code = "unauthorized"


class Forbidden(PlatformError):
    status = 403
    code = "forbidden"


class NotFound(PlatformError):
    status = 404
    code = "not_found"


class Conflict(PlatformError):
    status = 409
    code = "conflict"


class Invalid(PlatformError):
    """Well-formed input that breaks a rule (a bad name, an unknown process type)."""

    status = 422
    code = "invalid"


class PayloadTooLarge(PlatformError):
    """A request body over the API's limit, refused before it is parsed."""

    status = 413
    code = "payload_too_large"


class TooManyRequests(PlatformError):
    """Slow down: answered with Retry-After."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message, details={"retry_after_s": retry_after})
        self.retry_after = retry_after


class Unavailable(PlatformError):
    status = 503
    code = "unavailable"
