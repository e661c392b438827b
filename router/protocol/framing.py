"""The platform's own rules over a parsed head, sans-io: fields in, a verdict out.

llhttp (``http1.py``) parses the bytes and refuses what is not HTTP/1.1 syntax,
strictly: it runs with none of its leniencies, so obs-fold lines, bare CR or LF,
NUL and other control bytes, malformed or duplicate Content-Length, Content-Length
beside Transfer-Encoding and malformed chunk sizes are parse errors. What a proxy
must refuse beyond the syntax lives here, once: anything that lets a front end and
a back end disagree on where a message ends (request smuggling) or on which app it
is for. A refusal is 400 (then close) for a request and 502 for an instance's
response.
"""

import functools
import re

from paas.router import errors

# An X-Request-Id the router passes on rather than replaces (forwarding.py).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9+/=._\-]{20,200}")
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")
_ABSOLUTE = re.compile(rb"[hH][tT][tT][pP][sS]?://([^/?#]+)([^#]*)")
_HOST_LINE = re.compile(rb"\r\n[Hh][Oo][Ss][Tt]:[ \t]*([^\r\n \t]{1,255})")
_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}
_NO_TOKENS = frozenset()


class Framing:
    """What the checks learned about a head's message framing.

    A plain slotted class rather than a dataclass: one is made per head.
    """

    __slots__ = ("content_length", "chunked", "host", "target", "version", "status", "reason",
                 "method", "header_count", "headers", "names", "connection", "expect_continue", "request_id")

    def __init__(self, target: bytes = b"", version: bytes = b"1.1", header_count: int = 0,
                 method: bytes = b"", status: int = 0, reason: bytes = b""):
        self.content_length: int | None = None
        self.chunked = False
        self.host = b""
        self.target = target          # origin-form; absolute-form is rewritten
        self.version = version
        self.status = status          # responses only
        self.reason = reason          # responses only
        self.method = method          # requests only
        self.header_count = header_count
        self.headers: list = []       # [(name, value)], value trimmed
        self.names: list = []         # the names of ``headers``, lowercased (once per head)
        self.connection = _NO_TOKENS  # Connection tokens, lowercased
        self.expect_continue = False
        self.request_id = b""         # the first sane X-Request-Id (requests only)

    @property
    def wants_close(self) -> bool:
        """The sender asks for the connection to close after this message."""
        if self.version == b"1.0":
            return b"keep-alive" not in self.connection
        return b"close" in self.connection


def version_of(version: str, error) -> bytes:
    """b"1.1" or b"1.0" for the version llhttp read ("1.1"); any other version is refused."""
    version = _VERSIONS.get(version)
    if version is None:
        raise error("unsupported HTTP version")
    return version


def _check_framing(fields, names, framing: Framing, error, *, want_host: bool) -> None:
    """Record the framing headers among ``fields`` (name, value), refusing ambiguity.

    ``names`` are the fields' names lowercased, in the same order. Most fields are
    none of the ones read here: one set lookup passes them.
    """
    hosts = 0
    for lname, (_, value) in zip(names, fields):
        if lname not in _WATCHED:
            continue
        if lname == b"host":
            if want_host:
                hosts += 1
                framing.host = value
        else:
            _FIELD_RULES[lname](value, framing, error)
    if framing.chunked and framing.content_length is not None:
        raise error("both Content-Length and Transfer-Encoding")
    if want_host and hosts != 1:
        raise error("missing Host" if hosts == 0 else "repeated Host")


def _transfer_encoding(value: bytes, framing: Framing, error) -> None:
    if framing.chunked:
        # Only "chunked" is accepted, so a second Transfer-Encoding field is this one repeated.
        raise error("repeated Transfer-Encoding")
    if value.lower() != b"chunked":
        raise error("unsupported Transfer-Encoding")
    framing.chunked = True


def _content_length(value: bytes, framing: Framing, error) -> None:
    # bytes.isdigit is ASCII digits only; 18 digits keep the number a machine word.
    if not (value.isdigit() and len(value) <= 18):
        raise error("malformed Content-Length")
    length = int(value)
    if framing.content_length is not None and framing.content_length != length:
        raise error("conflicting Content-Length")
    framing.content_length = length


def _connection(value: bytes, framing: Framing, error) -> None:
    if b"," in value:
        tokens = {t.strip(b" \t") for t in value.lower().split(b",")}
    else:   # the usual "keep-alive" or "close": one token, no list to split
        tokens = {value.strip(b" \t").lower()}
    framing.connection = framing.connection | tokens if framing.connection else tokens


def _expect(value: bytes, framing: Framing, error) -> None:
    if value.lower() == b"100-continue":
        framing.expect_continue = True


def _request_id(value: bytes, framing: Framing, error) -> None:
    if not framing.request_id and _REQUEST_ID.fullmatch(value):
        framing.request_id = value


# The other fields the checks read, by lowercased name.
_FIELD_RULES = {b"transfer-encoding": _transfer_encoding, b"content-length": _content_length,
                b"connection": _connection, b"expect": _expect,
                b"x-request-id": _request_id}
_WATCHED = frozenset(_FIELD_RULES) | {b"host"}


def check_request(method: bytes, target: bytes, version: bytes, fields: list, names: list) -> Framing:
    """The platform's rules over a request head llhttp parsed; a 400-family error on any doubt.

    The size limits (request line, head, field count) are enforced while it is parsed (``http1``); the body's,
    which depends on the route, once the request is routed (``http1.ClientConnection.limit_body``).
    """
    # Positional: keyword arguments cost more on a call made per head.
    framing = Framing(target, version, len(fields), method)
    framing.headers = fields
    framing.names = names
    _check_framing(fields, names, framing, errors.BadRequest, want_host=True)
    if framing.chunked and version == b"1.0":
        raise errors.BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    if method == b"CONNECT":
        raise errors.BadRequest("CONNECT is not supported")
    _resolve_target(framing, method)
    if not _host_ok(framing.host):
        raise errors.BadRequest("malformed Host")
    return framing


@functools.lru_cache(maxsize=4096)   # clients send the same few Host values again and again
def _host_ok(host: bytes) -> bool:
    """``_HOST.fullmatch(host)``, remembered per value (bounded: any client chooses the values)."""
    return _HOST.fullmatch(host) is not None


def guess_host(head: bytes) -> bytes:
    """The first Host value of a refused head, for logging only (never routing)."""
    m = _HOST_LINE.search(head)
    return m.group(1) if m else b""


def _resolve_target(framing: Framing, method: bytes) -> None:
    target = framing.target
    if target[:1] == b"/":
        return
    if target == b"*" and method == b"OPTIONS":
        return
    m = _ABSOLUTE.fullmatch(target)
    if not m:
        raise errors.BadRequest("malformed request target")
    # RFC 9112 3.2.2: with an absolute-form target the URI's authority is the
    # host, whatever the Host header says.
    framing.host = m.group(1)
    path = m.group(2)
    framing.target = path if path[:1] == b"/" else b"/" + path


def check_response(version: bytes, status: int, reason: bytes, fields: list, names: list) -> Framing:
    """The platform's rules over an instance's response head llhttp parsed; BadResponse (502)."""
    framing = Framing(b"", version, len(fields), b"", status, reason)
    framing.headers = fields
    framing.names = names
    _check_framing(fields, names, framing, errors.BadResponse, want_host=False)
    return framing
