"""An ingest worker: the apps' Redis streams read through a consumer group, parsed, handed to the store owner.

Each pass reads every app's stream ``<prefix>logs:<app>`` in one XREADGROUP (at most
``READ_COUNT`` entries per stream, so a flooding app cannot crowd out another's lines), turns
entries into rows (schema.row: hostile lines cut, decoded, bounded) and a batch (wire.table), hands
the batch to the store owner (``deliver``: intake.Intake.accept in ``paas-logs``, or wire.Client from
``paas-logs-ingest`` on any host) and only once it answered XACKs the entries. Nothing here survives a
restart: a restarted worker re-reads its own pending entries (delivered, never acknowledged), and
entries another consumer left pending longer than ``claim_idle_s`` (it crashed, or its host is gone
and it will never come back under that name) are taken over (XPENDING IDLE, then XCLAIM: ``claim``).
Both are marked ``again``: the store owner leaves out those it stored already (intake.py), and it
applies the per-instance rate limit, which must count every worker's lines.
"""

import gc
import logging
import threading
import time
from dataclasses import dataclass, field

import hiredis
import redis

from paas.contracts import redis_keys
from paas.logcenter import schema, wire

log = logging.getLogger("paas.logcenter.ingest")
GROUP = "logcenter"
READ_COUNT = 2000          # entries per stream per read
BATCH_LINES = 20_000       # store at most this many lines in one insert
BATCH_WAIT_S = 0.2         # ... and wait at most this long for a batch to fill
BATCH_TEXT = 16 << 20      # ... or stop reading at this many characters of lines (a worker's memory)
DISCOVER_EVERY_S = 2.0     # how often new apps' streams are looked for
CLAIM_IDLE_S = 60.0        # default: another consumer's entries pending this long are taken over
COLLECT_EVERY_S = 10.0     # while ``run`` ingests, Python's cyclic collector runs this often (``_TimedCollector``)


LINE = schema.ROW.index("line")


def _fields(flat: list | None) -> dict | None:
    """An entry's [name, value, name, value, ...] as a dict (None: an entry trimmed while pending)."""
    if flat is None:
        return None
    pairs = iter(flat)
    return dict(zip(pairs, pairs))


class Ingest:
    """One consumer of the group; several may run (on any host, each its own name) against the same streams.

    ``deliver(batch)`` hands a batch (wire.SCHEMA) to the store owner and returns its answer
    (``{"stored": n, ...}``) once stored; it raises if it was not."""

    def __init__(self, client: redis.Redis, deliver, prefix: str, consumer: str, idle=time.sleep,
                 claim_idle_s: float = CLAIM_IDLE_S):
        self.redis = client
        #: How a pass with no stream to block on waits instead (no app yet, or Redis back empty).
        self.idle = idle
        # XREADGROUP's replies as the wire gave them: redis-py's own parsing into dicts cost more
        # than a third of the ingest (measured). A client of its own, so the caller's keeps its callbacks.
        self._raw = redis.Redis(connection_pool=client.connection_pool)
        self._raw.set_response_callback("XREADGROUP", lambda response, **options: response)
        self._raw.set_response_callback("XCLAIM", lambda response, **options: response)
        self.deliver = deliver
        self.prefix = prefix
        self.consumer = consumer
        self.streams: dict[bytes, bytes] = {}     # key -> the id to read from: b"0" (own pending) then b">"
        self.dropped = 0          # lines the owner dropped over the rate limit, of this worker's batches
        self.duplicates = 0       # lines the owner had stored already (redelivered entries)
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

    def read(self, block_ms: int | None) -> list[tuple[bytes, list, bool]]:
        """One XREADGROUP over every stream: own pending entries first (after a restart), then new ones;
        (key, entries, again): ``again`` for entries delivered before (own pending ones, claimed ones).

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
        return [(key, entries, False) for key, entries in result if entries]

    def _read(self, streams: dict, block_ms: int | None) -> list[tuple[bytes, list]]:
        """(key, [(entry id, fields dict or None when trimmed)]) of one XREADGROUP, RESP2 or RESP3."""
        reply = self._raw.xreadgroup(GROUP, self.consumer, streams, count=READ_COUNT, block=block_ms)
        if not reply:
            return []
        pairs = reply.items() if isinstance(reply, dict) else reply
        return [(key, [(entry_id, _fields(flat)) for entry_id, flat in entries]) for key, entries in pairs]

    def claim(self) -> list[tuple[bytes, list, bool]]:
        """Entries other consumers left pending longer than ``claim_idle_ms``, made this consumer's (``again``:
        the owner leaves out those stored already). At most READ_COUNT per stream and pass; a longer list
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
                out.append((key, entries, True))
        return out

    def _pending(self, result) -> list[tuple[bytes, list, bool]]:
        out = []
        for key, entries in result:
            if not entries:
                self.streams[key] = b">"   # own pending list drained: from now on, new entries
                continue
            self.streams[key] = entries[-1][0]   # page through the pending list
            out.append((key, entries, True))
        return out

    def rows(self, key: bytes, entries: list) -> tuple[list, list]:
        """Stored rows (schema.ROW) and entry ids of one stream's entries."""
        app = self.app_of(key)
        rows, ids = [], []
        make = schema.row
        for entry_id, fields in entries:
            if fields is None:        # deleted from the stream (trimmed) while pending
                continue
            rows.append(make(fields, entry_id, app))   # the stream names the app, whatever a field claims
            ids.append(entry_id.decode())
        return rows, ids

    def _gather(self, block_ms: int, batch: "Batch", deadline: float) -> None:
        """Read and parse until a batch is full, the streams are empty or ``deadline`` has passed."""
        text = 0
        while len(batch.rows) < BATCH_LINES and text < BATCH_TEXT:
            got = self.read(block_ms if not batch.rows else None)
            for key, entries, again in got:
                more, more_ids = self.rows(key, entries)
                batch.rows += more
                batch.ids += more_ids
                batch.again += [again] * len(more)
                text += sum(len(row[LINE]) for row in more)
                batch.acks.append((key, [entry_id for entry_id, _ in entries]))
            if not got or time.monotonic() > deadline:
                break

    def gather(self, block_ms: int = 100) -> "Batch":
        """Read and parse one batch (up to BATCH_LINES lines, BATCH_TEXT characters or BATCH_WAIT_S)."""
        if time.monotonic() - self._discovered > DISCOVER_EVERY_S:
            self.discover()
        batch = Batch()
        # A batch is some 400,000 young objects without a cycle among them: the collector's passes over
        # them cost as much as parsing (measured), and it finds nothing to free.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._gather(block_ms, batch, time.monotonic() + BATCH_WAIT_S)
        finally:
            if collecting:
                gc.enable()
        return batch

    def commit(self, batch: "Batch") -> int:
        """Hand a batch to the store owner, then acknowledge its entries; returns lines it stored."""
        stored = self._deliver(batch.rows, batch.ids, batch.again) if batch.rows else 0
        self.stored += stored
        # Acknowledged only once stored: a crash before this line redelivers the batch.
        self.acknowledge(batch.acks)
        return stored

    def _deliver(self, rows: list, ids: list, again: list) -> int:
        """``rows`` to the owner in batches within the wire's limits, halved until each fits (one read of many
        streams of long lines can hold more than a batch may); lines stored."""
        table = wire.table(rows, ids, again)
        if len(rows) > 1 and (len(rows) > wire.MAX_ROWS or table.nbytes > wire.BATCH_BYTES):
            half = len(rows) // 2
            return (self._deliver(rows[:half], ids[:half], again[:half])
                    + self._deliver(rows[half:], ids[half:], again[half:]))
        answer = self.deliver(table)
        self.duplicates += answer.get("duplicates", 0)
        self.dropped += answer.get("dropped", 0)
        return answer["stored"]

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

        chdb inserts without the interpreter lock (from an Arrow file, store.insert_table), so on
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
    again: list = field(default_factory=list)    # per row: delivered before (the owner checks the store)
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


def work(settings, deliver, stop: threading.Event) -> None:
    """Run one worker (``settings.consumer``) until ``stop`` is set, through Redis's and the owner's outages:
    whatever failed is read again from this consumer's pending entries (``Ingest.recover``)."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    ingest = Ingest(client, deliver, settings.redis_prefix, settings.consumer, claim_idle_s=settings.claim_idle_s)
    while not stop.is_set():
        try:
            ingest.run(stop)
        except (redis.RedisError, OSError, wire.BatchRefused) as exc:
            log.warning("ingest: %s; retrying", exc)
            stop.wait(1.0)
    client.close()


def main() -> None:
    """``paas-logs-ingest``: one stateless worker, on this host or another, handing batches to ``paas-logs`` at
    ``PAAS_LOG_INGEST_ADDRESS`` with ``PAAS_LOG_INGEST_TOKEN``."""
    import signal

    from paas.logcenter.settings import Settings
    from paas.platform.env import SettingError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s paas-logs-ingest %(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except SettingError as exc:
        raise SystemExit(f"paas-logs-ingest: {exc}") from None
    if not settings.ingest_token:
        raise SystemExit("paas-logs-ingest: PAAS_LOG_INGEST_TOKEN: wanted (the token paas-logs takes batches with; "
                         "make up hands both the same)")
    client = wire.Client(settings.ingest_address, settings.ingest_token, settings.consumer)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("consumer %s, store owner at %s:%d", settings.consumer, *settings.ingest_address)
    try:
        work(settings, client.send, stop)
    finally:
        client.close()
