"""One client connection driven from transport callbacks: heads, keep-alive, fast path.

Between requests a ``Session`` feeds the client's bytes to the sans-io
``ClientConnection`` from ``data_received`` and keeps the idle and head
deadlines; it creates no task. A request head goes to ``Proxy.start``, which
either runs it here on the *fast path* or hands it to a coroutine (``spawn``).

The fast path serves a body-less, non-upgrade request over an idle pooled
connection: the request is written from the client's callback, the response
parsed and relayed from the instance's callbacks, and the next pipelined
request started from the last one. Its state lives in the Session (one request
in flight per connection), so a keep-alive request allocates no task, future or
stream. Anything that needs to wait in a way the callbacks do not cover (a
stale pooled connection to retry, an error page to drain and linger over)
continues as a coroutine from where the fast path stopped.

Error semantics are those of ``Proxy._handle``: one error response while none
has started, else a close; the same error codes and access-log record.
"""

import asyncio

from paas.router import errors
from paas.router.protocol import forwarding
from paas.router.serving import scheme
from paas.router.serving.channel import READ_LIMIT
from paas.router.protocol.events import NEED_DATA, Data
from paas.router.telemetry.observe import Record

_fill_record = Record.__init__   # every field set again, as a new Record would have them


class Session:
    __slots__ = ("proxy", "ch", "conn", "client_ip", "port", "tls", "eof", "busy", "task",
                 "head_started", "inflow", "reading_paused",
                 # the fast-path request in flight
                 "req", "rec", "backend", "up", "bx", "head", "hsts", "pending", "up_paused", "ending", "own_rec",
                 "_feed", "_up_data", "_up_lost", "_client_resumed", "_close", "_head_timeout",
                 "_first_byte_timeout")

    def __init__(self, proxy, ch):
        self.proxy = proxy
        self.ch = ch
        peer = ch.get_extra_info("peername")
        self.client_ip = peer[0] if peer else "-"
        self.port = ch.local_port or (ch.get_extra_info("sockname") or ("", 0))[1]
        self.tls = scheme.is_tls(ch)
        self.conn = proxy.proto.ClientConnection(proxy.limits, self.client_ip, self.port)
        self.eof = False
        self.busy = False          # a request is in flight (fast path or task)
        self.task = None
        self.head_started = False  # the head deadline is running
        self.inflow = 0            # bytes received while busy on the fast path
        self.reading_paused = False
        self.req = self.rec = self.backend = self.up = self.bx = self.head = self.hsts = None
        # The Record of this connection's fast-path requests, filled in again for each (see fast).
        self.own_rec = Record(b"", b"", b"", "", self.client_ip)
        self.pending = []
        self.up_paused = False
        self.ending = False
        # Bound once: the callbacks are installed on every request.
        self._feed = self.feed
        self._up_data = self.up_data
        self._up_lost = self.up_lost
        self._client_resumed = self.client_resumed
        self._close = self.close
        self._head_timeout = self.head_timeout
        self._first_byte_timeout = self.first_byte_timeout
        ch.on_data = self._feed
        ch.on_lost = self.lost
        ch.set_deadline(ch._loop.time() + proxy.t.idle, self._close)

    # --- between requests ----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Client bytes in callback mode (b"" at EOF)."""
        if not data:
            self.eof = True
        self.conn.receive_data(data)
        if self.busy:
            # Pipelined bytes wait in the sans-io buffer until this request is
            # done; past READ_LIMIT the socket stops being read (backpressure).
            self.inflow += len(data)
            if self.inflow > READ_LIMIT and not self.reading_paused and not self.ch.closed:
                self.reading_paused = True
                self.ch.transport.pause_reading()
            return
        self.advance()

    def advance(self) -> None:
        """Start the next request if its head is complete, else wait with a deadline."""
        proxy = self.proxy
        conn = self.conn
        ch = self.ch
        try:
            req = conn.next_request()
        except errors.RouterError as exc:
            self.spawn(proxy.reject(ch, ch, exc))
            return
        if proxy.closing and req is not None:
            # Draining: this request is served, its response says "Connection: close" and the
            # client reconnects to the router that now accepts (see Router.stop). A connection
            # is never closed right after a response without that header: the client may be
            # sending its next request on it already, and that request would be lost.
            conn.close_after_response()
        if req is None:
            if self.eof or ch.closed:
                self.close()
            elif conn.buffered:
                if not self.head_started:
                    # The slowloris deadline runs from the first byte of the head.
                    self.head_started = True
                    ch.set_deadline(ch._loop.time() + proxy.t.head, self._head_timeout)
            else:
                ch.set_deadline(ch._loop.time() + proxy.t.idle, self._close)
            return
        self.head_started = False
        ch.clear_deadline()
        try:
            proxy.start(self, req)
        except Exception:
            if self.busy:
                raise
            # A router bug before the request was under way: the coroutine
            # path answers it (500, H99) and logs it, as for any request.
            self.spawn(proxy.serve_one(self, req))

    def close_after_response(self) -> None:
        """Router.stop: the connection ends after the response in flight if its head is not out yet
        (it will say "Connection: close"); otherwise, or when idle, after the next request's."""
        if self.busy and self.conn.can_respond:
            self.conn.close_after_response()

    def head_timeout(self) -> None:
        self.spawn(self.proxy.reject(self.ch, self.ch, errors.ClientTimeout("request head too slow")))

    def next_cycle(self) -> None:
        """The request is done and the connection stays: on to the next head."""
        self.busy = False
        self.inflow = 0
        conn = self.conn
        conn.start_next_cycle()
        ch = self.ch
        if ch.on_data is None:
            # Back from a coroutine: take what arrived and was not read.
            rest = ch.take_buffered() if ch.buffered else b""
            ch.on_data = self._feed
            if rest:
                conn.receive_data(rest)
            if ch.eof:
                self.eof = True
        if self.reading_paused:
            self.reading_paused = False
            if not ch.closed:
                ch.transport.resume_reading()
        self.advance()

    def spawn(self, coro) -> None:
        """Continue in a coroutine that reads the client itself; it returns keep-alive."""
        self.busy = True
        ch = self.ch
        ch.on_data = None
        ch.clear_deadline()
        if self.reading_paused:
            self.reading_paused = False
            if not ch.closed:
                ch.transport.resume_reading()
        self.task = asyncio.get_running_loop().create_task(self._run(coro))

    async def _run(self, coro) -> None:
        keep = False
        try:
            keep = await coro
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            pass   # Router.stop: close below
        finally:
            self.task = None
        if keep and not self.ch.closed:
            self.next_cycle()
        else:
            self.close()

    def close(self, abort: bool = False) -> None:
        self.proxy.connections.discard(self)
        ch = self.ch
        ch.on_data = None
        ch.on_resume = None
        ch.clear_deadline()
        if abort:
            ch.abort()
        else:
            ch.close()

    def lost(self, exc) -> None:
        """The client connection is gone."""
        self.proxy.connections.discard(self)
        if self.rec is not None and self.task is None:
            self.fail(errors.ClientGone("client went away during the response"))

    # --- the fast path -------------------------------------------------------------

    def fast(self, req, app: str, backend, up, hsts: bytes | None = None) -> None:
        """Send a body-less request on an idle pooled connection; the rest is callbacks.

        ``hsts``: the Strict-Transport-Security value the response gets (a TLS client of an app with HSTS)."""
        proxy = self.proxy
        conn = self.conn
        # Consume the (empty) body's END so the request cycle is complete.
        conn.next_body_event()
        f = req.framing
        # One Record per connection, not per request (making one cost about as much again as filling it
        # in): the last request's was logged (end_request) and its coroutine, if any, ended before this
        # request could start. Positional: keyword arguments cost more on a call made per request.
        rec = self.own_rec
        _fill_record(rec, req.method, f.target, f.host, forwarding.request_id_for(f), self.client_ip, None, app,
                     backend.release, backend.id)
        self.busy = True
        proxy.active += 1
        backend.outstanding += 1
        self.req, self.rec, self.backend, self.up, self.hsts = req, rec, backend, up, hsts
        try:
            bx = self.bx = up.exchange = proxy.proto.BackendExchange(proxy.limits, req.method, up.exchange)
            out = bx.send_bodyless(req, self.client_ip, self.port, rec.rid, self.tls)
            uch = up.ch
            uch.on_data = self._up_data
            uch.on_lost = self._up_lost
            uch.write(out)
            uch.set_deadline(uch._loop.time() + proxy.t.first_byte, self._first_byte_timeout)
        except Exception as exc:
            self.fail(exc)

    def up_data(self, data: bytes) -> None:
        """Instance bytes (b"" at EOF) for the fast-path request."""
        bx = self.bx
        try:
            if self.head is None:
                try:
                    bx.receive_data(data)
                except errors.BackendClosed:
                    if self.up.reused and not bx.got_bytes:
                        self.retry_fresh()
                        return
                    raise
                while True:
                    event = bx.next_head()
                    if event is None:
                        return
                    # 1xx other than 101 are not relayed (see Proxy._response_head).
                    if event.status_code >= 200 or event.status_code == 101:
                        break
                if event.status_code == 101:
                    raise errors.BadResponse("101 to a request that asked for no upgrade")
                self.head = event
                rec = self.rec
                rec.status = event.status_code
                head = self.conn.send_proxied(event, self.hsts)
                body = bx.whole_body()
                if body is not None:
                    self.whole(head, body)
                    return
                self.pending.append(head)
            else:
                bx.receive_data(data)
            self.pump()
        except Exception as exc:
            self.fail(exc)

    def up_lost(self, exc) -> None:
        """The instance connection went away before the exchange was done."""
        if exc is None:
            self.up_data(b"")
        elif self.head is None:
            if self.up.reused and not self.bx.got_bytes:
                self.retry_fresh()
            else:
                self.fail(errors.BackendClosed(f"instance connection failed: {exc}"))
        else:
            self.fail(errors.BackendInterrupted("instance reset mid-response"))

    def pump(self) -> None:
        """Relay the response body events the sans-io state has, then wait for more."""
        bx = self.bx
        conn = self.conn
        pending = self.pending
        rec = self.rec
        while True:
            event = bx.next_body_event()
            if event is NEED_DATA:
                if pending:
                    self.ch.write(b"".join(pending))
                    pending.clear()
                uch = self.up.ch
                if self.ch.paused:
                    # The client has HIGH_WATER unread: stop reading the
                    # instance until it catches up, or give up at the send timeout.
                    self.up_paused = True
                    uch.transport.pause_reading()
                    uch.clear_deadline()
                    self.wait_for_client()
                else:
                    uch.set_deadline(uch._loop.time() + self.proxy.t.idle, self.stalled)
                return
            if type(event) is Data:
                rec.bytes_out += len(event.data)
                pending.append(conn.send_data(event.data))
            else:
                pending.append(conn.send_end())
                self.ch.write(b"".join(pending))
                pending.clear()
                self.release_upstream(self.bx.reusable())
                if self.ch.paused:
                    self.ending = True
                    self.wait_for_client()
                else:
                    self.finish()
                return

    def whole(self, head: bytes, body) -> None:
        """The response head and its entire body are here: one write, then done (see pump)."""
        conn = self.conn
        self.rec.bytes_out = len(body)
        self.done_writing(head + conn.send_data(body) + conn.send_end() if body else head + conn.send_end())

    def done_writing(self, out: bytes) -> None:
        """The last bytes of the response: write them, release the instance, finish."""
        self.ch.write(out)
        self.release_upstream(self.bx.reusable())
        if self.ch.paused:
            self.ending = True
            self.wait_for_client()
        else:
            self.finish()

    def wait_for_client(self) -> None:
        ch = self.ch
        ch.on_resume = self._client_resumed
        ch.set_deadline(ch._loop.time() + self.proxy.t.send, self.send_timeout)

    def client_resumed(self) -> None:
        ch = self.ch
        ch.on_resume = None
        ch.clear_deadline()
        if self.ending:
            self.ending = False
            self.finish()
        elif self.up_paused:
            self.up_paused = False
            uch = self.up.ch
            uch.transport.resume_reading()
            uch.set_deadline(uch._loop.time() + self.proxy.t.idle, self.stalled)

    def first_byte_timeout(self) -> None:
        self.fail(errors.BackendTimeout(f"no response within {self.proxy.t.first_byte}s"))

    def stalled(self) -> None:
        self.fail(errors.BackendInterrupted("instance stalled mid-response"))

    def send_timeout(self) -> None:
        self.fail(errors.ClientTimeout("client is not reading its response"))

    def release_upstream(self, reusable: bool) -> None:
        up = self.up
        self.up = None
        self.up_paused = False
        self.backend.outstanding -= 1
        self.proxy.pool.release(self.backend, up, reusable)

    def end_request(self) -> None:
        """Log the request and forget it (its upstream is already released)."""
        proxy = self.proxy
        proxy.observer.record(self.rec)
        proxy.active -= 1
        self.req = self.rec = self.backend = self.bx = self.head = None
        self.pending.clear()

    def finish(self) -> None:
        keep = self.conn.keep_alive()
        self.end_request()
        if keep:
            self.next_cycle()
        else:
            self.close()

    def retry_fresh(self) -> None:
        """A reused connection died before any response byte: retry as a coroutine.

        Like ``Proxy._route``: its idle siblings are likely stale too, and the
        retry (on a fresh connection) is the request's last attempt.
        """
        backend = self.backend
        self.release_upstream(False)
        self.proxy.pool.forget(backend)
        req, rec = self.req, self.rec
        self.proxy.active -= 1
        self.req = self.rec = self.backend = self.bx = self.head = None
        self.pending.clear()
        self.spawn(self.proxy.serve_one(self, req, rec=rec, attempts=1))

    def fail(self, exc) -> None:
        """Any failure of the fast-path request, as ``Proxy._handle`` treats it."""
        if self.rec is None:
            return
        exc = errors.classify(exc, self.rec.rid)
        if self.up is not None:
            self.release_upstream(False)
        self.ending = False
        ch = self.ch
        ch.on_resume = None
        ch.clear_deadline()
        rec = self.rec
        rec.code, rec.detail = exc.code, exc.detail
        conn = self.conn
        if conn.can_respond and not isinstance(exc, errors.ClientGone) and not ch.closed:
            rec.status = exc.status
            self.spawn(self._error_page(exc, rec))
            return
        if conn.can_respond:
            rec.status = exc.status
        self.end_request()
        # A client that does not read would hold a graceful close open forever.
        self.close(abort=isinstance(exc, errors.ClientTimeout))

    async def _error_page(self, exc, rec) -> bool:
        proxy = self.proxy
        self.pending.clear()
        try:
            return await proxy._send_error(self.conn, self.ch, self.ch, exc, rec)
        finally:
            proxy.observer.record(rec)
            proxy.active -= 1
            self.req = self.rec = self.backend = self.bx = self.head = None
