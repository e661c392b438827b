"""Long polls (log follow, run output, domain checks) that wait on the event loop, not on a request thread.

A follow waits up to ``wait`` seconds in Redis's XREAD BLOCK. Under the API's ASGI
server (platform/api_server.py, platform/asgi.py) that wait is an awaiting coroutine:
it holds no thread and no PostgreSQL connection, so fifty open follows leave every other
request as fast as none. Under WSGI (Django's test server) the same views still
work, holding their thread as any view does.

Each user may hold PAAS_MAX_FOLLOWS_PER_USER such waits at once. The slots are
counted in Redis, so the cap holds across workers and hosts: a sorted set per
user whose members expire by score, so a worker killed mid-poll leaks its slot
for at most the poll's own length plus SLOT_MARGIN_S.

This module is the one parser of the query values both endpoints share: the
stream cursor (``after``) and the wait (``wait``).
"""

import logging
import re
import secrets
from contextlib import asynccontextmanager

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from paas.contracts import redis_keys
from paas.platform.api.params import query_int
from paas.platform.api.routing import Endpoint
from paas.platform.exceptions import BadRequest, TooManyRequests, Unavailable
from paas.platform.redis_client import async_redis

log = logging.getLogger(__name__)

MAX_WAIT_S = 25
# Redis stream ids are two unsigned 64-bit numbers; a bigger one makes Redis refuse the command.
MAX_ID_PART = 2**64 - 1
_CURSOR = re.compile(r"(\d{1,20})-(\d{1,20})\Z", re.ASCII)
SLOT_MARGIN_S = 30
RETRY_AFTER_S = 5

# Atomically: forget expired slots, refuse past the cap, else take a slot. The clock is
# Redis's own (TIME), so workers on hosts with skewed clocks agree on what has expired.
_TAKE_SLOT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return 1
"""


def query_wait(request) -> int:
    """``?wait=S``: how long a follow may wait for new entries, 0 to MAX_WAIT_S seconds."""
    return query_int(request, "wait", 0, 0, MAX_WAIT_S)


def query_cursor(request, default: str | None = None, *, latest: bool = False) -> str | None:
    """``?after=<ms>-<seq>``, a Redis stream id this API returned (or ``$`` when ``latest``); else 400."""
    raw = request.GET.get("after")
    if raw is None:
        return default
    if latest and raw == "$":
        return raw
    match = _CURSOR.match(raw)
    if not match or any(int(part) > MAX_ID_PART for part in match.groups()):
        raise BadRequest("after must be a cursor returned by this endpoint (like 1733480000000-0)")
    return raw


def _slots_key(user_id: int) -> str:
    return redis_keys.follow_slots(settings.PAAS_REDIS_PREFIX, user_id)


@asynccontextmanager
async def follow_slot(client, user, wait_s: float):
    """Hold one of the user's follow slots while the body waits; 429 when all are taken.

    Released when the follow ends, fails or is cancelled (its client went away); a
    crashed worker's slot expires after ``wait_s + SLOT_MARGIN_S``.
    """
    key, member = _slots_key(user.pk), secrets.token_hex(8)
    cap = settings.PAAS_MAX_FOLLOWS_PER_USER
    if not await client.eval(_TAKE_SLOT, 1, key, cap, wait_s + SLOT_MARGIN_S, member):
        raise TooManyRequests(
            f"you already have {cap} waiting requests open (log follows, run attachments, domain checks: "
            "the limit per user); end one (paas logs --tail, paas run) and try again", retry_after=RETRY_AFTER_S)
    try:
        yield
    finally:
        await client.zrem(key, member)


class LongPollEndpoint(Endpoint):
    """An endpoint whose handlers are coroutines, ``async def handler(request, **params)``, that wait.

    Log follows, run output and domain checks (a DNS lookup) wait this way. Everything
    before the handler is routing.Endpoint.prepare, the same as every endpoint's, run on a
    thread; the handler awaits its wait on the event loop.
    """

    def url(self):
        view = csrf_exempt(self.async_view)
        view.long_poll = True  # platform/asgi.py lets these pass its queue of threaded requests
        return path(self.route, view, name=self.name or None)

    async def async_view(self, request, **params):
        refused = self.refuse_method(request)
        if refused is not None:
            return refused
        try:
            await sync_to_async(self.prepare)(request, params)
            result = await self.handlers[request.method](request, **params)
        finally:
            # A long poll's sync steps ran on a thread of its own (platform/asgi.py): its
            # database connection would outlive it, unclosed, on that finished thread.
            await sync_to_async(release_database)()
        return self.respond(result)


def release_database() -> None:
    """Give back this thread's PostgreSQL connection: before a long wait, and when a long poll ends.

    A follow must not hold one of the server's max_connections for up to 25 s. Inside a
    transaction (a test's) the connection is left alone: closing it would end that transaction.
    """
    if not connection.in_atomic_block:
        connection.close()


async def waiting(user, wait_s: int, read):
    """Run ``read(client)`` (an XREAD BLOCK of at most ``wait_s``) inside one of the user's follow slots.

    A wait of 0 answers at once and takes no slot.
    """
    if wait_s:
        await sync_to_async(release_database)()
    try:
        async with async_redis(wait_s) as client:
            if not wait_s:
                return await read(client)
            async with follow_slot(client, user, wait_s):
                return await read(client)
    except redis.RedisError:
        log.exception("long poll failed")
        raise Unavailable("logs and run output are unavailable right now (Redis); try again in a moment") from None
