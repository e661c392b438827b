"""Access-log lines into each app's Redis log stream, off the request path.

``add`` queues one entry; a background task ships what is queued every 100 ms as
one batch of XADDs on a connection of redis-py's asyncio client (so ``rediss://``,
credentials and the database in ``REDIS_URL`` mean what they mean everywhere else).
While Redis is away the entries wait in a bounded buffer (``MAX_PENDING``) and the
batch is retried; what the bound turns away is counted per app and, once Redis
answers again, written to that app's stream as one marker line (code L10) before
the entries that waited. Logs are best-effort; the request path never waits on them.
"""

import asyncio
import logging
import time

import hiredis
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from paas.contracts import redis_keys
from paas.logcenter.schema import ROUTER_FIELDS, release_label

log = logging.getLogger("paas.router.telemetry.accesslog")
MAX_PENDING = 50_000     # entries held while Redis is slow or away
STREAM_MAXLEN = redis_keys.LOG_MAXLEN
RETRY_S = 1.0            # between connection attempts while Redis is away
# What a router entry sends of the one log schema (logcenter/schema.py: the rest is implied); a router
# line's method, path, status, duration and bytes are in its line, parsed by the Log Center.
_FIELDS = tuple(name.encode() for name in ROUTER_FIELDS)
_SOURCE = b"router"
_REPLY_OFF = hiredis.pack_command((b"CLIENT", b"REPLY", b"OFF"))
_REPLY_ON = hiredis.pack_command((b"CLIENT", b"REPLY", b"ON"))
# Heroku's code for log lines a full buffer turned away.
DROPPED_LINE = b'at=error code=L10 desc="Log buffer overflow" dropped=%d'


class AccessLog:
    """The router's access-log writer: ``add`` per request, ``run`` as a background task."""

    def __init__(self, redis_url: str, prefix: str, interval: float = 0.1, max_pending: int = MAX_PENDING,
                 retry_s: float = RETRY_S):
        self.redis_url = redis_url
        self.prefix = prefix
        self.interval = interval
        self.max_pending = max_pending
        self.retry_s = retry_s
        #: (stream key, app, release label, ts, line), oldest first.
        self.pending: list[tuple] = []
        #: Entries turned away since their app's last marker line: app -> (count, release label).
        self.dropped: dict[str, tuple[int, bytes]] = {}
        self._keys: dict[tuple, tuple[bytes, bytes, bytes]] = {}
        self._client = None
        self._conn = None
        self._retry_at = 0.0
        self._down = False

    def entry_key(self, app: str, release: int) -> tuple[bytes, bytes, bytes]:
        """(stream key, app, release label) of ``app``'s entries, cached per app and release."""
        cached = self._keys.get((app, release))
        if cached is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            cached = self._keys[(app, release)] = (redis_keys.log_stream(self.prefix, app).encode(), app.encode(),
                                                   release_label(release).encode())
        return cached

    def add(self, app: str, release: int, ts: bytes, line: bytes) -> None:
        """Queue one router entry (schema.ROUTER_FIELDS: its app, process and stream are implied)."""
        key, app_b, release_b = self._keys.get((app, release)) or self.entry_key(app, release)
        if len(self.pending) >= self.max_pending:
            self._count_dropped(app, 1, release_b)
            return
        self.pending.append((key, app_b, release_b, ts, line))

    async def run(self) -> None:
        """Ship batches until cancelled, reconnecting on its own; one last flush on the way out."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            try:
                async with asyncio.timeout(2.0):
                    await self.flush()
            except TimeoutError:
                pass
            if self._client is not None:
                await self._drop_connection()
                await self._client.aclose()

    async def flush(self) -> bool:
        """Send what is queued (and the marker lines of what was dropped); False if Redis is away."""
        if not self.pending and not self.dropped:
            return True
        loop = asyncio.get_running_loop()
        if self._down and loop.time() < self._retry_at:
            return False
        batch, dropped = self.pending, self.dropped
        self.pending, self.dropped = [], {}
        try:
            await self._send(self._markers(dropped) + batch)
        except (RedisError, OSError) as exc:
            self._requeue(batch, dropped)
            if not self._down:
                log.warning("access log: redis unavailable (%s); holding up to %d lines", exc, self.max_pending)
            self._down, self._retry_at = True, loop.time() + self.retry_s
            return False
        except Exception:
            # A router bug: sending this batch again would fail again. Count it as
            # dropped and keep the log task (and the lines after it) alive.
            log.exception("access log: could not send %d lines", len(batch))
            self._requeue([], dropped)
            for entry in batch:
                self._count_dropped(entry[1].decode(), 1, entry[2])
            return False
        if self._down:
            log.info("access log: redis is back")
        self._down = False
        return True

    def _markers(self, dropped: dict) -> list[tuple]:
        ts = _now_ts()
        return [(redis_keys.log_stream(self.prefix, app).encode(), app.encode(), release, ts, DROPPED_LINE % count)
                for app, (count, release) in dropped.items()]

    def _requeue(self, batch: list, dropped: dict) -> None:
        """Put a batch that did not go back in front of what arrived meanwhile, within the bound."""
        for app, (count, release) in dropped.items():
            self._count_dropped(app, count, release)
        merged = batch + self.pending
        for entry in merged[self.max_pending:]:
            self._count_dropped(entry[1].decode(), 1, entry[2])
        self.pending = merged[:self.max_pending]

    def _count_dropped(self, app: str, count: int, release: bytes) -> None:
        self.dropped[app] = (self.dropped.get(app, (0, b""))[0] + count, release)

    async def _send(self, entries: list) -> None:
        """Write ``entries`` as XADDs on the log's own connection, and wait for Redis to have run them.

        The XADDs (and one XTRIM per stream) go with replies off (``CLIENT REPLY OFF``), then ``CLIENT REPLY ON``, whose one
        OK says the whole batch was executed: one reply per batch instead of one per line,
        which redis-py would parse in Python (a fifth of the router's CPU at full load). A
        line Redis refuses (a key of another type) is lost alone and silently, as with replies
        nobody would act on. Commands are packed by hiredis (redis-py's own packer encodes
        each argument in Python: 11 µs per line against 2).
        """
        conn = self._conn
        if conn is None:
            if self._client is None:
                self._client = aioredis.Redis.from_url(
                    self.redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=0)
            conn = self._conn = await self._client.connection_pool.get_connection()
        f_ts, f_release, f_source, f_line = _FIELDS
        source = _SOURCE
        pack = hiredis.pack_command
        packed = [pack((b"XADD", key, b"*", f_ts, ts, f_release, release, f_source, source, f_line, line))
                  for key, _, release, ts, line in entries]
        # Each stream written is trimmed once per batch rather than by MAXLEN on every XADD (three
        # arguments fewer to pack per line): once the batch has run it is within its bound, as before.
        maxlen = b"%d" % STREAM_MAXLEN
        trims = [pack((b"XTRIM", key, b"MAXLEN", b"~", maxlen)) for key in {entry[0]: None for entry in entries}]
        try:
            await conn.send_packed_command([_REPLY_OFF, *packed, *trims, _REPLY_ON], check_health=False)
            reply = await conn.read_response()
        except BaseException:
            await self._drop_connection()
            raise
        if reply not in (b"OK", "OK"):
            await self._drop_connection()
            raise RedisError(f"unexpected reply {reply!r} to CLIENT REPLY ON")

    async def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.disconnect()
            await self._client.connection_pool.release(conn)


class Clock:
    """The ``ts`` field: RFC 3339 UTC with microseconds; formats the seconds once a second."""

    def __init__(self):
        self._second = -1
        self._prefix = b""

    def now(self) -> str:
        return self.at(time.time())

    def at(self, t: float) -> str:
        return self.at_bytes(t).decode()

    def at_bytes(self, t: float) -> bytes:
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return b"%s.%06dZ" % (self._prefix, int((t - second) * 1e6))


def _now_ts() -> bytes:
    return Clock().now().encode()
