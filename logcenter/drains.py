"""Drains: every stored line of an app, sent on to the user's own syslog server, HTTPS endpoint or Loki.

Which drains exist is the platform's (Postgres, platform/models/drain.py); the API publishes each
app's list in the Redis hash ``<prefix>logcenter:drains`` (app -> JSON ``[{"id": 3, "url": ...}]``,
``publish``), and ``paas-logs`` reads the hash every few seconds (``DrainSet.sync``).

Each drain has a thread of its own and a bounded buffer (``PAAS_LOG_DRAIN_BUFFER`` lines): the
ingest only appends to buffers (``DrainSet.offer``, never waits), so a dead or slow drain never
slows ingest. When a buffer is full the oldest lines go and are counted (``dropped``). A failed
send keeps its lines and retries after a backoff doubling from 0.5 s to 30 s. The addresses are
checked on every connect (logcenter/destinations.py).
"""

import json
import logging
import socket
import ssl
import threading
import time
from collections import deque

from paas.contracts import redis_keys
from paas.logcenter import connect, destinations, formats

log = logging.getLogger("paas.logcenter.drains")
BATCH = 500                 # lines per send
BACKOFF_S = (0.5, 30.0)     # first and longest wait after a failure


# The hash lives with the other Redis names (paas.contracts).
drains_key = redis_keys.log_drains


def publish(client, prefix: str, app: str, drains: list[dict]) -> None:
    """Make ``app``'s drains in Redis ``drains`` (``[{"id": .., "url": ..}]``); none: the app's field goes."""
    if drains:
        client.hset(drains_key(prefix), app, json.dumps(drains))
    else:
        client.hdel(drains_key(prefix), app)


class Drain:
    """One drain's buffer and the thread that empties it into the destination."""

    def __init__(self, drain_id: int, app: str, dest: destinations.Destination, allowed: list, buffer: int,
                 tls_context: ssl.SSLContext):
        self.id, self.app, self.dest, self.allowed = drain_id, app, dest, allowed
        self.buffer: deque = deque()
        self.limit = buffer
        self.tls_context = tls_context
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopped = threading.Event()
        self.state, self.last_error = "connecting", ""
        self.sent = self.dropped = 0
        self.sock: socket.socket | None = None
        self.thread = threading.Thread(target=self._run, name=f"drain-{drain_id}", daemon=True)
        self.thread.start()

    def offer(self, rows: list[tuple]) -> None:
        """Append lines (never blocks on the network); past the bound the oldest are dropped and counted."""
        with self.lock:
            self.buffer.extend(rows)
            extra = len(self.buffer) - self.limit
            for _ in range(max(0, extra)):
                self.buffer.popleft()
            if extra > 0:
                self.dropped += extra
        self.wake.set()

    def status(self) -> dict:
        with self.lock:
            return {"id": self.id, "state": self.state, "buffered": len(self.buffer), "sent": self.sent,
                    "dropped": self.dropped, "last_error": self.last_error}

    def stop(self) -> None:
        self.stopped.set()
        self.wake.set()

    def _run(self) -> None:
        backoff = BACKOFF_S[0]
        while not self.stopped.is_set():
            with self.lock:
                rows = [self.buffer[i] for i in range(min(BATCH, len(self.buffer)))]
            if not rows:
                self.wake.wait(1.0)
                self.wake.clear()
                continue
            try:
                self._send(rows)
            except connect.FAILURES as exc:
                self._close()
                with self.lock:
                    self.state, self.last_error = "failing", _reason(exc)
                self.stopped.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_S[1])
                continue
            backoff = BACKOFF_S[0]
            with self.lock:
                # The lines sent are the oldest ones still there, unless the bound dropped some meanwhile.
                for _ in range(min(len(rows), len(self.buffer))):
                    self.buffer.popleft()
                self.sent += len(rows)
                self.state, self.last_error = "sending", ""
        self._close()

    def _send(self, rows: list[tuple]) -> None:
        if self.dest.kind == "syslog":
            if self.sock is None:
                self.sock = connect.open_connection(self.dest, self.allowed, self.tls_context)
            self.sock.sendall(formats.syslog_frames(rows))
            return
        body, headers = (formats.logplex_body if self.dest.kind == "https" else formats.loki_body)(rows)
        connect.post(self.dest, self.allowed, self.tls_context, body, headers)

    def _close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


def _reason(exc: Exception) -> str:
    """A short reason for ``paas drains`` (no traceback, bounded)."""
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:200] if not isinstance(exc, connect.SendError) else text[:200]


class DrainSet:
    """The running drains of every app, made to match the published hash by ``sync``."""

    def __init__(self, allowed: list, buffer: int, ca_file: str = ""):
        self.allowed, self.buffer = allowed, buffer
        self.tls_context = ssl.create_default_context()
        if ca_file:
            self.tls_context.load_verify_locations(cafile=ca_file)
        self.drains: dict[int, Drain] = {}
        self.by_app: dict[str, list[Drain]] = {}
        self.lock = threading.Lock()

    def sync(self, published: dict) -> None:
        """``published``: app -> JSON list of {id, url} (the hash, as read). Starts and stops drains to match."""
        wanted: dict[int, tuple[str, str]] = {}
        for app, raw in published.items():
            app = app.decode() if isinstance(app, bytes) else app
            try:
                for item in json.loads(raw):
                    wanted[int(item["id"])] = (app, str(item["url"]))
            except (ValueError, TypeError, KeyError):
                log.warning("drains of %s: not a list of {id, url}; ignored", app[:64])
        with self.lock:
            for drain_id in [d for d in self.drains if d not in wanted or self.drains[d].dest.url != wanted[d][1]]:
                self.drains.pop(drain_id).stop()
            for drain_id, (app, url) in wanted.items():
                if drain_id not in self.drains:
                    self._start(drain_id, app, url)
            by_app: dict[str, list[Drain]] = {}
            for drain in self.drains.values():
                by_app.setdefault(drain.app, []).append(drain)
            self.by_app = by_app

    def _start(self, drain_id: int, app: str, url: str) -> None:
        try:
            dest = destinations.parse(url)
        except destinations.DestinationError as exc:
            log.warning("drain %d of %s: %s", drain_id, app[:64], exc)
            return
        self.drains[drain_id] = Drain(drain_id, app, dest, self.allowed, self.buffer, self.tls_context)

    def offer_batch(self, batch) -> None:
        """Hand a stored batch (wire.SCHEMA) to its apps' drains: only the lines of apps with a drain are
        made rows (turning a whole batch into Python rows would cost the store owner ~1 us a line)."""
        by_app = self.by_app
        if not by_app:
            return
        # Imported here: the API imports this module (platform/models/drain.py) and has no use for Arrow.
        import pyarrow as pa
        import pyarrow.compute as pc

        from paas.logcenter import wire

        drained = batch.filter(pc.is_in(batch.column("app"), value_set=pa.array(list(by_app), type=pa.string())))
        if drained.num_rows:
            self.offer(wire.rows(drained))

    def offer(self, rows: list[tuple]) -> None:
        """Hand stored lines to their apps' drains (appends only: the ingest never waits on a drain)."""
        by_app = self.by_app
        if not by_app:
            return
        grouped: dict[str, list] = {}
        for row in rows:
            if row[1] in by_app:
                grouped.setdefault(row[1], []).append(row)
        for app, app_rows in grouped.items():
            for drain in by_app[app]:
                drain.offer(app_rows)

    def status(self, app: str) -> list[dict]:
        return [drain.status() for drain in self.by_app.get(app, [])]

    def stop(self) -> None:
        with self.lock:
            for drain in self.drains.values():
                drain.stop()
            self.drains, self.by_app = {}, {}


def wait_idle(drain: Drain, timeout: float) -> bool:
    """Whether ``drain`` emptied its buffer within ``timeout`` (tests and benchmarks)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not drain.status()["buffered"]:
            return True
        time.sleep(0.01)
    return False
