"""Turning failures into JSON: the one place domain errors become HTTP responses."""

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import JsonResponse

from paas.platform.exceptions import PlatformError

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
REASONS = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
           413: "payload_too_large"}


def error_response(status: int, code: str, message: str, details: dict | None = None) -> JsonResponse:
    body = {"error": code, "message": message}
    if details:
        body["details"] = details
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="paas"'
    return response


def platform_error_response(error: PlatformError) -> JsonResponse:
    response = error_response(error.status, error.code, error.message, error.details)
    if hasattr(error, "retry_after"):
        response["Retry-After"] = str(error.retry_after)
    return response


class JsonErrorMiddleware:
    """Under /api/, every error is JSON: domain errors, unknown URLs, and crashes.

    A crash is logged with its traceback here and answered with a plain message,
    so no HTML debug page or stack trace ever reaches an API client.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and response.status_code >= 400 and not is_json(response):
            status = response.status_code
            return error_response(status, REASONS.get(status, "error"), default_message(request, status))
        return response

    def process_exception(self, request, exception):
        if isinstance(exception, PlatformError):
            return platform_error_response(exception)
        if not request.path.startswith(API_PREFIX):
            return None
        # Django's own refusals of a request (a body over DATA_UPLOAD_MAX_MEMORY_SIZE, too
        # many query fields): the client's fault, answered without echoing what was sent.
        if isinstance(exception, RequestDataTooBig):
            return error_response(413, "payload_too_large", "request body is too large")
        if isinstance(exception, SuspiciousOperation):
            return error_response(400, "bad_request", "the request was refused as malformed")
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "the platform hit an internal error; it has been logged")


def is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def default_message(request, status: int) -> str:
    if status == 404:
        return f"no API endpoint at {request.path}"
    if status == 405:
        return f"{request.method} is not allowed on {request.path}"
    return f"request failed with status {status}"
