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

from . import config, logledger, logspool
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


def ship(redis, container_id: str, directory: Path, labels: dict, final: bool = False, *,
         redis_offsets: bool = True) -> int:
    """Ship new lines of one container; `final` also ships a last line without newline. Returns lines shipped.

    Redis away: raises ``redis.RedisError`` once each file's unshipped part is bounded
    (logledger.bound); the lines dropped are reported by a marker when Redis is back.
    ``redis_offsets=False``: the ledger alone keeps the place (the spool's copies, whose
    instance may run again under the same name and fields).
    """
    import redis as redis_lib

    shipped = 0
    try:
        if redis_offsets and logspool.owes_forget(container_id):
            # An earlier run of this name ended while Redis was away: its offsets are not ours.
            _forget_now(redis, container_id)
        for stream in STREAMS:
            shipped += _ship_stream(redis, container_id, directory, labels, stream, final, redis_offsets)
    except redis_lib.RedisError:
        for stream in STREAMS:
            _bound_backlog(directory, stream)
        raise
    return shipped


def _ship_stream(redis, container_id: str, directory: Path, labels: dict, stream: str, final: bool,
                 redis_offsets: bool) -> int:
    app = labels.get("app") or container_id
    path = directory / f"{stream}.log"
    field = offset_field(container_id, stream)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0
    ledger = logledger.load(directory, stream)
    committed = redis.hget(OFFSETS_KEY, field) if redis_offsets else None
    committed = int(committed) if committed is not None else None
    offset = logledger.start_offset(ledger, committed)
    if size < offset:
        offset = 0  # the file was truncated (rotated): start over
    ledger.offset = offset
    marker = logledger.marker_due(ledger, committed)
    if not marker:
        ledger.dropped = 0
    shipped = 0
    while ledger.offset < size or marker:
        lines, used = _read_lines(path, ledger.offset, size, final)
        if used == 0 and not marker:
            break
        pipe = redis.pipeline(transaction=True)
        if marker:
            # First, before the lines after the gap: how many were dropped, in the same commit.
            pipe.xadd(stream_key(app), _entry(app, labels, stream, container_id,
                                              logledger.marker_line(ledger.dropped, stream), level="warn",
                                              source="platform"), maxlen=MAXLEN, approximate=True)
        for line in lines:
            pipe.xadd(stream_key(app), _entry(app, labels, stream, container_id,
                                              line.decode("utf-8", errors="replace")),
                      maxlen=MAXLEN, approximate=True)
        ledger.offset += used
        if redis_offsets:
            pipe.hset(OFFSETS_KEY, field, ledger.offset)
        pipe.execute()
        marker, ledger.dropped = False, 0
        logledger.save(directory, stream, ledger)
        shipped += len(lines)
    if shipped and ledger.offset >= RECLAIM_AFTER:
        _reclaim(path, ledger.offset)
    return shipped


def _read_lines(path: Path, offset: int, size: int, final: bool) -> tuple[list[bytes], int]:
    if offset >= size:
        return [], 0
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read(min(CHUNK, size - offset))
    return _split(data, final)


def _entry(app: str, labels: dict, stream: str, container_id: str, line: str, level: str = "",
           source: str = "app") -> dict:
    return schema.entry(app=app, release=labels.get("release", ""), process=labels.get("process", ""),
                        source=source, stream=stream, line=line, instance=container_id, host=HOST, level=level)


def _bound_backlog(directory: Path, stream: str) -> None:
    """Redis is away: keep what waits for it under logledger.BACKLOG_BYTES, and give back the rest's disk."""
    path = directory / f"{stream}.log"
    try:
        size = path.stat().st_size
        ledger = logledger.load(directory, stream)
        if logledger.bound(path, ledger, size):
            logledger.save(directory, stream, ledger)
            _reclaim(path, ledger.offset)
    except OSError:
        pass  # the instance is being removed: nothing left to bound


def ship_final(redis, container_id: str, directory: Path, labels: dict) -> int:
    """The last shipping of an ended instance, before its directory goes. Redis away: what it
    has not shipped is kept in the spool (logspool.py) and shipped by a later pass."""
    import redis as redis_lib

    try:
        return ship(redis, container_id, directory, labels, final=True)
    except redis_lib.RedisError:
        logspool.keep(container_id, directory, labels, STREAMS)
        raise


def ship_spooled(redis) -> int:
    """Ship the spooled lines of instances that ended while Redis was away; returns lines shipped."""
    shipped = 0
    for container_id, directory, labels in logspool.pending():
        shipped += ship(redis, container_id, directory, labels, final=True, redis_offsets=False)
        logspool.remove(directory)
    for container_id in logspool.owed_forgets():
        _forget_now(redis, container_id)
    return shipped


def _reclaim(path: Path, shipped_offset: int) -> None:
    """Free the disk space of what is already in Redis (whole blocks only)."""
    try:
        punch_hole(str(path), shipped_offset - shipped_offset % BLOCK)
    except OSError:
        pass  # a filesystem without hole punching keeps the file whole: only disk is spent


def forget(redis, container_id: str) -> None:
    """Drop the offsets of a removed container. Redis away: owed, and paid before anything of
    that name is shipped again (a new run starts its files at 0) or by a later pass."""
    import redis as redis_lib

    try:
        _forget_now(redis, container_id)
    except redis_lib.RedisError:
        logspool.owe_forget(container_id)


def _forget_now(redis, container_id: str) -> None:
    redis.hdel(OFFSETS_KEY, *(offset_field(container_id, s) for s in STREAMS))
    logspool.forgiven(container_id)
