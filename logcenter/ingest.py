"""From the apps' Redis streams into the store, with a consumer group: nothing acknowledged before it is stored.

Each pass reads every app's stream ``<prefix>logs:<app>`` in one XREADGROUP (at most
``READ_COUNT`` entries per stream, so a flooding app cannot crowd out another's lines),
turns entries into Records (schema.record: hostile lines cut, decoded, bounded), drops
what exceeds the per-instance rate limit (counted, and a marker line says so), stores
the batch and only then XACKs it. A restarted ingest first re-reads its pending entries
(delivered, never acknowledged) and skips those the store already holds, so delivery is
at-least-once and storage once per entry id. Entries another consumer left pending longer
than ``claim_idle_s`` (it crashed, or its host is gone and it will never come back under that
name) are taken over (XPENDING IDLE, then XCLAIM: ``claim``) and go through the same skip of stored ids.
"""

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import hiredis
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
CLAIM_IDLE_S = 60.0        # default: another consumer's entries pending this long are taken over
COLLECT_EVERY_S = 10.0     # while ``run`` ingests, Python's cyclic collector runs this often (``_TimedCollector``)


INSTANCE = schema.ROW.index("instance")
SOURCE = schema.ROW.index("source")
# Lines a tenant's code writes: rate-limited per instance. Router lines (one per request the router
# served: request metrics are made of them) and the platform's own are kept whole.
LIMITED = frozenset(("app", "build"))


def _fields(flat: list | None) -> dict | None:
    """An entry's [name, value, name, value, ...] as a dict (None: an entry trimmed while pending)."""
    if flat is None:
        return None
    pairs = iter(flat)
    return dict(zip(pairs, pairs))


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
                 idle=time.sleep, sink=None, claim_idle_s: float = CLAIM_IDLE_S):
        self.redis = client
        #: How a pass with no stream to block on waits instead (no app yet, or Redis back empty).
        self.idle = idle
        self.sink = sink          # called with each stored batch's rows (drains.DrainSet.offer): must not block
        # XREADGROUP's replies as the wire gave them: redis-py's own parsing into dicts cost more
        # than a third of the ingest (measured). A client of its own, so the caller's keeps its callbacks.
        self._raw = redis.Redis(connection_pool=client.connection_pool)
        self._raw.set_response_callback("XREADGROUP", lambda response, **options: response)
        self._raw.set_response_callback("XCLAIM", lambda response, **options: response)
        self.store = store
        self.prefix = prefix
        self.consumer = consumer
        self.limit = RateLimit(rate_limit)
        self.streams: dict[bytes, bytes] = {}     # key -> the id to read from: b"0" (own pending) then b">"
        self.dropped = 0
        self.stored = 0
        self.claimed = 0
        # A live consumer's batch is pending for well under a second; an entry idle far longer than any
        # batch takes is one its consumer will not acknowledge (claiming a live one's would store it twice).
        self.claim_idle_ms = int(claim_idle_s * 1000)
        self._discovered = 0.0
        self._claimed_at = 0.0

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
                out = self._pending(self._read(pending, None))
                if out:
                    return out
            if time.monotonic() - self._claimed_at > self.claim_idle_ms / 4000:
                out = self.claim()
                if out:
                    return out
            result = self._read(self.streams, block_ms)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.streams.clear()   # a stream was deleted (app destroyed): find them again
            self.discover()
            return []
        return [(key, entries) for key, entries in result if entries]

    def _read(self, streams: dict, block_ms: int | None) -> list[tuple[bytes, list]]:
        """(key, [(entry id, fields dict or None when trimmed)]) of one XREADGROUP, RESP2 or RESP3."""
        reply = self._raw.xreadgroup(GROUP, self.consumer, streams, count=READ_COUNT, block=block_ms)
        if not reply:
            return []
        pairs = reply.items() if isinstance(reply, dict) else reply
        return [(key, [(entry_id, _fields(flat)) for entry_id, flat in entries]) for key, entries in pairs]

    def claim(self) -> list[tuple[bytes, list]]:
        """Entries other consumers left pending longer than ``claim_idle_ms``, made this consumer's, minus
        those already stored (acknowledged at once). At most READ_COUNT per stream and pass; a longer list
        is taken over on the next passes.

        XPENDING's IDLE filter then XCLAIM rather than XAUTOCLAIM: XAUTOCLAIM would also take this
        consumer's own batch being stored meanwhile (``run``) if that store were slow, and store it twice.
        XCLAIM's own min-idle check makes two consumers claiming at once take each entry once."""
        self._claimed_at = time.monotonic()
        keys = list(self.streams)
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.xpending_range(key, GROUP, "-", "+", READ_COUNT, idle=self.claim_idle_ms)
        stale = {}
        for key, reply in zip(keys, pipe.execute(raise_on_error=False)):
            if isinstance(reply, redis.ResponseError):
                if "NOGROUP" in str(reply):
                    continue     # deleted with its app; discover() finds the streams again
                raise reply
            ids = [p["message_id"] for p in reply if p["consumer"] != self.consumer.encode()]
            if ids:
                stale[key] = ids
                if len(reply) == READ_COUNT:
                    self._claimed_at = 0.0      # more to take over: on the next pass
        out = []
        for key, ids in stale.items():
            reply = self._raw.xclaim(key, GROUP, self.consumer, self.claim_idle_ms, ids)
            entries = [(entry_id, _fields(flat)) for entry_id, flat in reply or []]
            if entries:
                self.claimed += len(entries)
                log.info("claimed %d entries of %s pending over %d ms", len(entries), key, self.claim_idle_ms)
                out.append((key, self._unstored(key, entries)))
        return out

    def _pending(self, result) -> list[tuple[bytes, list]]:
        out = []
        for key, entries in result:
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

    def rows(self, key: bytes, entries: list) -> tuple[list, list]:
        """Stored rows (schema.ROW) and entry ids of one stream's entries, after the rate limit (markers added)."""
        app = self.app_of(key)
        rows, ids = [], []
        make, admit, per_second = schema.row, self.limit.admit, self.limit.per_second
        for entry_id, fields in entries:
            if fields is None:        # deleted from the stream (trimmed) while pending
                continue
            row = make(fields, entry_id, app)   # the stream names the app, whatever a field claims
            if row[SOURCE] in LIMITED:
                # By the second Redis accepted it (the entry id's milliseconds): a writer's ts is its own claim.
                keep, closed = admit(app, row[INSTANCE], int(entry_id[:entry_id.index(b"-")]) // 1000)
                if closed:
                    rows.append(drop_marker(app, row[INSTANCE], closed, per_second, schema.entry_time(entry_id)).row())
                    ids.append(f"{entry_id.decode()}-dropped")
                if not keep:
                    self.dropped += 1
                    continue
            rows.append(row)
            ids.append(entry_id.decode())
        return rows, ids

    def _gather(self, block_ms: int, records: list, ids: list, acks: list, deadline: float) -> None:
        """Read and parse until a batch is full, the streams are empty or ``deadline`` has passed."""
        while len(records) < BATCH_LINES:
            got = self.read(block_ms if not records else None)
            for key, entries in got:
                more, more_ids = self.rows(key, entries)
                records += more
                ids += more_ids
                acks.append((key, [entry_id for entry_id, _ in entries]))
            if not got or time.monotonic() > deadline:
                break

    def gather(self, block_ms: int = 100) -> "Batch":
        """Read and parse one batch (up to BATCH_LINES lines or BATCH_WAIT_S), with rate-limit markers due."""
        if time.monotonic() - self._discovered > DISCOVER_EVERY_S:
            self.discover()
        batch = Batch()
        # A batch is some 400,000 young objects without a cycle among them: the collector's passes over
        # them cost as much as parsing (measured), and it finds nothing to free.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._gather(block_ms, batch.rows, batch.ids, batch.acks, time.monotonic() + BATCH_WAIT_S)
        finally:
            if collecting:
                gc.enable()
        now = datetime.now(timezone.utc)
        for app, instance, dropped in self.limit.pending_drops(int(now.timestamp())):
            batch.rows.append(drop_marker(app, instance, dropped, self.limit.per_second, now).row())
            batch.ids.append(f"dropped-{app}-{instance}-{int(now.timestamp())}")
        return batch

    def commit(self, batch: "Batch") -> int:
        """Store a batch, then acknowledge its entries; returns lines stored."""
        if batch.rows:
            self.store.insert_rows(batch.rows, batch.ids)
            self.stored += len(batch.rows)
            if self.sink is not None:
                self.sink(batch.rows)
        # Acknowledged only once stored: a crash before this line redelivers the batch.
        self.acknowledge(batch.acks)
        return len(batch.rows)

    def acknowledge(self, acks: list) -> None:
        """XACK each (stream key, [entry id, ...]) in one round trip; raises the first error after every reply.

        Packed by hiredis: redis-py's pipeline encodes each id in Python, 0.45 us an entry against 0.1
        (measured), as much as a tenth of what the ingest's own Python spends on a line."""
        packed = [hiredis.pack_command((b"XACK", key, GROUP, *entry_ids)) for key, entry_ids in acks if entry_ids]
        if not packed:
            return
        pool = self.redis.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_packed_command(packed)
            errors = []
            for _ in packed:   # every reply read, so the connection goes back to the pool clean
                try:
                    conn.read_response()
                except redis.ResponseError as exc:
                    errors.append(exc)
        finally:   # a connection error has disconnected it (redis-py): the pool reconnects
            pool.release(conn)
        if errors:
            raise errors[0]

    def run_once(self, block_ms: int = 100) -> int:
        """Read, store and acknowledge one batch; returns lines stored."""
        return self.commit(self.gather(block_ms))

    def run(self, stop: threading.Event, block_ms: int = 100, collect_every_s: float = COLLECT_EVERY_S) -> None:
        """Ingest until ``stop`` is set: each batch is read and parsed while the one before is stored.

        chdb inserts without the interpreter lock (from an Arrow file, store.insert_columns), so on
        two cores parsing and storing overlap. At most one batch waits to be stored (back-pressure:
        reading stops while the store is behind). An error of either side is raised here, after
        every entry not acknowledged is made to be read again (``recover``). Meanwhile the cyclic
        collector runs every ``collect_every_s`` instead of by allocation counts (``_TimedCollector``)."""
        with _TimedCollector(collect_every_s) as collector:
            self._run(stop, block_ms, collector)

    def _run(self, stop: threading.Event, block_ms: int, collector: "_TimedCollector") -> None:
        storing: _Commit | None = None
        try:
            while not stop.is_set():
                batch = self.gather(block_ms)
                if storing is not None:
                    storing.result()
                storing = _Commit(self, batch)
                collector.tick()
            if storing is not None:
                storing.result()
                storing = None
        except BaseException:
            if storing is not None:
                storing.wait()
            self.recover()
            raise

    def recover(self) -> None:
        """After a failed batch: read this consumer's own pending entries again (stored ones are skipped)."""
        self.streams = dict.fromkeys(self.streams, b"0")


class _TimedCollector:
    """Python's cyclic collector on a timer while the ingest runs, not on allocation counts.

    Counted, it ran every few thousand allocations and walked each batch's rows once while they waited
    to be stored (a row's items are scattered objects: 0.55 to 0.66 us a line, measured with gc.callbacks,
    for nothing to free). On a timer it walks whatever is alive then, once in ``every_s``; the cycles
    other threads leave (requests, drains, alerts) wait at most that long. Restored on the way out."""

    def __init__(self, every_s: float):
        self.every_s = every_s
        self.was_on = False
        self.collected_at = 0.0

    def __enter__(self) -> "_TimedCollector":
        self.was_on = gc.isenabled()
        gc.disable()
        self.collected_at = time.monotonic()
        return self

    def tick(self) -> None:
        if self.was_on and time.monotonic() - self.collected_at >= self.every_s:
            gc.collect()
            self.collected_at = time.monotonic()

    def __exit__(self, *exc) -> None:
        if self.was_on:
            gc.enable()


@dataclass
class Batch:
    """Parsed lines waiting to be stored, and the entry ids to acknowledge once they are."""

    rows: list = field(default_factory=list)
    ids: list = field(default_factory=list)
    acks: list = field(default_factory=list)     # (stream key, [entry id, ...])


class _Commit:
    """``ingest.commit(batch)`` in a thread of its own; ``result()`` waits and raises its error."""

    def __init__(self, ingest: Ingest, batch: Batch):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(ingest, batch), name="logcenter-store", daemon=True)
        self.thread.start()

    def _run(self, ingest: Ingest, batch: Batch) -> None:
        try:
            ingest.commit(batch)
        except BaseException as exc:  # handed to the ingest's own thread by result()
            self.error = exc

    def wait(self) -> None:
        self.thread.join()

    def result(self) -> None:
        self.thread.join()
        if self.error is not None:
            raise self.error
