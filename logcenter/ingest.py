"""From the apps' Redis streams into the store, with a consumer group: nothing acknowledged before it is stored.

Each pass reads every app's stream ``<prefix>logs:<app>`` in one XREADGROUP (at most
``READ_COUNT`` entries per stream, so a flooding app cannot crowd out another's lines),
turns entries into Records (schema.record: hostile lines cut, decoded, bounded), drops
what exceeds the per-instance rate limit (counted, and a marker line says so), stores
the batch and only then XACKs it. A restarted ingest first re-reads its pending entries
(delivered, never acknowledged) and skips those the store already holds, so delivery is
at-least-once and storage once per entry id.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import redis

from paas.contracts import redis_keys
from paas.logcenter import schema
from paas.logcenter.store import Store

log = logging.getLogger("paas.logcenter.ingest")
GROUP = "logcenter"
READ_COUNT = 2000          # entries per stream per read
BATCH_LINES = 20_000       # store at most this many lines in one insert
BATCH_WAIT_S = 0.2         # ... and wait at most this long for a batch to fill
DISCOVER_EVERY_S = 2.0     # how often new apps' streams are looked for


def entry_time(entry_id: bytes) -> datetime:
    """When Redis accepted an entry (the millisecond part of its id)."""
    ms = int(entry_id.split(b"-", 1)[0])
    return datetime.fromtimestamp(ms / 1000, timezone.utc)


@dataclass
class RateLimit:
    """Lines per second per (app, instance); excess lines are dropped and counted per window."""

    per_second: int
    window: dict = field(default_factory=dict)     # (app, instance) -> [second, kept, dropped]

    def admit(self, app: str, instance: str, second: int) -> tuple[bool, int]:
        """Whether a line of ``second`` is kept, and lines dropped in the window just closed (for a marker)."""
        key = (app, instance)
        state = self.window.get(key)
        closed = 0
        if state is None or state[0] != second:
            closed = state[2] if state else 0
            state = self.window[key] = [second, 0, 0]
            if len(self.window) > 100_000:  # keys of instances long gone
                self.window = {key: state}
        if state[1] < self.per_second:
            state[1] += 1
            return True, closed
        state[2] += 1
        return False, closed

    def pending_drops(self, now_second: int) -> list[tuple[str, str, int]]:
        """(app, instance, dropped) of windows that ended without a later line to report them; resets them."""
        out = []
        for key, state in self.window.items():
            if state[0] < now_second and state[2]:
                out.append((key[0], key[1], state[2]))
                state[2] = 0
        return out


def drop_marker(app: str, instance: str, dropped: int, limit: int, at: datetime) -> schema.Record:
    return schema.Record(time=at, app=app, source="platform", process="logcenter", instance=instance, level="warn",
                         line=f"[logcenter: dropped {dropped} lines of instance {instance} over the rate limit "
                              f"of {limit} lines/s]")


class Ingest:
    """One consumer of the group; several may run (on any host) against the same streams and store service."""

    def __init__(self, client: redis.Redis, store: Store, prefix: str, consumer: str, rate_limit: int,
                 idle=time.sleep):
        self.redis = client
        #: How a pass with no stream to block on waits instead (no app yet, or Redis back empty).
        self.idle = idle
        self.store = store
        self.prefix = prefix
        self.consumer = consumer
        self.limit = RateLimit(rate_limit)
        self.streams: dict[bytes, bytes] = {}     # key -> the id to read from: b"0" (own pending) then b">"
        self.dropped = 0
        self.stored = 0
        self._discovered = 0.0

    def discover(self) -> None:
        """Join the group on every app stream not seen yet (created at the stream's start: its 10,000 kept lines)."""
        offsets = redis_keys.log_offsets(self.prefix).encode()
        for key in self.redis.scan_iter(match=redis_keys.log_streams_pattern(self.prefix), count=1000, _type="stream"):
            if key in self.streams or key == offsets:
                continue
            try:
                self.redis.xgroup_create(key, GROUP, id="0")
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            self.streams[key] = b"0"
        self._discovered = time.monotonic()

    def app_of(self, key: bytes) -> str:
        return redis_keys.app_of_log_stream(self.prefix, key.decode("utf-8", "replace"))

    def read(self, block_ms: int | None) -> list[tuple[bytes, list]]:
        """One XREADGROUP over every stream: own pending entries first (after a restart), then new ones.

        ``block_ms``: how long to wait for new entries; None: not at all (0 would be forever)."""
        if not self.streams:
            if block_ms:
                self.idle(block_ms / 1000)   # as a blocking read would: else the loop spins
            return []
        pending = {k: v for k, v in self.streams.items() if v != b">"}
        try:
            if pending:  # explicit ids answer at once, without BLOCK
                out = self._pending(self.redis.xreadgroup(GROUP, self.consumer, pending, count=READ_COUNT))
                if out:
                    return out
            result = self.redis.xreadgroup(GROUP, self.consumer, self.streams, count=READ_COUNT, block=block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.streams.clear()   # a stream was deleted (app destroyed): find them again
            self.discover()
            return []
        return [(key, entries) for key, entries in result or [] if entries]

    def _pending(self, result) -> list[tuple[bytes, list]]:
        out = []
        for key, entries in result or []:
            if not entries:
                self.streams[key] = b">"   # own pending list drained: from now on, new entries
                continue
            self.streams[key] = entries[-1][0]   # page through the pending list
            out.append((key, self._unstored(key, entries)))
        return out

    def _unstored(self, key: bytes, entries: list) -> list:
        """Redelivered entries not yet in the store (the crash came between insert and XACK)."""
        ids = [entry_id.decode() for entry_id, _ in entries]
        seen = self.store.stored_ids(self.app_of(key), ids)
        if seen:
            self.redis.xack(key, GROUP, *[i for i in ids if i in seen])
        return [(entry_id, fields) for entry_id, fields in entries if entry_id.decode() not in seen]

    def records(self, key: bytes, entries: list) -> tuple[list, list]:
        """Records and entry ids of one stream's entries, after the rate limit (markers added)."""
        app = self.app_of(key)
        records, ids = [], []
        for entry_id, fields in entries:
            if fields is None:        # deleted from the stream (trimmed) while pending
                continue
            received = entry_time(entry_id)
            rec = schema.record(fields, received)
            rec.app = app             # the stream names the app, whatever a field claims
            keep, closed = self.limit.admit(app, rec.instance, int(received.timestamp()))
            if closed:
                records.append(drop_marker(app, rec.instance, closed, self.limit.per_second, received))
                ids.append(f"{entry_id.decode()}-dropped")
            if keep:
                records.append(rec)
                ids.append(entry_id.decode())
            else:
                self.dropped += 1
        return records, ids

    def run_once(self, block_ms: int = 100) -> int:
        """Read, store and acknowledge one batch; returns lines stored."""
        if time.monotonic() - self._discovered > DISCOVER_EVERY_S:
            self.discover()
        records, ids, acks = [], [], []
        deadline = time.monotonic() + BATCH_WAIT_S
        while len(records) < BATCH_LINES:
            got = self.read(block_ms if not records else None)
            for key, entries in got:
                more, more_ids = self.records(key, entries)
                records += more
                ids += more_ids
                acks.append((key, [entry_id for entry_id, _ in entries]))
            if not got or time.monotonic() > deadline:
                break
        now = datetime.now(timezone.utc)
        for app, instance, dropped in self.limit.pending_drops(int(now.timestamp())):
            records.append(drop_marker(app, instance, dropped, self.limit.per_second, now))
            ids.append(f"dropped-{app}-{instance}-{int(now.timestamp())}")
        if records:
            self.store.insert(records, ids)
            self.stored += len(records)
        # Acknowledged only once stored: a crash before this line redelivers the batch.
        for key, entry_ids in acks:
            if entry_ids:
                self.redis.xack(key, GROUP, *entry_ids)
        return len(records)
