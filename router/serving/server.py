"""One router worker: listening socket, proxy, route-table sync, logs, metrics.

Workers share the port through SO_REUSEPORT, so the kernel spreads connections
across them, or all accept on one socket handed to the router (handover.py); each
has its own route table and pools (no shared state to lock).
"""

import asyncio
import ctypes
import gc
import json
import logging
import os
import signal
import socket

import redis.asyncio as aioredis

from paas.contracts import redis_keys

from paas.router.telemetry.accesslog import AccessLog
from paas.router.serving.channel import Channel
from paas.router.telemetry.metrics import Metrics
from paas.router.telemetry.observe import Observer
from paas.router.serving.challenges import Challenges
from paas.router.serving.pool import Pool
from paas.router.serving.proxy import Proxy
from paas.router.serving.tls import RELOAD_S as TLS_RELOAD_S, Certificates
from paas.router.serving.tlslink import TLSLink
from paas.router.table import platform
from paas.router.table.routes import RouteTable
from paas.router.table.sync import TableSync, Waker

log = logging.getLogger("paas.router")

# While draining, a keep-alive connection with no request in flight is closed once it has been
# idle this long: a client that keeps using it gets "Connection: close" on its next response
# (and reconnects to the router that now accepts), so only a connection left quiet for this
# long is closed under a client that might be writing to it at that moment.
DRAIN_IDLE_S = 1.0
PR_SET_PDEATHSIG = 1


def listen_socket(host: str, port: int, backlog: int = 4096) -> socket.socket:
    """A non-blocking listening socket that other workers may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


class Router:
    """The parts of a worker wired together; ``start``/``stop`` run it in a loop."""

    def __init__(self, settings, metrics_path: str | None = None):
        self.settings = settings
        self.table = RouteTable(settings.base_domain)
        if settings.platform_api is not None or settings.platform_git is not None:
            # Over TLS only when the router has it: tokens and passwords never cross the router in clear.
            platform.install(self.table, settings.platform_api, settings.platform_git,
                             redirect=settings.tls_port is not None)
        t = settings.timeouts
        self.pool = Pool(settings.pool_size, settings.pool_idle, t.connect)
        self.metrics = Metrics()
        self.access_log = AccessLog(settings.redis_url, settings.key_prefix)
        self.sync = TableSync(settings, self.table)
        self.waker = Waker(self.table, self.sync)
        self.table.on_removed = self.pool.forget
        self.table.on_app_changed = self.waker.app_changed
        self.challenges = Challenges(settings.redis_url, settings.key_prefix)
        self.proxy = Proxy(settings, self.table, self.pool,
                           Observer(self.metrics, self.access_log), self.waker, self.challenges)
        self.metrics_path = metrics_path
        self._server = None
        self._tls_server = None
        self.certificates = None
        self._background: list[asyncio.Task] = []
        # Sessions of open client connections (the proxy adds and removes them).
        self._connections = self.proxy.connections

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    async def start(self, sock: socket.socket | None = None, ready_timeout: float = 5.0,
                    tls_sock: socket.socket | None = None) -> None:
        """Load the table (or give up waiting after ``ready_timeout``), then listen: on ``sock``
        (or the plain port) and, when TLS is on (``settings.tls_port``), on ``tls_sock`` (or that port)."""
        self._background = [asyncio.create_task(self.sync.run()),
                            asyncio.create_task(self.access_log.run())]
        if self.metrics_path:
            self._background.append(asyncio.create_task(self._dump_metrics()))
        try:
            async with asyncio.timeout(ready_timeout):
                await self.sync.ready.wait()
        except TimeoutError:
            log.warning("route table not loaded yet; serving while Redis catches up")
        sock = sock or listen_socket(self.settings.host, self.settings.port)
        loop = asyncio.get_running_loop()
        accept = self.proxy.accept
        port = sock.getsockname()[1]
        self._server = await loop.create_server(lambda: Channel(accept, port), sock=sock)
        if self.settings.tls_port is not None or tls_sock is not None:
            await self._start_tls(tls_sock)

    async def _start_tls(self, tls_sock) -> None:
        s = self.settings
        self.certificates = Certificates(s.base_domain, s.tls_cert, s.tls_key,
                                         known_app=lambda host: self.table.app_for_host(host) is not None)
        sock = tls_sock or listen_socket(s.host, s.tls_port)
        accept = self.proxy.accept
        port = sock.getsockname()[1]
        context, head = self.certificates.context, s.timeouts.head
        # TLS on memory BIOs of the router's own (tlslink.py: cheaper than the loop's TLS layer). The
        # handshake has the head deadline: a client that stalls in it holds only its own socket.
        self._tls_server = await asyncio.get_running_loop().create_server(
            lambda: TLSLink(context, Channel(accept, port), head), sock=sock)
        # https:redirect sends clients here: the configured port, or the one bound (port 0 in tests).
        self.proxy.tls_port = s.tls_port or self.tls_port
        self._background.append(asyncio.create_task(self._reload_certificates()))

    @property
    def tls_port(self) -> int:
        return self._tls_server.sockets[0].getsockname()[1]

    async def _reload_certificates(self) -> None:
        client = aioredis.from_url(self.settings.redis_url)
        key = redis_keys.tls_certificates(self.settings.key_prefix)
        try:
            while True:
                await self.load_certificates(client, key)
                await asyncio.sleep(TLS_RELOAD_S)
        finally:
            await client.aclose()

    async def load_certificates(self, client, key: str) -> None:
        """One pass: the certificate files (renewing the issued one), then the uploaded ones."""
        try:
            if self.certificates.reload():
                log.info("TLS certificate reloaded")
        except Exception:
            log.exception("TLS certificate check failed; the loaded one stays")
        try:
            self.certificates.set_uploaded(await client.hgetall(key))
        except (aioredis.RedisError, OSError) as exc:
            log.warning("uploaded certificates: redis unavailable (%s); the loaded ones stay", exc)

    async def stop(self) -> None:
        """Stop accepting and drain: requests in flight finish (up to the drain timeout), each
        answered with ``Connection: close``, as is the next request on a kept-alive connection;
        connections that stay idle are closed after DRAIN_IDLE_S.

        With a handed socket (handover.py) the connections not yet accepted stay in the
        kernel's queue for the router started beside this one.
        """
        if self._server is not None:
            self._server.close()
        if self._tls_server is not None:
            self._tls_server.close()
        self.proxy.closing = True
        for session in list(self._connections):
            session.close_after_response()
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline, idle_until = now + self.settings.timeouts.drain, now + DRAIN_IDLE_S
        while self._connections and loop.time() < deadline:
            if not self.proxy.active and loop.time() >= idle_until:
                break
            await asyncio.sleep(0.02)
        tasks = [s.task for s in self._connections if s.task is not None]
        for session in list(self._connections):
            if session.task is None:
                session.close()
        for task in tasks + self._background:
            task.cancel()
        await asyncio.gather(*tasks, *self._background, return_exceptions=True)
        await self.challenges.close()
        self.pool.close_all()

    async def _dump_metrics(self) -> None:
        # The supervisor merges every worker's file for /metrics and Redis.
        tmp = f"{self.metrics_path}.tmp"
        while True:
            await asyncio.sleep(1.0)
            with open(tmp, "w") as f:
                json.dump(self.metrics.state(), f)
            os.replace(tmp, self.metrics_path)


def _loop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _stop_with_parent() -> None:
    """SIGTERM (a drain) when the supervisor dies, even by SIGKILL: a worker left behind would
    keep accepting on the port beside the supervisor's replacement, with an old table and code."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return


def run_worker(settings, metrics_path: str | None = None, sock: socket.socket | None = None,
               serving=None, tls_sock: socket.socket | None = None) -> None:
    """Entry point of a worker process: serve until SIGTERM/SIGINT (or the supervisor's death), then drain.

    ``sock`` is a listening socket handed to the router (all workers accept on it); without
    one the worker binds its own with SO_REUSEPORT; ``tls_sock`` likewise for the TLS port. ``serving`` (an Event) is set once it accepts.
    """
    parent = os.getppid()
    _stop_with_parent()
    # A worker forked by the running supervisor inherits its asyncio signal
    # handlers, which write to the supervisor's wakeup pipe: a SIGTERM arriving
    # before this worker's own handlers are set would be lost. Until then the
    # default action (exit) is right, as nothing is in flight yet.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    async def main():
        router = Router(settings, metrics_path)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if os.getppid() != parent:   # the supervisor died before the death signal was armed
            return
        await router.start(sock, tls_sock=tls_sock)
        # What start-up made (modules, the table, TLS contexts) lives as long as the worker:
        # out of the collector's sight, full collections no longer walk it again and again
        # while connections come and go.
        gc.freeze()
        log.info("worker %d serving on %s:%d", os.getpid(), settings.host, router.port)
        if serving is not None:
            serving.set()
        await stop.wait()
        await router.stop()

    asyncio.run(main(), loop_factory=_loop_factory())
