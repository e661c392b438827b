"""Access-log lines into each app's Redis log stream, off the request path.

``add`` encodes one entry's XADD command (from pieces cached per app and
release, so a request costs one format) and puts it on a list; a background task
ships the batch every 100 ms as one write. The commands are encoded here and sent on
a connection in ``CLIENT REPLY OFF`` mode: building and parsing one command per
request through redis-py cost the router a fifth of its CPU, and a log line needs
no reply. If Redis is down or falls behind, lines are dropped (counted) rather than
letting memory grow or requests wait: logs are best-effort, the request path is not.
"""

import asyncio
import logging
from urllib.parse import unquote, urlsplit

from paas.contracts import redis_keys
from paas.logcenter.schema import FIELDS, release_label

log = logging.getLogger("paas.router.accesslog")
MAX_PENDING = 50_000
MAX_UNSENT = 8 << 20     # bytes queued towards a slow Redis before dropping
STREAM_MAXLEN = b"%d" % redis_keys.LOG_MAXLEN
# The first seven fields of the one log schema (logcenter/schema.py); a router line's
# method, path, status, duration and bytes are in its line, parsed by the Log Center.
_FIELDS = tuple(name.encode() for name in FIELDS[:7])


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


# XADD key MAXLEN ~ 10000 * and the seven _FIELDS, as one RESP format: a
# single %-format per entry instead of a list of parts.
_XADD = (b"*20\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$" + b"%d\r\n" % len(STREAM_MAXLEN)
         + STREAM_MAXLEN + b"\r\n$1\r\n*\r\n"
         + b"".join(_bulk(name).replace(b"%", b"%%") + b"$%d\r\n%s\r\n" for name in _FIELDS))


def encode_xadd(key: bytes, values: list[bytes]) -> bytes:
    """``XADD key MAXLEN ~ 10000 * field value …`` in RESP."""
    if len(values) == 7:
        ts, app, release, process, source, stream, line = values
        return _XADD % (len(key), key, len(ts), ts, len(app), app, len(release), release,
                        len(process), process, len(source), source, len(stream), stream, len(line), line)
    parts = [b"*%d\r\n" % (6 + 2 * len(values)), _bulk(b"XADD"), _bulk(key), _bulk(b"MAXLEN"),
             _bulk(b"~"), _bulk(STREAM_MAXLEN), _bulk(b"*")]
    for name, value in zip(_FIELDS, values):
        parts.append(_bulk(name))
        parts.append(_bulk(value))
    return b"".join(parts)


def _router_parts(key: bytes, app: bytes, release: bytes) -> tuple[bytes, bytes]:
    """``encode_xadd`` of a router entry split around its two varying values (ts, line)."""
    whole = encode_xadd(key, [b"\0ts\0", app, release, b"router", b"router", b"stdout", b"\0line\0"])
    before_ts, _, rest = whole.partition(b"$4\r\n\0ts\0\r\n")
    middle, _, _ = rest.partition(b"$6\r\n\0line\0\r\n")
    return before_ts, middle


_ENTRY = b"%s$%d\r\n%s\r\n%s$%d\r\n%s\r\n"


class AccessLog:
    def __init__(self, redis_url: str, prefix: str, interval: float = 0.1):
        self.redis_url = redis_url
        self.prefix = prefix
        self.interval = interval
        self.pending: list[bytes] = []        # encoded XADD commands
        self._parts: dict[tuple, tuple[bytes, bytes]] = {}
        self.dropped = 0
        self._writer = None

    def append(self, app: str, values: list[bytes]) -> None:
        """Queue one entry: values in the order of ``_FIELDS``."""
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append(encode_xadd(redis_keys.log_stream(self.prefix, app).encode(), values))

    def add(self, app: str, release: int, ts: bytes, line: bytes) -> None:
        """Queue one router entry (process, source and stream ``router``, ``router``,
        ``stdout``): the same bytes as ``append``, from cached pieces."""
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        parts = self._parts.get((app, release)) or self.parts(app, release)
        self.pending.append(_ENTRY % (parts[0], len(ts), ts, parts[1], len(line), line))

    def parts(self, app: str, release: int) -> tuple[bytes, bytes]:
        """The cached XADD pieces of ``app``'s router entries around ts and line.

        ``_parts.get((app, release))`` first is the cheap way (Observer does it
        and hands them to the native ``log_entry``, which makes the entry)."""
        parts = self._parts.get((app, release))
        if parts is None:
            if len(self._parts) >= 4096:
                self._parts.clear()
            parts = self._parts[(app, release)] = _router_parts(redis_keys.log_stream(self.prefix, app).encode(),
                                                                app.encode(), release_label(release).encode())
        return parts

    async def run(self) -> None:
        """Ship batches until cancelled; reconnects on its own."""
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush()
        finally:
            await self.flush()
            if self._writer is not None:
                self._writer.close()

    async def flush(self) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        try:
            writer = self._writer or await self._connect()
        except (OSError, ConnectionError, TimeoutError) as exc:
            self.dropped += len(batch)
            log.warning("access log: dropped %d lines, redis unavailable: %s", len(batch), exc)
            return
        if writer.is_closing() or writer.transport.get_write_buffer_size() > MAX_UNSENT:
            self.dropped += len(batch)
            writer.close()
            self._writer = None
            return
        writer.write(b"".join(batch))

    async def _connect(self):
        url = urlsplit(self.redis_url)
        async with asyncio.timeout(2.0):
            reader, writer = await asyncio.open_connection(url.hostname or "127.0.0.1", url.port or 6379)
            setup = []
            if url.password:
                user = [unquote(url.username).encode()] if url.username else []
                setup.append([b"AUTH", *user, unquote(url.password).encode()])
            db = (url.path or "/0").strip("/") or "0"
            setup.append([b"SELECT", db.encode()])
            for command in setup:
                writer.write(b"*%d\r\n" % len(command) + b"".join(_bulk(a) for a in command))
                reply = await reader.readline()
                if not reply.startswith(b"+"):
                    writer.close()
                    raise ConnectionError(f"redis refused {command[0].decode()}: {reply!r}")
            writer.write(b"*3\r\n" + _bulk(b"CLIENT") + _bulk(b"REPLY") + _bulk(b"OFF"))
        self._writer = writer
        return writer
