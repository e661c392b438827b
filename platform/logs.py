"""Reading an app's log stream (runtime/LOGS.md) and writing platform lines into it."""

import threading

import redis
from django.conf import settings

from paas.contracts import redis_keys
from paas.logcenter import schema
from paas.platform.redis_client import get_redis

MAXLEN = redis_keys.LOG_MAXLEN
MAX_LINES = 1500


def stream_key(app_name: str) -> str:
    return redis_keys.log_stream(settings.PAAS_REDIS_PREFIX, app_name)


MISSED_LINE = "[paas: {} platform lines not logged while the platform's Redis was away; paas events has them]"
# Per app, the platform lines this process could not write (Redis away): said by the next one written.
_missed: dict[str, int] = {}
_missed_lock = threading.Lock()


def write_platform_line(app_name: str, line: str, release: int | None = None) -> None:
    """A deploy, scale or crash as a ``platform`` line beside the app's own output (``release``: its version)."""
    with _missed_lock:
        missed = _missed.pop(app_name, 0)
    try:
        pipe = get_redis().pipeline(transaction=False)
        if missed:
            pipe.xadd(stream_key(app_name), schema.entry(
                app=app_name, process="platform", source="platform", level="warn", line=MISSED_LINE.format(missed),
            ), maxlen=MAXLEN, approximate=True)
        pipe.xadd(stream_key(app_name), schema.entry(
            app=app_name, release=schema.release_label(release), process="platform", source="platform", line=line,
        ), maxlen=MAXLEN, approximate=True)
        pipe.execute()
    except redis.RedisError:
        # The event is in PostgreSQL; the log line is a convenience, counted for the next one.
        with _missed_lock:
            if len(_missed) > 10_000:
                _missed.clear()   # apps long gone: a bound on this process's memory
            _missed[app_name] = _missed.get(app_name, 0) + missed + 1


def decode(entry_id: bytes, fields: dict, app_name: str) -> dict:
    """One entry of ``app_name``'s stream as the API shows it, with the fields its writer left out (schema.implied)."""
    row = schema.implied({k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}, app_name)
    row["id"] = entry_id.decode()
    return row


def matches(row: dict, process: str | None, source: str | None) -> bool:
    if process and row.get("process") != process and not row.get("process", "").startswith(process + "."):
        return False
    return not source or row.get("source") == source


def recent(app_name: str, lines: int, process: str | None = None, source: str | None = None) -> list[dict]:
    """The last ``lines`` matching entries, oldest first."""
    rows, last = [], "+"
    client = get_redis()
    # Read backwards in pages until enough lines match the filter or the stream ends.
    while len(rows) < lines:
        page = client.xrevrange(stream_key(app_name), max=last, count=500)
        if not page:
            break
        for entry_id, fields in page:
            row = decode(entry_id, fields, app_name)
            if matches(row, process, source):
                rows.append(row)
        last = "(" + page[-1][0].decode()
    return list(reversed(rows[:lines]))


async def after(client, app_name: str, cursor: str, wait_s: int) -> list[dict]:
    """Entries newer than ``cursor``, waiting up to ``wait_s`` for the first (the long poll of --tail).

    ``client`` is a redis.asyncio client: the wait holds no thread (platform/api/longpoll.py).
    """
    block = wait_s * 1000 if wait_s else None
    result = await client.xread({stream_key(app_name): cursor}, count=MAX_LINES, block=block)
    rows = []
    for _, entries in result or []:
        rows += [decode(entry_id, fields, app_name) for entry_id, fields in entries]
    return rows
