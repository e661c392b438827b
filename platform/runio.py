"""The developer's side of an attached run: the Redis streams the runtime's relay uses."""

import base64

from django.conf import settings

from paas.contracts import redis_keys
from paas.platform.redis_client import get_redis

MAX_INPUT = 64 * 1024
SIGNALS = ("INT", "TERM", "HUP", "QUIT")


def run_keys(name: str) -> tuple[str, str]:
    return redis_keys.run_streams(settings.PAAS_REDIS_PREFIX, name)


def send(name: str, fields: dict) -> None:
    in_key, _ = run_keys(name)
    client = get_redis()
    client.xadd(in_key, fields, maxlen=redis_keys.RUN_INPUT_MAXLEN, approximate=True)
    client.expire(in_key, 3600)


async def read(client, name: str, cursor: str, wait_s: int) -> tuple[list[str], str, bool]:
    """Output chunks (base64) after ``cursor``, the new cursor, and whether the output ended.

    ``client`` is a redis.asyncio client: the wait holds no thread (platform/api/longpoll.py).
    """
    _, out_key = run_keys(name)
    result = await client.xread({out_key: cursor}, count=500, block=wait_s * 1000 if wait_s else None)
    chunks, ended = [], False
    for _, entries in result or []:
        for entry_id, fields in entries:
            cursor = entry_id.decode()
            if b"eof" in fields:
                ended = True
            elif b"data" in fields:
                chunks.append(fields[b"data"].decode())
    return chunks, cursor, ended


def decode_input(data) -> bytes:
    try:
        raw = base64.b64decode(data, validate=True)
    except (ValueError, TypeError):
        raise ValueError("data must be base64") from None
    if len(raw) > MAX_INPUT:
        raise ValueError(f"send at most {MAX_INPUT} bytes at a time")
    return raw
