"""ACME HTTP-01 answers (pki/challenges.py): looked up in Redis per challenge request.

Platform Control writes a challenge into ``acme:challenges`` moments before it asks the CA to
validate, so the router reads the one field it needs when the request comes instead of keeping
a copy that could lag. Challenge requests are rare; the Redis user may HGET only this key.
"""

import logging

import redis.asyncio as aioredis

from paas.contracts import redis_keys
from paas.pki import challenges

log = logging.getLogger("paas.router.challenges")
LOOKUP_TIMEOUT_S = 2.0


class Challenges:
    def __init__(self, redis_url: str, prefix: str):
        self.url = redis_url
        self.key = redis_keys.acme_challenges(prefix)
        self.client: aioredis.Redis | None = None

    async def answer(self, host: str, token: str) -> bytes | None:
        """The key authorization for ``token`` on ``host``, or None (none pending, or Redis away)."""
        if self.client is None:
            self.client = aioredis.from_url(self.url, socket_timeout=LOOKUP_TIMEOUT_S,
                                            socket_connect_timeout=LOOKUP_TIMEOUT_S)
        try:
            value = await self.client.hget(self.key, challenges.field(host, token))
        except (aioredis.RedisError, OSError) as exc:
            log.warning("ACME challenge for %s: redis unavailable (%s)", host, exc)
            return None
        if value is None:
            return None
        # Written by Platform Control, checked there too; a value of any other shape is not served.
        text = value.decode("ascii", "replace") if len(value) <= challenges.MAX_KEY_AUTHORIZATION else ""
        if not challenges.valid_key_authorization(token, text):
            log.error("ACME challenge for %s: ignoring a malformed answer", host)
            return None
        return value

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None
