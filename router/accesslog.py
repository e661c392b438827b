"""Access-log lines into each app's Redis log stream, off the request path.

``append`` only puts a dict on a list; a background task ships the batch in one
pipelined round trip every 100 ms. If Redis is down, lines are dropped (counted)
rather than letting memory grow or requests wait: logs are best-effort here, the
request path is not.
"""

import asyncio
import logging

import redis.asyncio as aioredis

log = logging.getLogger("paas.router.accesslog")
MAX_PENDING = 50_000
STREAM_MAXLEN = 10_000


class AccessLog:
    def __init__(self, redis_url: str, prefix: str, interval: float = 0.1):
        self.redis_url = redis_url
        self.prefix = prefix
        self.interval = interval
        self.pending: list[tuple[str, dict]] = []
        self.dropped = 0
        self._wake = asyncio.Event()

    def append(self, app: str, fields: dict) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
            return
        self.pending.append((app, fields))

    async def run(self) -> None:
        """Ship batches until cancelled; reconnects on its own."""
        client = aioredis.from_url(self.redis_url)
        try:
            while True:
                await asyncio.sleep(self.interval)
                await self.flush(client)
        finally:
            await self.flush(client)
            await client.aclose()

    async def flush(self, client) -> None:
        if not self.pending:
            return
        batch, self.pending = self.pending, []
        pipe = client.pipeline(transaction=False)
        for app, fields in batch:
            pipe.xadd(f"{self.prefix}logs:{app}", fields, maxlen=STREAM_MAXLEN, approximate=True)
        try:
            await pipe.execute()
        except (aioredis.RedisError, OSError) as exc:
            self.dropped += len(batch)
            log.warning("access log: dropped %d lines: %s", len(batch), exc)
