"""One Redis connection pool per process, from REDIS_URL; and short-lived asyncio clients for long polls."""

from contextlib import asynccontextmanager
from functools import lru_cache

import redis
import redis.asyncio
from django.conf import settings


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=30, socket_connect_timeout=5, health_check_interval=30)


@asynccontextmanager
async def async_redis(block_s: float):
    """An asyncio client for one request that may block up to ``block_s`` seconds (XREAD BLOCK).

    One per request rather than a pool per process: an asyncio connection belongs to the
    event loop that made it, and Django's WSGI path runs each async view in a loop of its own.
    """
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL, socket_timeout=block_s + 10, socket_connect_timeout=5)
    try:
        yield client
    finally:
        await client.aclose()
