"""Strict HTTP/1.1 head checks, sans-io: bytes in, a verdict out.

h11 parses the heads the router forwards, but it is lenient where a proxy must not
be: it unfolds obs-fold lines, accepts bare LF line ends, ignores a repeated Host,
and lets Transfer-Encoding silently win over Content-Length. Each of those lets a
front end and a back end disagree on where a request ends (request smuggling), so
every head passes through here first and is refused (400, then close) on any
ambiguity. The same rules, with 502 instead of 400, apply to instances' responses.
"""

import re

from paas.router import errors

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE_RE = rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP/1\.([01])"
_STATUS_LINE_RE = rb"HTTP/1\.([01]) ([1-9][0-9][0-9])(?: ([\t\x20-\x7e\x80-\xff]*))?"
_REQUEST_LINE = re.compile(_REQUEST_LINE_RE)
_STATUS_LINE = re.compile(_STATUS_LINE_RE)
# Field values may hold HTAB, visible ASCII and obs-text; every other control
# byte (NUL above all) is refused rather than passed on.
_BAD_VALUE_BYTE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# Possessive quantifiers throughout: OWS on both sides of an empty value would
# otherwise make a line of spaces quadratic to reject (a ReDoS).
_VALUE_RE = rb"((?:[\x21-\x7e\x80-\xff]++(?:[ \t]++[\x21-\x7e\x80-\xff]++)*+)?)"
_FIELD_RE = rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]++):[ \t]*+" + _VALUE_RE + rb"[ \t]*+"
_FIELD_LINE = re.compile(_FIELD_RE)
# The fast check (see _fast_head): a whole head in one match. A field line
# ends at CRLF or at the end of the head, as its value bytes exclude CR and LF.
_REQUEST_HEAD = re.compile(_REQUEST_LINE_RE + rb"(?:\r\n" + _FIELD_RE + rb")*+")
_RESPONSE_HEAD = re.compile(_STATUS_LINE_RE + rb"(?:\r\n" + _FIELD_RE + rb")*+")
_FIELDS = re.compile(rb"\r\n" + _FIELD_RE)
_HOST_LINE = re.compile(rb"\r\n[Hh][Oo][Ss][Tt]:[ \t]*([^\r\n \t]{1,255})")
_DIGITS = re.compile(rb"[0-9]{1,18}")
# An X-Request-Id the router passes on rather than replaces (forwarding.py).
_REQUEST_ID = re.compile(rb"[A-Za-z0-9+/=._\-]{20,200}")
_HOST = re.compile(rb"(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{0,5})?")
_ABSOLUTE = re.compile(rb"[hH][tT][tT][pP][sS]?://([^/?#]+)([^#]*)")

CRLF = b"\r\n"
HEAD_END = b"\r\n\r\n"


def char_tables() -> tuple[bytes, bytes, bytes, bytes]:
    """The character classes of the patterns above as 256-byte tables (1: allowed), read off
    the compiled patterns themselves: token, field-value byte (without SP and HTAB), Host
    reg-name, X-Request-Id. The compiled head checker gets its classes from here."""
    one = [bytes([c]) for c in range(256)]
    return (bytes(_TOKEN.fullmatch(b) is not None for b in one),
            bytes(b not in b" \t" and _FIELD_LINE.fullmatch(b"a:" + b) is not None for b in one),
            bytes(_HOST.fullmatch(b) is not None and b != b":" for b in one),
            bytes(_REQUEST_ID.fullmatch(b * 20) is not None for b in one))


class HeadReader:
    """Collects bytes until a complete head, enforcing size limits as they arrive.

    The limits hold however the bytes are split across reads: a request line that
    is already too long is refused before its end arrives.
    """

    def __init__(self, line_limit: int, head_limit: int, line_error, head_error):
        self.buffer = bytearray()
        self._line_limit = line_limit
        self._head_limit = head_limit
        self._line_error = line_error
        self._head_error = head_error

    def feed(self, data: bytes) -> None:
        self.buffer += data

    def poll(self) -> bytes | None:
        """The head (without its final blank line) once complete, else None."""
        buf = self.buffer
        if not buf:
            return None
        # RFC 9112 2.2: ignore empty lines before a request line (old clients
        # send a CRLF after a POST body).
        while buf[:2] == CRLF:
            del buf[:2]
        end = buf.find(HEAD_END)
        line_end = buf.find(CRLF)
        first_line = line_end if line_end >= 0 else len(buf)
        if first_line > self._line_limit:
            raise self._line_error(f"first line longer than {self._line_limit} bytes")
        if end < 0:
            if len(buf) > self._head_limit:
                raise self._head_error(f"head longer than {self._head_limit} bytes")
            return None
        if end + 4 > self._head_limit:
            raise self._head_error(f"head longer than {self._head_limit} bytes")
        head = bytes(buf[:end])
        del buf[: end + 4]
        return head

    def take_rest_buffer(self) -> bytearray:
        """``take_rest`` without a copy: the buffer itself, replaced by a new one."""
        rest = self.buffer
        self.buffer = bytearray()
        return rest

    def take_rest(self) -> bytes:
        """Bytes after the head (start of a body or of pipelined requests)."""
        rest = bytes(self.buffer)
        self.buffer.clear()
        return rest


_NO_TOKENS = frozenset()


class Framing:
    """What the strict check learned about a head's message framing.

    A plain slotted class rather than a dataclass: one is made per head.
    """

    __slots__ = ("content_length", "chunked", "host", "target", "version", "status", "reason",
                 "method", "header_count", "headers", "connection", "expect_continue", "request_id",
                 "rid", "upstream")

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
        self.connection = _NO_TOKENS  # Connection tokens, lowercased
        self.expect_continue = False
        self.request_id = b""         # the first sane X-Request-Id (requests only)
        # Set by the native checker (fastproto.NativeFraming) only: the request
        # id it chose and the head it wrote for the instance.
        self.rid: str | None = None
        self.upstream: bytes | None = None

    @property
    def wants_close(self) -> bool:
        """The sender asks for the connection to close after this message."""
        if self.version == b"1.0":
            return b"keep-alive" not in self.connection
        return b"close" in self.connection


def _split_lines(head: bytes, error) -> list[bytes]:
    if b"\x00" in head:
        raise error("NUL byte in head")
    lines = head.split(CRLF)
    for line in lines:
        # After splitting on CRLF, any CR or LF left is a bare one.
        if b"\r" in line:
            raise error("bare CR in head")
        if b"\n" in line:
            raise error("bare LF in head")
    return lines


def _line_error(line: bytes, error):
    """The most telling error for a header line the field regex refused."""
    if line[:1] in (b" ", b"\t"):
        return error("obs-fold header line")
    name, sep, value = line.partition(b":")
    if sep and _TOKEN.fullmatch(name) and _BAD_VALUE_BYTE.search(value):
        return error("control byte in header value")
    return error("malformed header line")


def _check_fields(lines: list[bytes], framing: Framing, error, *, want_host: bool) -> None:
    """Validate header lines one by one and record them (the precise, slow check)."""
    for line in lines:
        m = _FIELD_LINE.fullmatch(line)
        if m is None:
            raise _line_error(line, error)
        framing.headers.append(m.groups())
    _check_framing(framing.headers, framing, error, want_host=want_host)


def _check_framing(fields, framing: Framing, error, *, want_host: bool) -> None:
    """Record the framing headers among ``fields`` (name, value), refusing ambiguity."""
    hosts = 0
    te_seen = False
    for name, value in fields:
        lname = name.lower()
        if lname == b"host":
            if want_host:
                hosts += 1
                framing.host = value
        elif lname == b"transfer-encoding":
            if te_seen:
                raise error("repeated Transfer-Encoding")
            te_seen = True
            _transfer_encoding(value, framing, error)
        else:
            rule = _FIELD_RULES.get(lname)
            if rule is not None:
                rule(value, framing, error)
    if framing.chunked and framing.content_length is not None:
        raise error("both Content-Length and Transfer-Encoding")
    if want_host and hosts != 1:
        raise error("missing Host" if hosts == 0 else "repeated Host")


def _transfer_encoding(value: bytes, framing: Framing, error) -> None:
    if value.lower() != b"chunked":
        raise error("unsupported Transfer-Encoding")
    framing.chunked = True


def _content_length(value: bytes, framing: Framing, error) -> None:
    if not _DIGITS.fullmatch(value):
        raise error("malformed Content-Length")
    length = int(value)
    if framing.content_length is not None and framing.content_length != length:
        raise error("conflicting Content-Length")
    framing.content_length = length


def _connection(value: bytes, framing: Framing, error) -> None:
    tokens = {t.strip(b" \t") for t in value.lower().split(b",")}
    framing.connection = framing.connection | tokens if framing.connection else tokens


def _expect(value: bytes, framing: Framing, error) -> None:
    if value.lower() == b"100-continue":
        framing.expect_continue = True


def _request_id(value: bytes, framing: Framing, error) -> None:
    if not framing.request_id and _REQUEST_ID.fullmatch(value):
        framing.request_id = value


# The other fields the strict check reads, by lowercased name.
_FIELD_RULES = {b"content-length": _content_length, b"connection": _connection, b"expect": _expect,
                b"x-request-id": _request_id}


def _fast_head(pattern, head: bytes):
    """(start-line match, fields) when the whole head is well formed, else None.

    One regex match validates every line and a second collects the fields: a
    few C calls instead of a split and a match per line. It accepts exactly the
    heads the line-by-line check accepts (same patterns, CRLF-separated), so on
    None the caller runs that check, which raises the precise error.
    """
    m = pattern.fullmatch(head)
    if m is None:
        return None
    start = head.find(CRLF)
    if start < 0:
        return m, []
    return m, _FIELDS.findall(head, start)


def check_request(head: bytes, limits) -> Framing:
    """Strictly validate a request head; raise a 400-family error on any doubt.

    The refused head rides on the error (``exc.head``) so the edge can still
    log the refusal to the app it was meant for.
    """
    try:
        return _check_request(head, limits)
    except errors.RouterError as exc:
        exc.head = head
        raise


def guess_host(head: bytes) -> bytes:
    """The first Host value of a refused head, for logging only (never routing)."""
    m = _HOST_LINE.search(head)
    return m.group(1) if m else b""


def _check_request(head: bytes, limits) -> Framing:
    fast = _fast_head(_REQUEST_HEAD, head)
    if fast is not None:
        m, fields = fast
        method, target, minor = m.group(1, 2, 3)
        if len(fields) > limits.header_count:
            raise errors.HeadersTooLarge(f"more than {limits.header_count} header fields")
        framing = Framing(target=target, version=b"1." + minor, header_count=len(fields), method=method)
        framing.headers = fields
        _check_framing(fields, framing, errors.BadRequest, want_host=True)
    else:
        lines = _split_lines(head, errors.BadRequest)
        m = _REQUEST_LINE.fullmatch(lines[0])
        if not m:
            raise errors.BadRequest("malformed request line")
        method, target, minor = m.groups()
        if len(lines) - 1 > limits.header_count:
            raise errors.HeadersTooLarge(f"more than {limits.header_count} header fields")
        framing = Framing(target=target, version=b"1." + minor, header_count=len(lines) - 1, method=method)
        _check_fields(lines[1:], framing, errors.BadRequest, want_host=True)
    if framing.chunked and minor == b"0":
        raise errors.BadRequest("Transfer-Encoding in an HTTP/1.0 request")
    if method == b"CONNECT":
        raise errors.BadRequest("CONNECT is not supported")
    _resolve_target(framing, method)
    if not _HOST.fullmatch(framing.host):
        raise errors.BadRequest("malformed Host")
    if framing.content_length is not None and framing.content_length > limits.body:
        raise errors.BodyTooLarge(f"Content-Length over {limits.body}")
    return framing


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


def check_response(head: bytes) -> Framing:
    """Strictly validate an instance's response head; raise BadResponse (502)."""
    fast = _fast_head(_RESPONSE_HEAD, head)
    if fast is not None:
        m, fields = fast
        framing = Framing(version=b"1." + m.group(1), status=int(m.group(2)), reason=m.group(3) or b"")
        framing.headers = fields
        _check_framing(fields, framing, errors.BadResponse, want_host=False)
        return framing
    lines = _split_lines(head, errors.BadResponse)
    m = _STATUS_LINE.fullmatch(lines[0])
    if not m:
        raise errors.BadResponse("invalid status line")
    framing = Framing(version=b"1." + m.group(1), status=int(m.group(2)), reason=m.group(3) or b"")
    _check_fields(lines[1:], framing, errors.BadResponse, want_host=False)
    return framing
