"""API endpoints: one URL, its handlers by method, its auth and its OpenAPI entry.

Handlers take ``(request, **path_params)`` and return data (dict or list) or a
``(status, data)`` pair; they raise PlatformError for failures. The wrapper does
the rest the same way for every endpoint, in this order: the body's declared size
(before anything is read), authentication and scope, path and query parameters
(before any lookup), the JSON body, then the handler; JSON out.
"""

import re
from dataclasses import dataclass, field

from django.http import JsonResponse
from django.http.response import HttpResponseBase
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from paas.platform.api.auth import authenticate_request
from paas.platform.api.body import BODYLESS_METHODS, MAX_BODY_BYTES, check_declared_size, read_json_body
from paas.platform.api.errors import error_response
from paas.platform.api.params import PATH_CHECKS, check_path_params, check_query

ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


@dataclass
class Endpoint:
    route: str
    handlers: dict
    public: bool = False
    tag: str = ""
    name: str = field(default="")

    def __post_init__(self):
        unchecked = set(ROUTE_PARAM.findall(self.route)) - PATH_CHECKS.keys()
        if unchecked:
            raise LookupError(f"route {self.route!r}: no check in api/params.py for {', '.join(sorted(unchecked))}")

    # A body this large is read only from a caller whose token checks out (platform/bodycap.py).
    token_before_body = False

    def url(self):
        view = csrf_exempt(self.view)
        # platform/bodycap.py holds the body to these before Django reads a byte of it.
        view.body_limit, view.token_before_body = self.body_limit, self.token_before_body
        return path(self.route, view, name=self.name or None)

    def body_limit(self) -> int:
        return MAX_BODY_BYTES

    def view(self, request, **params):
        refused = self.refuse_method(request)
        if refused is not None:
            return refused
        self.prepare(request, params)
        return self.respond(self.handlers[request.method](request, **params))

    def refuse_method(self, request):
        """A 405 response when no handler takes the request's method, else None."""
        if request.method in self.handlers:
            return None
        allowed = ", ".join(sorted(self.handlers))
        response = error_response(405, "method_not_allowed", f"{request.method} is not allowed here; use {allowed}")
        response["Allow"] = allowed
        return response

    def prepare(self, request, params: dict) -> None:
        """Everything before the handler, the same for every endpoint (long polls too): size, auth, path,
        query, body."""
        check_declared_size(request, self.body_limit())
        if not self.public:
            token = authenticate_request(request)
            request.user = token.user
            request.token = token
        check_path_params(params)
        check_query(request)
        request.data = parse_body(request)

    @staticmethod
    def respond(result):
        """A handler's data, ``(status, data)`` or own response, as the HTTP response."""
        if isinstance(result, HttpResponseBase):
            return result  # a handler that streams a file answers for itself
        status, data = result if isinstance(result, tuple) else (200, result)
        if status == 204:
            return JsonResponse({}, status=204)
        return JsonResponse(data, status=status, safe=False)


class UploadEndpoint(Endpoint):
    """An endpoint whose POST body is a file (an image archive), not JSON: its declared size is
    checked against the setting named ``limit`` and it is left unread for the handler to stream."""

    token_before_body = True

    def __init__(self, route: str, handlers: dict, *, limit: str, **kw):
        super().__init__(route, handlers, **kw)
        self.limit = limit

    def body_limit(self) -> int:
        from django.conf import settings

        return getattr(settings, self.limit)

    def prepare(self, request, params: dict) -> None:
        check_declared_size(request, self.body_limit())
        token = authenticate_request(request)
        request.user, request.token = token.user, token
        check_path_params(params)
        check_query(request)
        request.data = {}


def parse_body(request):
    if request.method in BODYLESS_METHODS and not request.body:
        return {}
    return read_json_body(request)


def body_schema(schema: dict):
    """Declare the JSON body a handler accepts, for the OpenAPI description."""

    def mark(handler):
        handler.body_schema = schema
        return handler

    return mark
