"""Sans-io HTTP/1.1 state for both sides of the proxy, with h11 underneath.

``ClientConnection`` is the router acting as a server towards a browser;
``BackendExchange`` is one request/response with an instance. Both run every head
through ``framing`` (the strict checks) before h11 sees it, and feed h11 only the
head at first, so the strict checks see every head, including 1xx responses and
pipelined requests. Nothing here touches a socket or a clock: bytes in, events
out, bytes to send. ``fastproto`` is the faster default with the same interface;
this one is selected with PAAS_ROUTER_PARSER=h11 and is the reference in tests.
"""

import h11

from paas.router import errors
from paas.router.protocol import forwarding, framing
from paas.router.protocol.events import END, NEED_DATA, Data, Request, ResponseHead
from paas.router.protocol.framing import HEAD_END, HeadReader


def _neutral(event):
    """h11's body events as the protocol-neutral ones."""
    if type(event) is h11.Data:
        return Data(event.data)
    if event is h11.NEED_DATA:
        return NEED_DATA
    # EndOfMessage; PAUSED means h11 waits for our answer to an upgrade
    # request, which has no body.
    return END


class ClientConnection:
    """The client-facing side of one TCP connection, one request cycle at a time."""

    def __init__(self, limits, client_ip: str = "-", port: int = 0):
        self.limits = limits
        self._reader = self._new_reader()
        self._h11: h11.Connection | None = None
        self._body_bytes = 0
        self._close_after = False

    def _new_reader(self) -> HeadReader:
        return HeadReader(self.limits.request_line, self.limits.header_block,
                          errors.URITooLong, errors.HeadersTooLarge)

    @property
    def buffered(self) -> int:
        """Bytes received but not yet parsed into a head (0 between requests)."""
        return len(self._reader.buffer) if self._h11 is None else 0

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the socket; b"" means the client closed its side."""
        if self._h11 is None:
            self._reader.feed(data)
        else:
            self._h11.receive_data(data)

    def next_request(self) -> Request | None:
        """The next request head once complete, or None if more bytes are needed."""
        head = self._reader.poll()
        if head is None:
            return None
        checked = framing.check_request(head, self.limits)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.header_block)
        conn.receive_data(head + HEAD_END)
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise errors.BadRequest(str(exc), status=exc.error_status_hint) from None
        if not isinstance(event, h11.Request):
            raise errors.BadRequest("incomplete request head")
        rest = self._reader.take_rest()
        if rest:   # h11 takes b"" as end of file
            conn.receive_data(rest)
        self._h11 = conn
        self._head_request = event.method == b"HEAD"
        self._body_bytes = 0
        return Request(event.method, checked.target, event.headers.raw_items(), checked)

    def next_body_event(self):
        """Data, EndOfMessage or NEED_DATA for the current request body."""
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            # A body cut short by EOF surfaces here; anything else is framing.
            if self._h11.their_state is h11.ERROR and "incomplete" in str(exc).lower():
                raise errors.ClientGone(str(exc)) from None
            raise errors.BadRequest(str(exc), status=exc.error_status_hint) from None
        if isinstance(event, h11.Data):
            self._body_bytes += len(event.data)
            if self._body_bytes > self.limits.body:
                raise errors.BodyTooLarge(f"body over {self.limits.body} bytes")
        elif isinstance(event, h11.ConnectionClosed):
            raise errors.ClientGone("closed during request body")
        return _neutral(event)

    @property
    def waiting_for_continue(self) -> bool:
        return self._h11.they_are_waiting_for_100_continue

    @property
    def request_complete(self) -> bool:
        return self._h11.their_state in (h11.DONE, h11.MUST_CLOSE, h11.SWITCHED_PROTOCOL)

    @property
    def can_respond(self) -> bool:
        """True until the first byte of a response head was produced."""
        return self._h11 is not None and self._h11.our_state in (h11.IDLE, h11.SEND_RESPONSE)

    def send_informational(self, status: int, headers) -> bytes:
        return self._h11.send(h11.InformationalResponse(status_code=status, headers=headers))

    def send_response(self, status: int, headers, reason: bytes = b"") -> bytes:
        if self._close_after:
            # h11 then ends the connection after this response (MUST_CLOSE).
            headers = [*headers, (b"Connection", b"close")]
        return self._h11.send(h11.Response(status_code=status, headers=headers, reason=reason))

    def close_after_response(self) -> None:
        """As fastproto's: ``Connection: close`` on the current response, then the end."""
        self._close_after = True

    def relay_whole(self, bx, data: bytes):
        """Always the general path here (see fastproto)."""
        return None

    def send_proxied(self, event) -> bytes:
        """The head relaying an instance's response (``event``) to the client."""
        return self.send_response(event.status_code, forwarding.response_headers(event), event.reason)

    def send_data(self, data: bytes) -> bytes:
        # A response to HEAD has no body; h11 would refuse the bytes.
        if self._head_request:
            return b""
        return self._h11.send(h11.Data(data=data))

    def send_end(self) -> bytes:
        return self._h11.send(h11.EndOfMessage())

    def keep_alive(self) -> bool:
        """Whether another request may follow on this connection."""
        return (self._h11 is not None and self._h11.our_state is h11.DONE
                and self._h11.their_state is h11.DONE)

    def take_tunnel_bytes(self) -> bytes:
        """After a protocol switch: bytes the client sent past its request head."""
        return self._h11.trailing_data[0]

    def start_next_cycle(self) -> None:
        """Begin the next request with whatever pipelined bytes are already here."""
        rest = self._h11.trailing_data[0]
        self._h11 = None
        self._reader = self._new_reader()
        self._reader.feed(rest)


class BackendExchange:
    """One request to an instance and its response, on a (pooled) connection."""

    def __init__(self, limits, method: bytes):
        self._h11 = h11.Connection(h11.CLIENT)
        self._reader = HeadReader(limits.response_head, limits.response_head,
                                  errors.BadResponse, errors.BadResponse)
        self._in_body = False
        self.method = method
        self.status = 0
        self.got_bytes = False

    def send_request(self, method: bytes, target: bytes, headers) -> bytes:
        return self._h11.send(h11.Request(method=method, target=target, headers=headers))

    def send_forwarded(self, req, *, client_ip: str, port: int, rid: str, upgrade: bool) -> bytes:
        """The head forwarding ``req`` (forwarding.request_headers' rewrite)."""
        return self.send_request(req.method, req.framing.target, forwarding.request_headers(
            req, client_ip=client_ip, port=port, rid=rid, upgrade=upgrade))

    def send_bodyless(self, req, *, client_ip: str, port: int, rid: str) -> bytes:
        """``send_forwarded`` and ``send_end`` of a request without a body."""
        return self.send_forwarded(req, client_ip=client_ip, port=port, rid=rid, upgrade=False) + self.send_end()

    def send_data(self, data: bytes) -> bytes:
        return self._h11.send(h11.Data(data=data))

    def send_end(self) -> bytes:
        return self._h11.send(h11.EndOfMessage())

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the instance; b"" means it closed the connection."""
        if data:
            self.got_bytes = True
        if self._in_body:
            self._h11.receive_data(data)
        elif data:
            self._reader.feed(data)
        else:
            raise errors.BackendClosed("instance closed before a complete response head")

    def next_head(self):
        """The next response head (1xx included), or None if more bytes are needed."""
        head = self._reader.poll()
        if head is None:
            return None
        checked = framing.check_response(head)
        self._h11.receive_data(head + HEAD_END)
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise errors.BadResponse(str(exc)) from None
        if not isinstance(event, (h11.Response, h11.InformationalResponse)):
            raise errors.BadResponse("incomplete response head")
        self.status = checked.status
        head = ResponseHead(event.status_code, event.reason, event.headers.raw_items(), checked.connection)
        if isinstance(event, h11.Response):
            self._in_body = True
            rest = self._reader.take_rest()
            if rest:   # h11 takes b"" as end of file
                self._h11.receive_data(rest)
        return head

    def take_tunnel_bytes(self) -> bytes:
        """After a 101: bytes the instance sent past its response head."""
        return self._reader.take_rest()

    def next_body_event(self):
        """Data, EndOfMessage or NEED_DATA for the response body."""
        try:
            event = self._h11.next_event()
        except h11.RemoteProtocolError as exc:
            raise errors.BackendInterrupted(str(exc)) from None
        if isinstance(event, h11.ConnectionClosed):
            raise errors.BackendInterrupted("instance closed during the response body")
        return _neutral(event)

    def whole_body(self):
        """Always the body events here (fastproto takes a whole small body at once)."""
        return None

    def reusable(self) -> bool:
        """The connection can carry another request: both sides done, nothing extra."""
        return (self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE
                and not self._h11.trailing_data[0])
