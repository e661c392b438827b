"""A small JSON client for the paas API.

http.client directly, not urllib.request: the CLI's start is on every path users wait on (a scale,
`paas run`), and urllib.request imports much more than one request needs. A connection per request:
`paas run` sends input from one thread while another long-polls the output.
"""

import http.client
import json
from urllib.parse import quote as url_quote, urlsplit

from paas.platform.cli import credentials, trust
from paas.platform.cli.errors import ApiError, CliError

TIMEOUT_S = 60
UPLOAD_TIMEOUT_S = 900  # an image archive of a few GB, then its import, on the answer's side


class Api:
    def __init__(self, base_url: str | None = None, token: str | None = None):
        self.base_url = (base_url or credentials.api_url()).rstrip("/")
        self.token = token if token is not None else credentials.token()

    def request(self, method: str, path: str, body=None, *, auth: bool = True):
        if auth and not self.token:
            raise CliError("not logged in: run paas login (or set PAAS_TOKEN)")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return self.answer(method, path, data, headers, auth=auth)

    def upload(self, path: str, stream, size: int, content_type: str, *, timeout: float = UPLOAD_TIMEOUT_S):
        """POST a file's bytes as the body (streamed, not read into memory); the JSON answer."""
        if not self.token:
            raise CliError("not logged in: run paas login (or set PAAS_TOKEN)")
        headers = {"Accept": "application/json", "Content-Type": content_type, "Content-Length": str(size)}
        return self.answer("POST", path, stream, headers, timeout=timeout)

    def download(self, path: str, out, *, timeout: float = UPLOAD_TIMEOUT_S) -> int:
        """GET a file (an exported release) into the binary file `out`, streamed; the bytes written."""
        if not self.token:
            raise CliError("not logged in: run paas login (or set PAAS_TOKEN)")
        headers = {"Authorization": f"Bearer {self.token}"}
        status, reason, _, body = self.exchange("GET", "/api/" + path.lstrip("/"), None, headers, timeout=timeout,
                                                sink=out)
        if status >= 400:
            raise ApiError(error_message(body, status, reason), status)
        return body

    def answer(self, method: str, path: str, data, headers: dict, *, auth: bool = True, timeout: float = 0):
        if auth:
            headers["Authorization"] = f"Bearer {self.token}"
        status, reason, response_headers, payload = self.exchange(method, "/api/" + path.lstrip("/"), data, headers,
                                                                  timeout=timeout or TIMEOUT_S)
        if status >= 400:
            raise ApiError(error_message(payload, status, reason), status, retry_after(response_headers))
        return json.loads(payload) if payload else None

    def exchange(self, method: str, path: str, data, headers: dict, *, timeout: float = TIMEOUT_S,
                 sink=None) -> tuple:
        """One request on a connection of its own: (status, reason, headers, body). `sink`: a binary file
        a successful answer's body is streamed into; its size is then the body."""
        url = urlsplit(self.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise CliError(f"the paas API address {self.base_url!r} is not an http(s) URL")
        try:
            if url.scheme == "https":
                connection = http.client.HTTPSConnection(url.hostname, url.port, timeout=timeout,
                                                         context=trust.context(self.base_url))
            else:
                connection = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
        except ValueError as error:  # a port that is not a number
            raise CliError(f"the paas API address {self.base_url!r} is not valid: {error}") from None
        try:
            connection.request(method, url.path + path, body=data, headers=headers)
            response = connection.getresponse()
            if sink is not None and response.status < 400:
                return response.status, response.reason, response.headers, _stream(response, sink)
            return response.status, response.reason, response.headers, response.read()
        except (OSError, http.client.HTTPException) as error:
            raise CliError(f"cannot reach the paas API at {self.base_url}: {error}") from None
        finally:
            connection.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body if body is not None else {}, **kw)

    def patch(self, path, body, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


def _stream(response, sink) -> int:
    written = 0
    while chunk := response.read(1 << 20):
        sink.write(chunk)
        written += len(chunk)
    return written


def error_message(payload: bytes, status: int, reason: str) -> str:
    try:
        body = json.loads(payload)
        message = body.get("message") or body.get("error")
    except (ValueError, AttributeError):
        message = None
    return message or f"the API answered {status} {reason}"


def retry_after(headers) -> int | None:
    """The whole seconds of a Retry-After header (the API sends seconds), capped at a minute."""
    value = (headers.get("Retry-After") or "").strip() if headers else ""
    return min(int(value), 60) if value.isascii() and value.isdigit() and len(value) < 6 else None


def quote(part: str) -> str:
    return url_quote(str(part), safe="")
