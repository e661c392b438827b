"""The few HTML pages the router itself serves (404, maintenance, errors)."""

from html import escape

_TITLES = {
    200: "OK", 301: "Moved Permanently", 308: "Permanent Redirect",
    400: "Bad Request", 404: "No such app", 408: "Request Timeout", 413: "Payload Too Large",
    414: "URI Too Long", 431: "Request Header Fields Too Large", 500: "Router Error",
    501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable",
    504: "Gateway Timeout", 505: "HTTP Version Not Supported",
}

_MESSAGES = {
    "H00": "There is no app at this address. Check the name, or add the domain with "
           "<code>paas domains:add</code>.",
    "H80": "This app is undergoing maintenance. Please check back soon.",
    "H14": "This app has no running instances right now.",
    "H20": "This app is starting up and did not become ready in time. Please retry.",
}


def reason(status: int) -> bytes:
    return _TITLES.get(status, "Error").encode()


def render(status: int, code: str, request_id: str, host: str = "") -> bytes:
    """A small self-contained page naming the error code and request id."""
    title = _TITLES.get(status, "Error")
    message = _MESSAGES.get(code, "The application could not serve this request.")
    where = f" at {escape(host)}" if host and code == "H00" else ""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{status} {title}</title></head>\n<body>\n"
        f"<h1>{title}{where}</h1>\n<p>{message}</p>\n"
        f"<p><small>code={code} request_id={escape(request_id)}</small></p>\n"
        "</body></html>\n"
    ).encode()
