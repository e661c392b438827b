"""The asyncio edge: moves bytes between sockets and the sans-io state, and timers.

Each client connection is a ``Session`` (session.py) that reads request heads
and runs the keep-alive fast path from transport callbacks. Requests it cannot
finish that way run here as one coroutine each, over the same Channels, in
order (pipelined requests wait in the sans-io buffer). Every failure becomes a
RouterError (``errors.classify``); ``_handle`` turns it into the one error response, or
a close when a response has already started.
"""

import asyncio
import logging

from paas.pki.challenges import PATH_PREFIX as CHALLENGE_PREFIX, token_in_path
from paas.router import errors
from paas.router.protocol import forwarding, framing, http1, pages, redirect
# Above HIGH_WATER unsent bytes towards a peer, wait for it to read
# (backpressure); below it, keep going without a drain() per chunk.
from paas.router.serving.channel import HIGH_WATER
from paas.router.protocol.events import NEED_DATA, Data
from paas.router.telemetry.observe import Record
from paas.router.table.routes import choose_backend, normalise_host
from paas.router.serving import scheme
from paas.router.serving.session import Session

log = logging.getLogger("paas.router.serving.proxy")
READ_SIZE = 65536
_RAW_ERROR_HEAD = (b"HTTP/1.1 %d %s\r\nContent-Type: text/html; charset=utf-8\r\n"
                   b"Content-Length: %d\r\nConnection: close\r\nX-Request-Id: %s\r\n\r\n")


class _StaleConnection(Exception):
    """A reused pooled connection died before any response byte: retry fresh."""


class Proxy:
    def __init__(self, settings, table, pool, observer, waker, challenges=None):
        self.settings = settings
        self.limits = settings.limits
        self.t = settings.timeouts
        self.table = table
        self.pool = pool
        self.observer = observer
        self.waker = waker
        self.challenges = challenges   # ACME HTTP-01 answers (serving/challenges.py)
        # The TLS port https:redirect sends clients to; None while this router serves no TLS.
        self.tls_port: int | None = None
        self.proto = http1
        self.closing = False
        self.active = 0   # requests in flight, for graceful shutdown
        self.connections = set()   # Sessions of open client connections

    # --- connections -------------------------------------------------------

    def accept(self, ch) -> None:
        """A new client connection (Channel.on_open): its Session drives it."""
        self.connections.add(Session(self, ch))

    def start(self, s, req) -> None:
        """Serve a request head: on the callback fast path when it can, else in a task.

        The fast path takes body-less, non-upgrade requests to a routable app
        with an idle pooled connection to the chosen instance; everything else
        (bodies, WebSocket, error pages, connecting, waking) runs as a coroutine.
        """
        first = None
        if not req.has_body and not req.is_upgrade:
            app = self.table.app_for_host(req.framing.host)
            route = self.table.route_for(app, req.framing.target) if app is not None else None
            if route is not None and not (route.maintenance or route.scaled_to_zero or route.frozen
                                          or (route.https_redirect and not s.tls)
                                          or req.framing.target.startswith(CHALLENGE_PREFIX)):
                first = choose_backend(route, mode=self.settings.balance)
                if first is not None:
                    up = self.pool.take_idle(first)
                    if up is not None:
                        s.fast(req, app, first, up, route.hsts if s.tls else None)
                        return
        s.spawn(self.serve_one(s, req, first=first))

    async def serve_one(self, s, req, *, first=None, rec=None, attempts=2) -> bool:
        """One request as a coroutine; True when the connection can carry another."""
        self.active += 1
        try:
            return await self._handle(s.conn, req, s.ch, s.ch, s.client_ip, s.port,
                                      first=first, rec=rec, attempts=attempts)
        finally:
            self.active -= 1

    async def reject(self, reader, writer, exc) -> bool:
        """Answer a request that never became valid, then close."""
        rid = forwarding.new_request_id()
        self._log_refusal(exc, rid, writer)
        body = pages.render(exc.status, exc.code, rid)
        head = _RAW_ERROR_HEAD % (exc.status, pages.reason(exc.status), len(body), rid.encode())
        try:
            writer.write(head + body)
            await self._drain(writer)
            await self._linger(reader, writer)
        except (errors.RouterError, ConnectionError, OSError):
            pass
        return False

    def _log_refusal(self, exc, rid: str, writer) -> None:
        """Log a refused head to its app's stream when its Host names one."""
        head = getattr(exc, "head", b"")
        app = self.table.app_for_host(framing.guess_host(head)) if head else None
        if app is None:
            return
        peer = writer.get_extra_info("peername")
        method, _, rest = head.partition(b" ")
        rec = Record(method=method[:16], path=rest.partition(b" ")[0][:256],
                     host=framing.guess_host(head), rid=rid, client_ip=peer[0] if peer else "-",
                     app=app, status=exc.status, code=exc.code, detail=exc.detail)
        self.observer.record(rec)

    async def _linger(self, reader, writer) -> None:
        """Read and drop what the client still sends before closing.

        Closing with unread bytes in the receive buffer makes the kernel send a
        reset, which can destroy the error response before the client reads it.
        """
        writer.write_eof()
        dropped = 0
        try:
            async with asyncio.timeout(1.0):
                while dropped < 1 << 20:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    dropped += len(data)
        except (TimeoutError, ConnectionError, OSError):
            pass

    # --- one request ---------------------------------------------------------

    async def _handle(self, conn, req, reader, writer, client_ip, port, *,
                      first=None, rec=None, attempts=2) -> bool:
        """Serve one request; True when the connection can carry another."""
        if rec is None:
            rec = Record(method=req.method, path=req.framing.target, host=req.framing.host,
                         rid=forwarding.request_id_for(req.framing), client_ip=client_ip)
        try:
            return await self._route(conn, req, reader, writer, rec, port, first, attempts)
        except Exception as exc:   # a router bug too: answer it (500, H99), keep serving others
            return await self._fail(conn, reader, writer, errors.classify(exc, rec.rid), rec)
        finally:
            self.observer.record(rec)

    async def _fail(self, conn, reader, writer, exc, rec) -> bool:
        rec.code, rec.detail = exc.code, exc.detail
        if conn.can_respond:
            rec.status = exc.status
        return await self._send_error(conn, reader, writer, exc, rec)

    async def _send_error(self, conn, reader, writer, exc, rec) -> bool:
        if not conn.can_respond or isinstance(exc, errors.ClientGone):
            return False
        body = pages.render(exc.status, exc.code, rec.rid, rec.host.decode("latin-1"))
        return await self._respond(conn, reader, writer, rec, exc.status, body,
                                   [(b"Content-Type", b"text/html; charset=utf-8")], close=exc.close)

    async def _respond(self, conn, reader, writer, rec, status: int, body: bytes, headers: list, *,
                       close: bool = False) -> bool:
        """A response of the router's own (error page, redirect, challenge answer); True to keep the connection.

        A request whose body was not read closes the connection after it: what is left of the body
        would be read as the next request."""
        close = close or not conn.request_complete
        headers = headers + [(b"Content-Length", str(len(body)).encode()),
                             (b"Cache-Control", b"no-store"),
                             (b"X-Request-Id", rec.rid.encode())]
        if close:
            headers.append((b"Connection", b"close"))
        data = conn.send_response(status, headers, pages.reason(status))
        data += conn.send_data(body) + conn.send_end()
        rec.bytes_out = len(body)
        try:
            writer.write(data)
            await self._drain(writer)
            if close:
                await self._linger(reader, writer)
        except (errors.RouterError, ConnectionError, OSError):
            return False
        return not close and conn.keep_alive()

    async def _route(self, conn, req, reader, writer, rec, port, first, attempts) -> bool:
        if not req.has_body:
            # Consume the (empty) body's END so the request cycle is complete
            # and keep-alive stays possible, even after an error page.
            conn.next_body_event()
        app = self.table.app_for_host(req.framing.host)
        if app is None:
            raise errors.UnknownHost(req.framing.host.decode("latin-1"))
        rec.app = app
        route = self.table.route_for(app, req.framing.target)
        if route is None:
            raise errors.NoBackends(app)
        if req.has_body:
            conn.limit_body(route.body_limit or self.limits.body)
        tls = scheme.is_tls(writer)
        own = await self._own_response(req, route, tls)
        if own is not None:
            status, body, headers = own
            rec.status = status
            return await self._respond(conn, reader, writer, rec, status, body, headers)
        hsts = route.hsts if tls else None
        if route.maintenance:
            raise errors.Maintenance(app)
        if route.scaled_to_zero:
            route = await self.waker.wait(app, self.t.wake)
        elif route.frozen:
            # Its instances are frozen: the wake thaws them (their agents), the kernel holds the
            # connection meanwhile, so the request goes on at once instead of waiting for a table change.
            await self.waker.nudge(app)
        for _ in range(attempts):
            backend, up = await self._connect(route, first)
            first = None
            reusable = False
            try:
                keep, reusable = await self._exchange(conn, req, reader, writer, backend, up, rec, port, hsts,
                                                      route.patience)
                return keep
            except _StaleConnection:
                # Its idle siblings are likely stale too (the instance closed
                # them together): start the retry on a fresh connection.
                self.pool.forget(backend)
                continue
            finally:
                backend.outstanding -= 1
                self.pool.release(backend, up, reusable)
        raise errors.BackendClosed("instance closed reused connections")

    async def _own_response(self, req, route, tls: bool):
        """(status, body, headers) when the router answers ``req`` itself (an ACME challenge, the
        HTTPS redirect), else None: the app answers."""
        target = req.framing.target
        if target.startswith(CHALLENGE_PREFIX):
            # Never redirected: the CA reads challenges over plain HTTP. One the platform has no
            # answer for goes to the app (it may run its own ACME client for certs:add).
            token = token_in_path(target)
            if token is None or self.challenges is None:
                return None
            answer = await self.challenges.answer(normalise_host(req.framing.host), token)
            return None if answer is None else (200, answer, [(b"Content-Type", b"application/octet-stream")])
        if route.https_redirect and not tls and self.tls_port is not None:
            return (redirect.status_for(req.method), b"",
                    [(b"Location", redirect.location(req.framing, self.tls_port))])
        return None

    async def _connect(self, route, first=None):
        """A connection to some instance; another instance if one cannot connect.

        ``first`` is the instance the fast path already chose (it had no idle
        connection), so the balancer's choice is made once per request.
        """
        tried = []
        last = None
        for _ in range(3):
            if first is not None and not first.removed and not tried:
                backend = first
            else:
                backend = choose_backend(route, exclude=tried, mode=self.settings.balance)
            if backend is None:
                break
            tried.append(backend)
            backend.outstanding += 1
            try:
                # The idle-connection path stays synchronous: no extra await.
                return backend, self.pool.take_idle(backend) or await self.pool.connect(backend)
            except errors.BackendConnectFailed as exc:
                backend.outstanding -= 1
                last = exc
        raise last or errors.NoBackends(route.app)

    async def _exchange(self, conn, req, reader, writer, backend, up, rec, port, hsts=None, patience=0.0):
        """Forward the request and stream the response; (client keep, upstream reusable).

        ``patience``: the route's wait for the first byte and between bytes (0: the router's timeouts)."""
        rec.instance, rec.release = backend.id, backend.release
        upgrade = req.is_upgrade
        bx = up.exchange = self.proto.BackendExchange(self.limits, req.method, up.exchange)
        out = bx.send_forwarded(req, client_ip=rec.client_ip, port=port, rid=rec.rid, upgrade=upgrade,
                                tls=scheme.is_tls(writer))
        body_task = None
        if req.has_body:
            if conn.waiting_for_continue:
                # Expect is answered here, once an instance is connected; the
                # instance never sees it (RFC 9110 10.1.1 allows either).
                writer.write(conn.send_informational(100, []))
            up.writer.write(out)
            body_task = asyncio.create_task(self._pump_body(conn, reader, bx, up))
        else:
            up.writer.write(out + bx.send_end())
        try:
            head = await self._await_head(bx, up, body_task, patience or self.t.first_byte)
        except errors.BackendClosed:
            if up.reused and body_task is None and not bx.got_bytes:
                raise _StaleConnection() from None
            raise
        rec.status = head.status_code
        if head.status_code == 101:
            return await self._switch(conn, reader, writer, up, bx, head, upgrade, rec), False
        try:
            rec.bytes_out = await self._stream_response(conn, writer, bx, up, head, hsts, patience or self.t.idle)
        finally:
            if body_task is not None and not body_task.done():
                body_task.cancel()
        request_sent = body_task is None or _succeeded(body_task)
        return conn.keep_alive(), bx.reusable() and request_sent

    async def _await_head(self, bx, up, body_task, first_byte: float):
        """The response head, waiting out a streaming request body first.

        The first-byte timeout runs from the end of the request: a slow upload is
        policed by the body's idle timeout instead.
        """
        if body_task is None:
            return await self._first_byte(self._response_head(bx, up), first_byte)
        head_task = asyncio.create_task(self._response_head(bx, up))
        try:
            await asyncio.wait((head_task, body_task), return_when=asyncio.FIRST_COMPLETED)
            if not head_task.done():
                body_task.result()   # a client-side error (413, timeout, gone) surfaces here
                return await self._first_byte(head_task, first_byte)
            return head_task.result()
        finally:
            if not head_task.done():
                head_task.cancel()
            if not body_task.done() and not head_task.done():
                body_task.cancel()

    @staticmethod
    async def _first_byte(awaitable, seconds: float):
        try:
            async with asyncio.timeout(seconds):
                return await awaitable
        except TimeoutError:
            raise errors.BackendTimeout(f"no response within {seconds}s") from None

    async def _response_head(self, bx, up):
        try:
            while True:
                event = bx.next_head()
                if event is not None:
                    # 1xx other than 101 are not relayed: the router answered
                    # Expect itself, and h11 cannot forward 103 hints mid-cycle.
                    if event.status_code < 200 and event.status_code != 101:
                        continue
                    return event
                bx.receive_data(await up.reader.read(READ_SIZE))
        except (ConnectionError, OSError) as exc:
            raise errors.BackendClosed(f"instance connection failed: {exc}") from None

    async def _pump_body(self, conn, reader, bx, up) -> bool:
        """Stream the request body to the instance; False if the instance went away."""
        while True:
            event = conn.next_body_event()
            if event is NEED_DATA:
                try:
                    async with asyncio.timeout(self.t.idle):
                        data = await reader.read(READ_SIZE)
                except TimeoutError:
                    raise errors.ClientTimeout("request body stalled") from None
                except (ConnectionError, OSError):
                    raise errors.ClientGone("client reset during request body") from None
                conn.receive_data(data)
                continue
            try:
                if type(event) is Data:
                    up.writer.write(bx.send_data(event.data))
                    if up.writer.backlog() > HIGH_WATER:
                        async with asyncio.timeout(self.t.idle):
                            await up.writer.drain()
                else:
                    up.writer.write(bx.send_end())
                    return True
            except (TimeoutError, ConnectionError, OSError):
                return False

    async def _stream_response(self, conn, writer, bx, up, head, hsts, idle: float) -> int:
        """Send the response head (with ``hsts``, the app's Strict-Transport-Security) and body; the body byte count."""
        pending = [conn.send_proxied(head, hsts)]
        sent = 0
        while True:
            event = bx.next_body_event()
            if event is NEED_DATA:
                self._flush(writer, pending)
                if writer.backlog() > HIGH_WATER:
                    await self._drain(writer)
                bx.receive_data(await self._read_upstream(up, idle))
            elif type(event) is Data:
                sent += len(event.data)
                pending.append(conn.send_data(event.data))
            else:
                pending.append(conn.send_end())
                self._flush(writer, pending)
                if writer.backlog() > HIGH_WATER:
                    await self._drain(writer)
                return sent

    @staticmethod
    def _flush(writer, pending: list) -> None:
        # One write per batch of events: fewer syscalls for small responses.
        if pending:
            writer.write(b"".join(pending))
            pending.clear()

    @staticmethod
    async def _read_upstream(up, idle: float) -> bytes:
        try:
            async with asyncio.timeout(idle):
                return await up.reader.read(READ_SIZE)
        except TimeoutError:
            raise errors.BackendInterrupted("instance stalled mid-response") from None
        except (ConnectionError, OSError):
            raise errors.BackendInterrupted("instance reset mid-response") from None

    async def _drain(self, writer) -> None:
        try:
            async with asyncio.timeout(self.t.send):
                await writer.drain()
        except TimeoutError:
            raise errors.ClientTimeout("client is not reading its response") from None
        except (ConnectionError, OSError):
            raise errors.ClientGone("client went away during the response") from None

    # --- protocol switch (WebSocket) -----------------------------------------

    async def _switch(self, conn, reader, writer, up, bx, head, upgrade, rec) -> bool:
        if not upgrade:
            raise errors.BadResponse("101 to a request that asked for no upgrade")
        writer.write(conn.send_informational(101, forwarding.response_headers(head, upgrade=True)))
        client_rest, backend_rest = conn.take_tunnel_bytes(), bx.take_tunnel_bytes()
        if client_rest:
            up.writer.write(client_rest)
        if backend_rest:
            writer.write(backend_rest)
        tasks = [asyncio.create_task(self._pipe(reader, up.writer)),
                 asyncio.create_task(self._pipe(up.reader, writer))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        rec.bytes_out = sum(t.result() for t in tasks if t.done() and not t.cancelled())
        return False

    async def _pipe(self, src, dst) -> int:
        """Copy one direction of a tunnel until EOF, error or the idle timeout."""
        moved = 0
        try:
            while True:
                async with asyncio.timeout(self.t.idle):
                    data = await src.read(READ_SIZE)
                if not data:
                    break
                moved += len(data)
                dst.write(data)
                async with asyncio.timeout(self.t.send):
                    await dst.drain()
        except (TimeoutError, ConnectionError, OSError):
            pass
        return moved


def _succeeded(task) -> bool:
    """A finished body pump that sent the whole body (retrieves its exception)."""
    return task.done() and not task.cancelled() and task.exception() is None and task.result()
