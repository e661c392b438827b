"""Keep-alive connection pools to instances (asyncio Protocols, see channel.py).

An idle connection is kept for ``pool_idle`` seconds only: app servers close idle
keep-alive connections on their own (gunicorn after 2 s), and a request sent on a
connection the instance is closing fails. The proxy still retries a body-less
request once on a fresh connection when a reused one dies before any response byte.
"""

import asyncio
import errno
import socket
from collections import deque

from paas.router import errors
from paas.router.serving.channel import Channel


class Upstream:
    """One TCP connection to an instance: a Channel, read and written alike."""

    __slots__ = ("ch", "reader", "writer", "reused", "idle_since", "exchange")

    def __init__(self, ch: Channel):
        self.ch = ch
        # The coroutine paths read and write the same Channel.
        self.reader = self.writer = ch
        self.reused = False
        self.idle_since = 0.0
        self.exchange = None   # the last BackendExchange on it: its parser serves the next one

    def stale(self) -> bool:
        """Closed, half-closed, or holding bytes nobody asked for."""
        ch = self.ch
        return ch.eof or ch.buffered > 0 or ch.transport.is_closing()

    def close(self) -> None:
        ch = self.ch
        ch.on_data = ch.on_lost = ch.on_resume = None
        ch.clear_deadline()
        ch.close()


class Pool:
    def __init__(self, size: int, idle: float, connect_timeout: float):
        self.size = size
        self.idle = idle
        self.connect_timeout = connect_timeout
        self._idle: dict[tuple, deque[Upstream]] = {}

    def take_idle(self, backend) -> Upstream | None:
        """A kept connection to ``backend`` that is still fresh, if any."""
        idle = self._idle.get(backend.key)
        if not idle:
            return None
        now = idle[-1].ch._loop.time()
        while idle:
            up = idle.pop()
            ch = up.ch
            # up.stale(), inlined: this runs once per proxied request.
            if (now - up.idle_since < self.idle and not ch.eof and not ch._buffered
                    and not ch.transport.is_closing()):
                up.reused = True
                return up
            up.close()
        return None

    async def connect(self, backend) -> Upstream:
        """A new connection; BackendConnectFailed (retryable elsewhere) if none."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, ch = await loop.create_connection(Channel, backend.address, backend.port)
        except TimeoutError:
            raise errors.BackendConnectTimeout(f"connect to {backend.id} timed out") from None
        except OSError as exc:
            raise errors.BackendConnectFailed(
                f"connect to {backend.id}: {errno.errorcode.get(exc.errno, exc)}") from None
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return Upstream(ch)

    def release(self, backend, up: Upstream, reusable: bool) -> None:
        """Return a connection after a complete exchange, or close it."""
        key = backend.key
        idle = self._idle.get(key)
        if idle is None:
            idle = self._idle[key] = deque()
        ch = up.ch
        # up.stale() inlined, as in take_idle: this runs once per proxied request.
        if (not reusable or backend.removed or len(idle) >= self.size
                or ch.eof or ch._buffered or ch.transport.is_closing()):
            up.close()
            return
        # Idle in the pool: bytes or EOF arriving now are buffered and make the
        # connection stale (checked when it is taken).
        ch.on_data = ch.on_lost = ch.on_resume = None
        # ch.clear_deadline() inlined
        ch._deadline = ch._on_timeout = None
        up.idle_since = ch._loop.time()
        idle.append(up)

    def forget(self, backend) -> None:
        """The instance left the route table: close its idle connections."""
        for up in self._idle.pop(backend.key, ()):
            up.close()

    def close_all(self) -> None:
        for idle in self._idle.values():
            for up in idle:
                up.close()
        self._idle.clear()
