"""The store owner's side of the ingest: batches from every worker, the rules that need one place, the store.

Ingest workers (ingest.py, any number, on any host) read the streams and parse lines; they hand
``paas-logs`` batches (wire.py) and acknowledge their entries once it answered. Here, one batch
at a time under the store's lock:

- De-duplication by entry id. A line arrives twice only when its entry was delivered twice: a
  worker died (or lost its answer) after the store and before XACK, and it or another worker read
  the entry again (``again``). Such lines are looked up in the store and left out when there. One
  more order: a worker stalled longer than the claim time while its batch was on its way, another
  claimed and stored the entries, then the stalled batch arrives (not ``again``): the ids of lines
  stored as ``again`` are remembered for ``RECENT_S`` and fresh lines among them are left out too.
- The per-instance rate limit. With several workers each sees part of one instance's lines, so
  the count must be of all workers' lines: this process sees every line before it is stored, and
  it is one process (chdb's store is), so the count is exact and costs no round trip. Counting in
  Redis would survive this process's restart, but cost every batch a round trip per instance and
  give workers a write right; a restart here loses only the current second's count.
"""

import logging
import socket
import socketserver
import threading
import time
from collections import OrderedDict
from pathlib import Path
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from paas.logcenter import schema, wire

log = logging.getLogger("paas.logcenter.intake")
# Lines a tenant's code writes: rate-limited per instance. Router lines (one per request the router
# served: request metrics are made of them) and the platform's own are kept whole.
LIMITED = ("app", "build")
RECENT_S = 600.0       # how long ids of redelivered lines are remembered (far above any claim time)
SECONDS_KEPT = 64      # seconds of counts kept per instance: workers read one stream's parts out of order
FORGET_AFTER_S = 600   # an instance's counts are dropped once its newest line is this much older than any


class RateLimit:
    """Lines per second per (app, instance), by the second Redis accepted each (its entry id): the first
    ``per_second`` of a second are kept, the rest dropped and counted for a marker line.

    Counts are kept per second, not for the latest one only: two workers hand over parts of one stream
    in any order (one may still send second 10 after another sent second 11)."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self.counts: dict[tuple, OrderedDict] = {}   # (app, instance) -> second -> [kept, dropped, last dropped id]
        self.newest = 0       # the newest second of any line counted

    def admit(self, app: str, instance: str, entry_id: str) -> bool:
        """Whether the line of ``entry_id`` is kept."""
        key = (app, instance)
        seconds = self.counts.get(key)
        if seconds is None:
            if len(self.counts) > 100_000:   # instances long gone
                self.counts = {}
            seconds = self.counts[key] = OrderedDict()
        second = int(entry_id[:entry_id.index("-")]) // 1000
        if second > self.newest:
            self.newest = second
        state = seconds.get(second)
        if state is None:
            state = seconds[second] = [0, 0, ""]
            if len(seconds) > SECONDS_KEPT:
                seconds.popitem(last=False)
        if state[0] < self.per_second:
            state[0] += 1
            return True
        state[1] += 1
        state[2] = entry_id
        return False

    def markers(self, before: int) -> tuple[list[tuple], list[str]]:
        """Marker rows (and their ids) for the drops counted in seconds before ``before``; resets those counts.

        One marker a second an instance floods, once its second is over (a worker's late part of that
        second makes one more). A marker's id is its last dropped entry's plus ``-dropped``: unique, and in
        the stream's order."""
        rows, ids, gone = [], [], []
        for key, seconds in self.counts.items():
            for second, state in seconds.items():
                if state[1] and second < before:
                    at = schema.entry_time(state[2].encode())
                    rows.append(drop_marker(key[0], key[1], state[1], self.per_second, at).row())
                    ids.append(f"{state[2]}-dropped")
                    state[1] = 0
            if next(reversed(seconds)) < self.newest - FORGET_AFTER_S:
                gone.append(key)
        # Instances quiet that long before the newest line seen (stopped, most): their counts no longer matter.
        # Measured against lines, not the clock, so a backlog replayed after an outage keeps its counts.
        for key in gone:
            del self.counts[key]
        return rows, ids


def drop_marker(app: str, instance: str, dropped: int, limit: int, at: datetime) -> schema.Record:
    return schema.Record(time=at, app=app, source="platform", process="logcenter", instance=instance, level="warn",
                         line=f"[logcenter: dropped {dropped} lines of instance {instance} over the rate limit "
                              f"of {limit} lines/s]")


class Recent:
    """(app, entry id) of lines stored as redelivered, for ``RECENT_S`` (two generations of sets)."""

    def __init__(self, keep_s: float = RECENT_S):
        self.keep_s = keep_s
        self.now, self.before, self.turned = set(), set(), time.monotonic()

    def add(self, keys) -> None:
        if time.monotonic() - self.turned > self.keep_s:
            self.before, self.now, self.turned = self.now, set(), time.monotonic()
        self.now.update(keys)

    def __bool__(self) -> bool:
        return bool(self.now or self.before)

    def __contains__(self, key) -> bool:
        return key in self.now or key in self.before


class Intake:
    """Batches into ``store``, one at a time under ``lock`` (the store's one chdb session)."""

    def __init__(self, store, rate_limit: int, lock=None, sink=None):
        self.store = store
        self.lock = lock or threading.Lock()
        self.sink = sink          # called with each stored batch (drains.DrainSet.offer_batch): must not block
        self.limit = RateLimit(rate_limit)
        self.recent = Recent()
        self.stored = self.duplicates = self.dropped = 0

    def accept(self, batch: pa.Table) -> dict:
        """Store ``batch`` (wire.SCHEMA, checked) less duplicates and lines over the rate limit; the answer."""
        with self.lock:
            keep, duplicates = self._unstored(batch)
            keep, dropped = self._admitted(batch, keep)
            # A second is over once the clock is past it (Redis's and this host's clocks agree to well
            # under a second); ``flush`` reports those no later batch came in for.
            marker_rows, marker_ids = self.limit.markers(int(time.time()) - 1)
            kept = batch.filter(pa.array(keep, type=pa.bool_())) if keep is not None else batch
            if marker_rows:
                kept = pa.concat_tables([kept, wire.table(marker_rows, marker_ids)])
            if kept.num_rows:
                self.store.insert_table(kept)
            self.stored += kept.num_rows
            self.duplicates += duplicates
            self.dropped += dropped
        if self.sink is not None and kept.num_rows:
            self.sink(kept)
        return {"stored": kept.num_rows, "duplicates": duplicates, "dropped": dropped}

    def take(self, batch: pa.Table) -> dict:
        """``accept`` for a worker in this process (paas-logs' own): the same checks as a batch over TCP gets
        (wire.check), so both paths keep one set of rules."""
        wire.check(batch)
        return self.accept(batch)

    def flush(self) -> None:
        """Store the markers of drops no later batch has reported (a flood that stopped)."""
        self.accept(wire.table([], []))

    def _unstored(self, batch: pa.Table) -> tuple[list | None, int]:
        """Which lines are not stored yet (None: all of them), and how many are."""
        again = batch.column("again")
        if not self.recent and not pc.any(again).as_py():
            return None, 0
        apps = batch.column("app").to_pylist()
        ids = batch.column("entry_id").to_pylist()
        flags = again.to_pylist()
        redelivered: dict[str, list[str]] = {}
        for app, entry_id, flag in zip(apps, ids, flags):
            if flag:
                redelivered.setdefault(app, []).append(entry_id)
        stored = {(app, i) for app, app_ids in redelivered.items() for i in self.store.stored_ids(app, app_ids)}
        self.recent.add((app, i) for app, app_ids in redelivered.items() for i in app_ids)
        recent = self.recent
        keep = [(app, i) not in stored and (flag or (app, i) not in recent) for app, i, flag in zip(apps, ids, flags)]
        return keep, len(keep) - sum(keep)

    def _admitted(self, batch: pa.Table, keep: list | None) -> tuple[list | None, int]:
        """``keep`` less the lines over their instance's rate limit, and how many those are.

        Only limited lines become Python values (router lines, most of a busy platform's, never do)."""
        limited = pc.indices_nonzero(pc.is_in(batch.column("source"), value_set=pa.array(LIMITED)))
        if not len(limited):
            return keep, 0
        if keep is None:
            keep = [True] * batch.num_rows
        admit, dropped = self.limit.admit, 0
        columns = (batch.column(name).take(limited).to_pylist() for name in ("app", "instance", "entry_id"))
        for index, app, instance, entry_id in zip(limited.to_pylist(), *columns):
            if keep[index] and not admit(app, instance, entry_id):
                keep[index] = False
                dropped += 1
        return keep, dropped


class _Handler(socketserver.StreamRequestHandler):
    """One worker's connection: requests (wire.read_request) answered one by one until it closes."""

    def handle(self) -> None:
        self.connection.settimeout(wire.TIMEOUT_S)
        server = self.server
        consumer = "a worker"
        while True:
            try:
                request = wire.read_request(self.rfile, server.token)
                if request is None:
                    return
                consumer, batch = request
                result = server.intake.accept(batch)
            except wire.BatchRefused as exc:
                log.warning("batch from %s refused: %s", self.client_address[0], exc)
                self._answer({"error": str(exc)})
                return      # what follows a refused request cannot be trusted to be framed
            except OSError:
                return
            except Exception:  # the engine failed: the worker reads the batch again later
                log.exception("batch from %s not stored", consumer)
                self._answer({"error": "not stored: the store failed"})
                return
            if not self._answer(result):
                return

    def _answer(self, result: dict) -> bool:
        try:
            self.wfile.write(wire.answer(result))
            return True
        except OSError:
            return False


class _Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(intake: Intake, bind: tuple[str, int], token: str, address_file: Path | None = None) -> _Server:
    """Take batches from workers on TCP ``bind`` in a thread; each request must carry ``token``.

    The address it got (``bind``'s port may be 0) is written to ``address_file``, for workers started
    beside it (tests, the bench)."""
    server_class = _Server
    if ":" in bind[0]:
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
    server = server_class(bind, _Handler)
    server.intake, server.token = intake, token
    if address_file is not None:
        host, port = server.server_address[:2]
        address_file.write_text(f"{host}:{port}\n")
    threading.Thread(target=server.serve_forever, name="paas-logs-intake", daemon=True).start()
    return server
