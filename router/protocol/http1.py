"""The router's HTTP/1.1, sans-io, on llhttp (the ``httptools`` binding): both sides of the proxy.

``ClientConnection`` is the router acting as a server towards a browser;
``BackendExchange`` is one request/response with an instance. llhttp does the
parsing and the body framing (Content-Length, chunked, upgrade) and refuses any
syntax it does not accept; it runs with all of its leniencies off. The platform's
own rules run once over each parsed head (``framing.py``); the header rewrite is
``forwarding.py``. Nothing here touches a socket or a clock: bytes in, events out,
bytes to send.

llhttp parses everything it is fed, pipelined requests included: what it reports
(heads, body pieces, message ends, errors) waits in a queue, in order, and the
asyncio layer takes it one request cycle at a time.
"""

from collections import deque

import httptools

from paas.router import errors
from paas.router.protocol import forwarding
from paas.router.protocol.events import END, NEED_DATA, Data, Request, ResponseHead
from paas.router.protocol.framing import check_request, check_response, version_of

_CRLF = b"\r\n"
_SEP = b": "
_OWS = b" \t"
_NO_BODY_STATUS = (204, 304)
_CL_FIELD = b"\r\ncontent-length:"
_TE_FIELD = b"\r\ntransfer-encoding:"


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


class _Parsed:
    """Collects llhttp's callbacks for one side of a connection into a queue of events.

    Items: a head (Request or ResponseHead), body bytes, END, or the RouterError
    that stopped the parser. Head limits are enforced here (llhttp has none): on
    each complete head, and on every byte fed while a head is still incomplete.
    """

    def __init__(self, line_limit: int, head_limit: int, line_error, head_error, count_limit: int):
        self.queue = deque()
        self.line_limit = line_limit
        self.head_limit = head_limit
        self.line_error = line_error
        self.head_error = head_error
        self.count_limit = count_limit
        self.fields = []
        self.names = []        # the fields' names lowercased: once here, for the rules and the rewrite
        self.url = b""
        self.reason = b""
        self.size = 0
        self.open = False      # a head has begun and is not complete
        self.began = False     # ... and it began in the bytes being fed
        self.known = 0         # body bytes of the current feed
        self.done = []         # the heads completed in the current feed (their pieces)
        self.fed = 0           # the length of the current feed
        self.error = None      # what a callback raised (httptools wraps it)
        self.complete = False  # the last message llhttp began has ended

    def on_message_begin(self) -> None:
        self.complete = False
        self.fields = []
        self.names = []
        self.url = self.reason = b""
        self.size = 0
        self.open = self.began = True

    def on_url(self, part: bytes) -> None:
        self.url += part
        if len(self.url) > self.line_limit:
            raise self._stop(self.line_error(f"first line longer than {self.line_limit} bytes"))

    def on_status(self, part: bytes) -> None:
        self.reason += part

    def on_header(self, name: bytes, value: bytes) -> None:
        # llhttp keeps the trailing whitespace of a value; the field value does not include it.
        # Called for every field of every head: the limits are checked once per head (head_done).
        self.fields.append((name, value.rstrip(_OWS)))
        self.names.append(name.lower())

    def on_body(self, data: bytes) -> None:
        self.known += len(data)
        self.queue.append(data)

    def head_done(self) -> None:
        """The head is complete: its limits, then the bytes it took of the current read."""
        self.open = False
        fields = self.fields
        if len(fields) > self.count_limit:
            raise self._stop(self.head_error(f"more than {self.count_limit} header fields"))
        # Its bytes: what earlier reads brought of it (``size``) and at most the whole current
        # read. Only when that bound is past the limit are the parsed pieces added up.
        piece = (self.url, self.reason, fields)
        if self.size + self.fed > self.head_limit and _head_size(piece) > self.head_limit:
            raise self._stop(self.head_error(f"head longer than {self.head_limit} bytes"))
        self.done.append(piece)

    def on_message_complete(self) -> None:
        self.complete = True
        self.queue.append(END)

    def _stop(self, exc):
        self.error = exc
        return exc

    def raw_head(self, start: bytes) -> bytes:
        """The head as far as it was parsed: refusals are logged to the app its Host names."""
        return _CRLF.join([start, *map(_SEP.join, self.fields)])

    def count_open(self, fed: int) -> None:
        """Bound a head still incomplete after a read: every byte of it counts.

        llhttp gives no offsets, so a head that began in this read is counted as
        the read less what earlier messages took of it (their bodies and heads);
        chunk-size lines are not subtracted, which can only count too much.
        """
        if not self.open:
            return
        if self.began:
            earlier = self.known + sum(map(_head_size, self.done))
            self.size = max(self.size, fed - earlier)
        else:
            self.size += fed
        if self.size > self.head_limit:
            raise self.head_error(f"head longer than {self.head_limit} bytes")


def _head_size(piece) -> int:
    """The bytes of a parsed head, from its pieces (the OWS around values is not counted)."""
    url, reason, fields = piece
    return len(url) + len(reason) + 16 + sum(len(n) + len(v) + 4 for n, v in fields)


def _feed(parser, parsed: _Parsed, data: bytes, error):
    """Feed llhttp; None, or the offset where a protocol switch leaves HTTP."""
    parsed.began = False
    parsed.known = 0
    parsed.done = []
    parsed.fed = len(data)
    try:
        parser.feed_data(data)
    except httptools.HttpParserUpgrade as switch:
        return switch.args[0]
    except httptools.HttpParserCallbackError as exc:
        # A limit or a rule raised in a callback; anything else is the router's own fault.
        failure = parsed.error or errors.classify(exc.__context__ or exc)
        parsed.error = None
        raise failure from None
    except httptools.HttpParserError as exc:
        # llhttp's own refusal: its reason names what was wrong ("Duplicate Content-Length").
        raise error(str(exc) or "malformed message") from None
    if parsed.open:
        parsed.count_open(len(data))
    return None


class _RequestSide(_Parsed):
    def __init__(self, conn):
        limits = conn.limits
        super().__init__(limits.request_line, limits.header_block, errors.URITooLong,
                         errors.HeadersTooLarge, limits.header_count)
        self.conn = conn

    def on_headers_complete(self) -> None:
        self.head_done()
        parser = self.conn.parser
        method = parser.get_method()
        try:
            version = version_of(parser.get_http_version(), errors.BadRequest)
            f = check_request(method, self.url, version, self.fields, self.names)
        except errors.RouterError as exc:
            exc.head = self.raw_head(method + b" " + self.url + b" HTTP/1.1")
            raise self._stop(exc) from None
        self.queue.append(Request(method, f.target, self.fields, f))


class ClientConnection:
    """The client-facing side of one TCP connection, one request cycle at a time."""

    def __init__(self, limits, client_ip: str = "-", port: int = 0):
        self.limits = limits
        self._side = _RequestSide(self)
        self.parser = httptools.HttpRequestParser(self._side)
        self._tunnel = None        # bytes past a protocol switch (llhttp stops there)
        self._failed = False
        self._request: Request | None = None
        self._eof = False
        self._reset_cycle()

    def _reset_cycle(self) -> None:
        self._body_done = True
        self._body_bytes = 0
        self.body_limit = self.limits.body
        self._our = "idle"          # idle -> body -> done
        self._close = False
        self._encode = None
        self._chunked_out = False

    @property
    def buffered(self) -> int:
        """Bytes of a head received but not yet complete (0 between requests)."""
        return self._side.size + 1 if self._request is None and self._side.open else 0

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the client closed its side."""
        if not data:
            self._eof = True
        elif self._tunnel is not None:
            self._tunnel += data
        elif not self._failed:
            try:
                offset = _feed(self.parser, self._side, data, errors.BadRequest)
            except errors.RouterError as exc:
                # Answered when the cycle reaches it: what came before it is valid.
                if not getattr(exc, "head", b""):
                    exc.head = self._side.raw_head(b"%s %s HTTP/1.1" % (self.parser.get_method(), self._side.url))
                self._failed = True
                self._side.queue.append(exc)
                return
            if offset is not None:
                self._tunnel = bytearray(data[offset:])

    def next_request(self) -> Request | None:
        if self._request is not None:
            return None
        queue = self._side.queue
        if not queue:
            return None
        item = queue.popleft()
        if isinstance(item, BaseException):
            raise item
        req = self._request = item
        f = req.framing
        self._close = f.wants_close or req.is_upgrade
        self._body_done = queue[0] is END if queue else False
        if self._body_done:
            queue.popleft()
        return req

    def limit_body(self, limit: int) -> None:
        """Hold this request's body to its route's ``limit``: a Content-Length over it is refused before
        any of the body is read, a chunked body when it gets there."""
        self.body_limit = limit
        declared = self._request.framing.content_length
        if declared is not None and declared > limit:
            raise errors.BodyTooLarge(f"Content-Length over {limit}")

    def next_body_event(self):
        if self._body_done:
            return END
        queue = self._side.queue
        if not queue:
            if self._eof:
                raise errors.ClientGone("body ended early")
            return NEED_DATA
        item = queue.popleft()
        if item is END:
            self._body_done = True
            return END
        if isinstance(item, BaseException):
            raise item
        self._body_bytes += len(item)
        if self._body_bytes > self.body_limit:
            raise errors.BodyTooLarge(f"body over {self.body_limit} bytes")
        return Data(item)

    @property
    def waiting_for_continue(self) -> bool:
        f = self._request.framing
        return (f.expect_continue and f.version == b"1.1" and self._body_bytes == 0
                and not self._side.queue)

    @property
    def request_complete(self) -> bool:
        return self._body_done

    @property
    def can_respond(self) -> bool:
        return self._request is not None and self._our == "idle"

    def send_informational(self, status: int, headers) -> bytes:
        return serialize_head(b"HTTP/1.1 %d " % status, headers)

    def send_response(self, status: int, headers, reason: bytes = b"") -> bytes:
        # The head without its final CRLF CRLF; framing lines may follow.
        head = _CRLF.join([b"HTTP/1.1 %d %s" % (status, reason), *map(_SEP.join, headers)])
        has_cl = says_close = False
        for name, value in headers:
            lname = name.lower()
            if lname == b"content-length":
                has_cl = True
            elif lname == b"connection" and b"close" in value.lower():
                says_close = True
        return self._frame(head, status, has_cl, says_close)

    def send_proxied(self, event, hsts: bytes | None = None) -> bytes:
        """The head relaying an instance's response (``event``) to the client, with ``hsts`` as its
        Strict-Transport-Security when given."""
        headers = forwarding.response_headers(event, False, hsts)
        head = _CRLF.join([b"HTTP/1.1 %d %s" % (event.status_code, event.reason), *map(_SEP.join, headers)])
        # The rewrite dropped Connection (hop-by-hop) and the fields it names, perhaps Content-Length.
        has_cl = event.framing.content_length is not None and b"content-length" not in event.connection
        return self._frame(head, event.status_code, has_cl, False)

    def _frame(self, head: bytes, status: int, has_cl: bool, says_close: bool) -> bytes:
        """``head`` with the framing lines this client needs, and the body encoder."""
        req = self._request
        no_body = req.method == b"HEAD" or status in _NO_BODY_STATUS or status < 200
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
        return self._our == "done" and self._body_done and not self._close and not self._eof

    def close_after_response(self) -> None:
        """The response to the current request says ``Connection: close`` (if its head is not out
        yet) and the connection ends after it: a draining router's last word on this connection."""
        self._close = True

    def take_tunnel_bytes(self) -> bytes:
        rest = bytes(self._tunnel or b"")
        if self._tunnel is not None:
            self._tunnel.clear()
        return rest

    def start_next_cycle(self) -> None:
        self._request = None
        self._reset_cycle()


class _ResponseSide(_Parsed):
    def __init__(self, bx, limit: int):
        super().__init__(limit, limit, errors.BadResponse, errors.BadResponse, 1 << 30)
        self.bx = bx

    def on_headers_complete(self) -> None:
        self.head_done()
        parser = self.bx.parser
        try:
            version = version_of(parser.get_http_version(), errors.BadResponse)
            f = check_response(version, parser.get_status_code(), self.reason, self.fields, self.names)
        except errors.RouterError as exc:
            raise self._stop(exc) from None
        self.queue.append(ResponseHead(f.status, f.reason, self.fields, f.connection, f))


class BackendExchange:
    """One request to an instance and its response, on a (pooled) connection."""

    def __init__(self, limits, method: bytes, previous=None):
        # A pooled connection's parser serves its next exchange when the previous one left it
        # between messages: making one costs more than the rest of parsing a small response.
        if previous is not None and previous.parser_free(limits):
            side = self._side = previous._side
            side.bx = self
            self.parser = previous.parser
        else:
            self._side = _ResponseSide(self, limits.response_head)
            self.parser = httptools.HttpResponseParser(self._side)
        self.method = method
        self.status = 0
        self.got_bytes = False
        self._head = None           # the final response head, once parsed
        self._body_done = False
        self._close_delimited = False
        self._extra = False         # bytes past the response: the connection is not reused
        self._tunnel = None
        self._eof = False
        self._close = False
        self._request_done = False
        self._encode = None
        self._chunked_out = False

    def send_request(self, method: bytes, target: bytes, headers) -> bytes:
        head = serialize_head(method + b" " + target + b" HTTP/1.1", headers)
        self._chunked_out = _TE_FIELD in head.lower()
        self._encode = _encoder(self._chunked_out, False)
        return head

    def send_forwarded(self, req, *, client_ip: str, port: int, rid: str, upgrade: bool,
                       tls: bool = False) -> bytes:
        """The head forwarding ``req`` (forwarding.request_headers' rewrite)."""
        f = req.framing
        head = serialize_head(req.method + b" " + f.target + b" HTTP/1.1", forwarding.request_headers(
            req, client_ip=client_ip, port=port, rid=rid, upgrade=upgrade, tls=tls))
        # The rewrite writes Transfer-Encoding: chunked exactly when the request was chunked.
        self._chunked_out = f.chunked
        self._encode = _encoder(f.chunked, False)
        return head

    def send_bodyless(self, req, client_ip: str, port: int, rid: str, tls: bool = False) -> bytes:
        """``send_forwarded`` and ``send_end`` of a request without a body, in one step (the fast path's:
        positional, as keyword arguments cost more on a call made per request)."""
        # No body: nothing is chunked (send_end's empty chunk is never written).
        self._chunked_out = False
        self._encode = _as_is
        self._request_done = True
        return serialize_head(req.method + b" " + req.framing.target + b" HTTP/1.1",
                              forwarding.request_headers(req, client_ip, port, rid, False, tls))

    def send_data(self, data) -> bytes:
        return self._encode(data)

    def send_end(self) -> bytes:
        self._request_done = True
        return b"0\r\n\r\n" if self._chunked_out else b""

    def receive_data(self, data: bytes) -> None:
        if not data:
            self._eof = True
            if self._head is None and not self._side.queue:
                raise errors.BackendClosed("instance closed before a complete response head")
            return
        self.got_bytes = True
        if self._tunnel is not None:
            self._tunnel += data
            return
        if self._body_done:
            self._extra = True
            return
        try:
            offset = _feed(self.parser, self._side, data, errors.BadResponse)
        except errors.RouterError as exc:
            self._side.queue.append(exc)
            return
        if offset is not None:
            self._tunnel = bytearray(data[offset:])

    def next_head(self):
        queue = self._side.queue
        while queue:
            item = queue.popleft()
            if isinstance(item, BaseException):
                raise item
            if item is END:
                continue   # the end of a 1xx response
            if isinstance(item, ResponseHead):
                return self._took_head(item)
            raise errors.BadResponse("body bytes before a response head")
        if self._eof:
            raise errors.BackendClosed("instance closed before a complete response head")
        return None

    def _took_head(self, event):
        status = event.status_code
        self.status = status
        if status < 200:
            return event   # 1xx: the final head follows; 101: a tunnel follows
        f = event.framing
        self._head = event
        self._close = f.wants_close
        if self.method == b"HEAD" or status in _NO_BODY_STATUS:
            # llhttp does not know the request was HEAD: whatever it parsed past this head is extra.
            self._body_done = True
            self._extra = bool(self._side.queue) and list(self._side.queue) != [END]
            self._side.queue.clear()
        elif not f.chunked and f.content_length is None:
            self._close_delimited = True
            self._close = True
        return event

    def take_tunnel_bytes(self) -> bytes:
        rest = bytes(self._tunnel or b"")
        if self._tunnel is not None:
            self._tunnel.clear()
        return rest

    def next_body_event(self):
        if self._body_done:
            return END
        queue = self._side.queue
        if queue:
            item = queue.popleft()
            if item is END:
                return self._ended()
            if isinstance(item, BaseException):
                raise item
            return Data(item)
        if self._eof:
            if self._close_delimited:
                return self._ended()
            raise errors.BackendInterrupted("instance closed during the response body")
        return NEED_DATA

    def _ended(self):
        self._body_done = True
        if self._side.queue or self._side.open:
            self._extra = True   # the instance sent more than one response
        return END

    def whole_body(self):
        """The entire response body when it is already here, else None (use the events).

        A small response usually arrives with its head in one read: this takes
        it in one step instead of Data and END events.
        """
        if self._body_done:
            return b""
        queue = self._side.queue
        if not queue or queue[-1] is not END or self._close_delimited:
            return None
        queue.pop()
        if len(queue) == 1 and type(queue[0]) is bytes:
            body = queue.popleft()   # the usual: one piece
        elif all(type(i) is bytes for i in queue):
            body = b"".join(queue)
            queue.clear()
        else:
            queue.append(END)
            return None
        self._body_done = True
        if self._side.open:
            self._extra = True
        return body

    def parser_free(self, limits) -> bool:
        """llhttp ended a response and nothing else: it is between messages, ready for the next.

        (After a HEAD response llhttp may still wait for the body the head announced.)
        """
        side = self._side
        return (side.complete and self.reusable() and self._tunnel is None
                and side.head_limit == limits.response_head)

    def reusable(self) -> bool:
        return (self._body_done and self._request_done and not self._close and not self._extra
                and not self._eof and not self._side.queue and not self._side.open)
