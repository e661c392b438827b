"""Slowing down password guessing at `paas login`.

Failed logins are counted in Redis per account and per client address over
a window (PAAS_LOGIN_WINDOW_S, 15 min). Past PAAS_LOGIN_MAX_FAILURES for an
account (10), or five times that from one address, logins are refused with
429 and Retry-After until the window's first failure has aged out, before
the password is even checked, so a locked account confirms no guess. A
successful login clears its account's count. If Redis is away, logins still
work (the password hasher's cost is the remaining brake); it is logged.
"""

import logging

import redis
from django.conf import settings

from paas.platform.exceptions import TooManyRequests
from paas.platform.redis_client import get_redis

log = logging.getLogger(__name__)
ADDRESS_FACTOR = 5  # one address may carry several people's typos (an office behind NAT)


def _keys(username: str, address: str) -> tuple[str, str]:
    prefix = f"{settings.PAAS_REDIS_PREFIX}login:failures"
    return f"{prefix}:user:{username.lower()}", f"{prefix}:addr:{address}"


def wait_seconds(counts: list[tuple[int, int]], limits: list[int]) -> int:
    """Seconds until a login may be tried again: 0 when every (count, ttl) is under its limit."""
    return max([max(ttl, 1) for (count, ttl), limit in zip(counts, limits) if count >= limit], default=0)


def _limits() -> list[int]:
    return [settings.PAAS_LOGIN_MAX_FAILURES, settings.PAAS_LOGIN_MAX_FAILURES * ADDRESS_FACTOR]


def check(username: str, address: str) -> None:
    """Raise TooManyRequests while the account or the address is locked out."""
    keys = _keys(username, address)
    try:
        pipe = get_redis().pipeline()
        for key in keys:
            pipe.get(key)
            pipe.ttl(key)
        raw = pipe.execute()
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)
        return
    counts = [(int(raw[i] or 0), int(raw[i + 1])) for i in (0, 2)]
    wait = wait_seconds(counts, _limits())
    if wait:
        raise TooManyRequests(f"too many failed logins; try again in {wait} s", retry_after=wait)


def failed(username: str, address: str) -> None:
    try:
        pipe = get_redis().pipeline()
        for key in _keys(username, address):
            # The window starts at the first failure; INCR keeps the expiry SET gave.
            pipe.set(key, 0, ex=settings.PAAS_LOGIN_WINDOW_S, nx=True)
            pipe.incr(key)
        pipe.execute()
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)


def succeeded(username: str, address: str) -> None:
    try:
        get_redis().delete(_keys(username, address)[0])
    except redis.RedisError as error:
        log.warning("login throttle unavailable: %s", error)
