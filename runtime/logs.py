"""Shipping a container's stdout and stderr into the app's Redis stream (see LOGS.md).

The container writes to stdout.log and stderr.log in its directory (no helper
process per container); the shipper reads each file from the offset it last
shipped and appends whole lines to ``<prefix>logs:<app>``. The new offset is saved
in Redis in the same MULTI/EXEC transaction as the entries, so an agent that
restarts at any moment neither loses nor repeats a line.
"""

from pathlib import Path

from paas.contracts import redis_keys
from paas.logcenter import schema

from . import config
from .syscalls import punch_hole

REDIS_PREFIX = redis_keys.prefix()
OFFSETS_KEY = redis_keys.log_offsets(REDIS_PREFIX)
# Offsets are per host: an instance moved off a host that was down has the same name on
# both, and the returning host must not reset the new copy's offsets.
HOST = config.host_name()


def offset_field(container_id: str, stream: str) -> str:
    return f"{HOST}:{container_id}:{stream}"
MAXLEN = redis_keys.LOG_MAXLEN
CHUNK = 1 << 20          # read at most this much per file per pass
MAX_LINE = 64 << 10      # a longer run of bytes without a newline is shipped as its own line
STREAMS = ("stdout", "stderr")
# Once this much of a log file is shipped, its disk blocks are given back (a
# hole is punched): the file keeps its size and every offset stays valid, so the
# app keeps appending and nothing needs rotating.
RECLAIM_AFTER = 1 << 20
BLOCK = 4096


def stream_key(app: str) -> str:
    return redis_keys.log_stream(REDIS_PREFIX, app)


def _split(data: bytes, final: bool) -> tuple[list[bytes], int]:
    """Whole lines of `data` and how many bytes they consumed."""
    end = data.rfind(b"\n") + 1
    if end == 0 and (final or len(data) >= MAX_LINE):
        end = len(data)
    elif final and end < len(data):
        end = len(data)
    lines = data[:end].splitlines()
    return lines, end


def ship(redis, container_id: str, directory: Path, labels: dict, final: bool = False) -> int:
    """Ship new lines of one container; `final` also ships a last line without newline. Returns lines shipped."""
    app = labels.get("app") or container_id
    shipped = 0
    for stream in STREAMS:
        path = directory / f"{stream}.log"
        field = offset_field(container_id, stream)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            continue
        offset = int(redis.hget(OFFSETS_KEY, field) or 0)
        if size < offset:
            offset = 0  # the file was truncated (rotated): start over
        while offset < size:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read(min(CHUNK, size - offset))
            lines, used = _split(data, final)
            if used == 0:
                break
            pipe = redis.pipeline(transaction=True)
            for line in lines:
                pipe.xadd(stream_key(app), schema.entry(
                    app=app, release=labels.get("release", ""), process=labels.get("process", ""), source="app",
                    stream=stream, line=line.decode("utf-8", errors="replace"), instance=container_id, host=HOST,
                ), maxlen=MAXLEN, approximate=True)
            offset += used
            pipe.hset(OFFSETS_KEY, field, offset)
            pipe.execute()
            shipped += len(lines)
        if shipped and offset >= RECLAIM_AFTER:
            _reclaim(path, offset)
    return shipped


def _reclaim(path: Path, shipped_offset: int) -> None:
    """Free the disk space of what is already in Redis (whole blocks only)."""
    try:
        punch_hole(str(path), shipped_offset - shipped_offset % BLOCK)
    except OSError:
        pass  # a filesystem without hole punching keeps the file whole: only disk is spent


def forget(redis, container_id: str) -> None:
    """Drop the offsets of a removed container."""
    redis.hdel(OFFSETS_KEY, *(offset_field(container_id, s) for s in STREAMS))
