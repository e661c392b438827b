"""A small JSON client for the paas API."""

import json
import urllib.error
import urllib.parse
import urllib.request

from paas.platform.cli import credentials
from paas.platform.cli.errors import ApiError, CliError

TIMEOUT_S = 60


class Api:
    def __init__(self, base_url: str | None = None, token: str | None = None):
        self.base_url = (base_url or credentials.api_url()).rstrip("/")
        self.token = token if token is not None else credentials.token()

    def request(self, method: str, path: str, body=None, *, auth: bool = True):
        if auth and not self.token:
            raise CliError("not logged in: run paas login (or set PAAS_TOKEN)")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base_url + "/api/" + path.lstrip("/"), data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(error_message(error), error.code, retry_after(error)) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CliError(f"cannot reach the paas API at {self.base_url}: {reason}") from None
        return json.loads(payload) if payload else None

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def error_message(error) -> str:
    try:
        body = json.loads(error.read())
        message = body.get("message") or body.get("error")
    except (ValueError, AttributeError):
        message = None
    return message or f"the API answered {error.code} {error.reason}"


def retry_after(error) -> int | None:
    """The whole seconds of a Retry-After header (the API sends seconds), capped at a minute."""
    value = (error.headers.get("Retry-After") or "").strip() if error.headers else ""
    return min(int(value), 60) if value.isascii() and value.isdigit() and len(value) < 6 else None


def quote(part: str) -> str:
    return urllib.parse.quote(str(part), safe="")
