"""The default sans-io HTTP/1.1 state for both sides of the proxy, without h11.

Same interface and the same strictness as ``h11proto`` (which runs h11 under the
same checks): every head goes through ``framing``, bodies through ``bodies``. It
exists because h11's generality costs about two thirds of the router's CPU per
request; the test suite runs the sans-io cases against both implementations.
"""

import re

from paas.router import errors
from paas.router.protocol import forwarding, native_heads
from paas.router.protocol.bodies import ChunkedBody, CloseBody, LengthBody, NoBody
from paas.router.protocol.events import Data, Request, ResponseHead
from paas.router.protocol.framing import _FIELDS, CRLF, Framing, HeadReader, char_tables, check_request, check_response

_NO_BODY = NoBody()
_CRLF = b"\r\n"
_SEP = b": "
# Header questions asked of a serialized head, lowercased once: C searches
# instead of a Python loop over the headers. Names are tokens and values hold
# no CR or LF, so CRLF + name + colon marks exactly a field with that name.
_TE_FIELD = b"\r\ntransfer-encoding:"
_CL_FIELD = b"\r\ncontent-length:"
_CONNECTION_CLOSE = re.compile(rb"\r\nconnection:[^\r]*close")


# --- the native checker's objects ----------------------------------------------
#
# native/heads.c checks a head, takes the framing decision and writes the head
# to forward in one call, and returns these objects filled in. The field list
# and Connection tokens it does not build: nothing on the proxying path needs
# them once the forwarded head is written, so they are read from the raw head
# with framing.py's own pattern, and only when something asks.


def _fields(raw: bytes) -> list:
    start = raw.find(CRLF)
    return [] if start < 0 else _FIELDS.findall(raw, start)


def _tokens(fields) -> frozenset:
    tokens = set()
    for name, value in fields:
        if name.lower() == b"connection":
            tokens.update(t.strip(b" \t") for t in value.lower().split(b","))
    return frozenset(tokens)


class NativeFraming(Framing):
    """A request's Framing as native/heads.c fills it (plus the head it wrote)."""

    __slots__ = ("raw", "upgrade", "wants_close")

    @property
    def headers(self) -> list:
        return _fields(self.raw)

    @property
    def connection(self) -> frozenset:
        return _tokens(_fields(self.raw))


class NativeRequest(Request):
    # Plain values the native check sets, where Request computes them.
    __slots__ = ("has_body", "is_upgrade")

    @property
    def headers(self) -> list:
        return self.framing.headers


class NativeResponseHead(ResponseHead):
    """A response head as native/heads.c fills it; ``client_head`` is the rewritten head."""

    __slots__ = ("version", "content_length", "chunked", "wants_close", "has_cl", "raw")

    @property
    def headers(self) -> list:
        return _fields(self.raw)

    @property
    def connection(self) -> frozenset:
        return _tokens(_fields(self.raw))


def _load_native():
    module = native_heads.load()
    if module is not None:
        # The character classes and header names come from the Python rules, not from C.
        module.setup(NativeRequest, NativeFraming, NativeResponseHead, char_tables(),
                     sorted(forwarding.HOP_BY_HOP), sorted(forwarding.REPLACED))
    return module


# The native module, or None for the Python path (tests switch it per case).
native = _load_native()
# Where the native path takes new request ids from when not from
# forwarding.new_request_id (tests set a predictable one).
request_ids = None


def serialize_head(start_line: bytes, headers) -> bytes:
    """A head with CRLF line ends only (names and values were validated)."""
    return _CRLF.join([start_line, *map(_SEP.join, headers), b"\r\n"])


def _no_body(data) -> bytes:
    return b""


def _chunk(data) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def _as_is(data):
    return data


def _encoder(chunked: bool, no_body: bool):
    if no_body:
        return _no_body
    if chunked:
        return _chunk
    return _as_is


class ClientConnection:
    """The client-facing side of one TCP connection, one request cycle at a time."""

    def __init__(self, limits, client_ip: str = "-", port: int = 0):
        self.limits = limits
        self._reader = self._new_reader()
        self._request: Request | None = None
        # As they go into X-Forwarded-For and X-Forwarded-Port (native path).
        self._fwd_ip = client_ip.encode()
        self._fwd_port = str(port).encode()
        self._reset_cycle()

    def _new_reader(self) -> HeadReader:
        return HeadReader(self.limits.request_line, self.limits.header_block,
                          errors.URITooLong, errors.HeadersTooLarge)

    def _reset_cycle(self) -> None:
        self._buf = bytearray()
        self._eof = False
        self._body = _NO_BODY
        self._body_bytes = 0
        self._our = "idle"          # idle -> body -> done
        self._close = False
        self._encode = None
        self._chunked_out = False

    @property
    def buffered(self) -> int:
        return len(self._reader.buffer) if self._request is None else 0

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the client closed its side."""
        if self._request is None:
            self._reader.feed(data)
        elif data:
            self._buf += data
        else:
            self._eof = True

    def next_request(self) -> Request | None:
        reader = self._reader
        if not reader.buffer:
            return None   # what poll answers too; the common case between requests
        req = NotImplemented
        if native is not None:
            # HeadReader.poll and the check in one call, on the reader's buffer.
            limits = self.limits
            req = native.request_from(reader.buffer, limits.request_line, limits.header_block,
                                      limits.header_count, limits.body, self._fwd_ip, self._fwd_port,
                                      request_ids or forwarding.new_request_id)
            if req is None:
                return None
        if req is NotImplemented:
            # No native module, or it leaves this head to Python: a limit or a
            # refusal (the Python check raises the precise error), leading
            # empty lines, a head past its capacities.
            head = reader.poll()
            if head is None:
                return None
            f = check_request(head, self.limits)
            req = Request(f.method, f.target, f.headers, f)
        else:
            f = req.framing
        self._request = req
        self._buf = self._reader.take_rest_buffer()
        if f.chunked:
            self._body = ChunkedBody(errors.BadRequest, errors.ClientGone)
        elif f.content_length:
            self._body = LengthBody(f.content_length, errors.ClientGone)
        self._close = f.wants_close
        return req

    def next_body_event(self):
        event = self._body.next(self._buf, self._eof)
        if type(event) is Data:
            self._body_bytes += len(event.data)
            if self._body_bytes > self.limits.body:
                raise errors.BodyTooLarge(f"body over {self.limits.body} bytes")
        return event

    @property
    def waiting_for_continue(self) -> bool:
        return (self._request.framing.expect_continue and self._request.framing.version == b"1.1"
                and self._body_bytes == 0 and not self._buf)

    @property
    def request_complete(self) -> bool:
        return self._body.done

    @property
    def can_respond(self) -> bool:
        return self._request is not None and self._our == "idle"

    def send_informational(self, status: int, headers) -> bytes:
        return serialize_head(b"HTTP/1.1 %d " % status, headers)

    def send_response(self, status: int, headers, reason: bytes = b"") -> bytes:
        # The head without its final CRLF CRLF; framing lines may follow.
        head = _CRLF.join([b"HTTP/1.1 %d %s" % (status, reason), *map(_SEP.join, headers)])
        lower = head.lower()
        return self._frame(head, status, _CL_FIELD in lower,
                           b"\r\nconnection:" in lower and _CONNECTION_CLOSE.search(lower) is not None)

    def send_proxied(self, event) -> bytes:
        """The head relaying an instance's response (``event``) to the client."""
        head = event.client_head
        if head is None:
            return self.send_response(event.status_code, forwarding.response_headers(event), event.reason)
        # The native rewrite dropped Connection (hop-by-hop): no "close" in it.
        return self._frame(head, event.status_code, event.has_cl, False)

    def relay_whole(self, bx, data: bytes):
        """(event, bytes for the client, body length) when ``data``, the instance's first
        read, is its whole response to this request; else None (the general path).

        One native call does what ``bx.next_head``, ``send_proxied``,
        ``bx.whole_body``, ``send_data`` and ``send_end`` do for a small
        Content-Length (or body-less) response, and leaves the same state.
        """
        if native is None or bx._hbuf or bx._body is not None or not data:
            return None
        req = self._request
        r = native.relay(data, bx._head_limit, req.method == b"HEAD", req.framing.version == b"1.0",
                         self._close)
        if r is None:
            return None
        event, out, sent, instance_close = r
        bx.got_bytes = True
        bx.status = event.status_code
        bx._body = _NO_BODY
        bx._close = instance_close
        self._encode = _as_is
        self._chunked_out = False
        self._our = "done"
        return event, out, sent

    def _frame(self, head: bytes, status: int, has_cl: bool, says_close: bool) -> bytes:
        """``head`` with the framing lines this client needs, and the body encoder."""
        req = self._request
        no_body = req.method == b"HEAD" or status in (204, 304) or status < 200
        extra = []
        chunked = False
        if not no_body and not has_cl:
            if req.framing.version == b"1.1":
                chunked = True
                extra.append(b"Transfer-Encoding: chunked")
            else:
                self._close = True   # HTTP/1.0 client: the body ends at close
        if says_close:
            self._close = True
        elif self._close:
            extra.append(b"Connection: close")
        elif req.framing.version == b"1.0":
            extra.append(b"Connection: keep-alive")
        self._encode = _encoder(chunked, no_body)
        self._chunked_out = chunked
        self._our = "body"
        if extra:
            return _CRLF.join([head, *extra, b"\r\n"])
        return head + b"\r\n\r\n"

    def send_data(self, data) -> bytes:
        return self._encode(data)

    def send_end(self) -> bytes:
        self._our = "done"
        return b"0\r\n\r\n" if self._chunked_out else b""

    def keep_alive(self) -> bool:
        return self._our == "done" and self._body.done and not self._close and not self._eof

    def close_after_response(self) -> None:
        """The response to the current request says ``Connection: close`` (if its head is not out
        yet) and the connection ends after it: a draining router's last word on this connection."""
        self._close = True

    def take_tunnel_bytes(self) -> bytes:
        rest = bytes(self._buf)
        self._buf.clear()
        return rest

    def start_next_cycle(self) -> None:
        rest = self._buf
        self._request = None
        self._reset_cycle()
        # The head reader gave its buffer away when the head was parsed: what
        # is left of it holds the next head (if any).
        self._reader.buffer = rest


class BackendExchange:
    """One request to an instance and its response, on a (pooled) connection."""

    def __init__(self, limits, method: bytes):
        # The response head's bytes until it is complete. The native check
        # reads them from here; a HeadReader over the same buffer is made
        # only when the Python path needs one (``_head_reader``).
        self._hbuf = bytearray()
        self._reader = None
        self._head_limit = limits.response_head
        self.method = method
        self.status = 0
        self.got_bytes = False
        self._buf = bytearray()
        self._eof = False
        self._body = None
        self._close = False
        self._request_done = False
        self._encode = None
        self._chunked_out = False

    def send_request(self, method: bytes, target: bytes, headers) -> bytes:
        head = serialize_head(method + b" " + target + b" HTTP/1.1", headers)
        self._chunked_out = _TE_FIELD in head.lower()
        self._encode = _encoder(self._chunked_out, False)
        return head

    def send_forwarded(self, req, *, client_ip: str, port: int, rid: str, upgrade: bool) -> bytes:
        """The head forwarding ``req`` (forwarding.request_headers' rewrite)."""
        f = req.framing
        head = f.upstream
        if head is None:
            return self.send_request(req.method, f.target, forwarding.request_headers(
                req, client_ip=client_ip, port=port, rid=rid, upgrade=upgrade))
        # Written by the native checker with the same rid, address and upgrade
        # choice (``req.is_upgrade``) the callers pass.
        self._chunked_out = f.chunked
        self._encode = _chunk if f.chunked else _as_is
        return head

    def send_bodyless(self, req, *, client_ip: str, port: int, rid: str) -> bytes:
        """``send_forwarded`` and ``send_end`` of a request without a body, in one step."""
        head = req.framing.upstream
        if head is None:
            head = self.send_forwarded(req, client_ip=client_ip, port=port, rid=rid, upgrade=False)
            return head + self.send_end()
        self._request_done = True
        return head

    def send_data(self, data) -> bytes:
        return self._encode(data)

    def send_end(self) -> bytes:
        self._request_done = True
        return b"0\r\n\r\n" if self._chunked_out else b""

    def _head_reader(self) -> HeadReader:
        reader = self._reader
        if reader is None:
            limit = self._head_limit
            reader = self._reader = HeadReader(limit, limit, errors.BadResponse, errors.BadResponse)
            reader.buffer = self._hbuf
        return reader

    def receive_data(self, data: bytes) -> None:
        if data:
            self.got_bytes = True
        if self._body is not None:
            if data:
                self._buf += data
            else:
                self._eof = True
        elif data:
            self._hbuf += data
        else:
            raise errors.BackendClosed("instance closed before a complete response head")

    def next_head(self):
        event = f = NotImplemented
        if native is not None:
            # HeadReader.poll and the check in one call, on the reader's buffer.
            limit = self._head_limit
            event = f = native.response_from(self._hbuf, limit, limit)
            if event is None:
                return None
        if event is NotImplemented:
            # No native module, or it leaves this head to Python: the size
            # limit or a refusal (the Python check raises the precise error),
            # leading empty lines, a head past its capacities.
            head = self._head_reader().poll()
            if head is None:
                return None
            f = check_response(head)
            event = ResponseHead(f.status, f.reason, f.headers, f.connection)
        status = event.status_code
        self.status = status
        if status < 200:
            return event   # 1xx: the final head follows; 101: a tunnel follows
        self._close = f.wants_close
        if self.method == b"HEAD" or status in (204, 304):
            self._body = _NO_BODY
        elif f.chunked:
            self._body = ChunkedBody(errors.BadResponse, errors.BackendInterrupted)
        elif f.content_length is not None:
            self._body = LengthBody(f.content_length, errors.BackendInterrupted)
        else:
            self._body = CloseBody()
            self._close = True
        # The rest of the head buffer starts the body; a new one for any next head.
        self._buf = self._hbuf
        self._hbuf = bytearray()
        if self._reader is not None:
            self._reader.buffer = self._hbuf
        return event

    def take_tunnel_bytes(self) -> bytes:
        rest = bytes(self._hbuf)
        self._hbuf.clear()
        return rest

    def next_body_event(self):
        return self._body.next(self._buf, self._eof)

    def whole_body(self):
        """The entire response body when it is already here, else None (use the events).

        A small Content-Length response usually arrives with its head in one
        read: this takes it in one step instead of a Data and an END event.
        Exactly the announced length must be buffered; anything else (more,
        less, chunked, close-delimited) goes through ``next_body_event``.
        """
        body = self._body
        if body is _NO_BODY:
            return b""
        if type(body) is LengthBody and len(self._buf) == body.remaining:
            data = self._buf
            self._buf = bytearray()
            body.remaining = 0
            body.done = True
            return data
        return None

    def reusable(self) -> bool:
        return (self._body is not None and self._body.done and self._request_done
                and not self._close and not self._buf and not self._eof)
