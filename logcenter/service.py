"""``paas-logs``: the Log Center process. It owns the store (chdb locks its directory), takes the ingest
workers' batches (intake.py: in-process from its own worker, over TCP from ``paas-logs-ingest`` on any
host), drops old partitions, and answers searches from the API on a Unix socket.

The socket (``PAAS_LOG_SOCKET``, default ``<data dir>/logcenter/paas-logs.sock``) sits in a 0700
directory: only the platform's own user reaches it; tenants' containers have no path to it. One JSON
request per connection, one JSON answer: ``{"op": "search", ...}`` (see ``handle``).
"""

import json
import logging
import signal
import socketserver
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import redis

from paas.logcenter import alerts, destinations, drains, ingest, intake, metrics, query, retention
from paas.logcenter.alerts import Alerts
from paas.logcenter.drains import DrainSet
from paas.logcenter.settings import Settings
from paas.logcenter.store import Store

log = logging.getLogger("paas.logcenter")
MAX_REQUEST = 16 << 10
MAX_LIMIT = 1000
RETENTION_EVERY_S = 3600
PUBLISHED_EVERY_S = 2.0


class Service:
    """The store, shared by the ingest thread and the request threads under one lock (one chdb session)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.store_dir, keep_days=settings.retention_days)
        self.lock = threading.Lock()
        allowed = destinations.allowed_networks(settings.drain_allow)
        self.drains = DrainSet(allowed, settings.drain_buffer, settings.drain_ca)
        self.alerts = Alerts(allowed, settings.drain_ca)
        #: Every worker's batches into the store, under the same lock as searches.
        self.intake = intake.Intake(self.store, settings.rate_limit, self.lock, sink=self.drains.offer_batch)

    def search(self, request: dict) -> dict:
        """Lines of ``request`` (app or None for all, q, since, until, limit, cursor), newest first.

        With ``after`` (a line's ``id``, or ``latest``): the app's lines stored since, oldest first (a tail)."""
        terms = query.parse(str(request.get("q") or ""))
        if request.get("after"):
            return self.tail(request, terms)
        since, until = query.time_range(request.get("since") or None, request.get("until") or None)
        if request.get("not_before"):   # the API's floor: lines older than the app are another app's
            since = max(since, datetime.fromisoformat(request["not_before"]))
        limit = request.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise query.QueryError(f"limit: wants a number from 1 to {MAX_LIMIT}")
        cursor = query.parse_cursor(request["cursor"]) if request.get("cursor") else None
        app = request.get("app")
        with self.lock:
            rows = self.store.search(app if isinstance(app, str) else None, terms, _micros(since), _micros(until),
                                     limit + 1, cursor)
        more = len(rows) > limit
        rows = rows[:limit]
        for row in rows:
            row["ts"] = datetime.fromtimestamp(int(row.pop("micros")) / 1e6, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
        last = rows[-1] if rows else None
        next_cursor = None
        if more and last is not None:
            micros = int(datetime.fromisoformat(last["ts"].replace("Z", "+00:00")).timestamp() * 1e6)
            next_cursor = query.make_cursor(micros, last["entry_id"])
        for row in rows:
            row["id"] = row.pop("entry_id")
        return {"lines": rows, "cursor": next_cursor}

    def tail(self, request: dict, terms: list) -> dict:
        """One app's lines stored after the entry ``after``, oldest first; ``cursor`` is the next ``after``."""
        app = request.get("app")
        if not isinstance(app, str) or not app:
            raise query.QueryError("after: follows one app's lines")
        after = query.parse_after(request["after"])
        limit = request.get("limit", 100)
        if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise query.QueryError(f"limit: wants a number from 1 to {MAX_LIMIT}")
        floor = datetime.fromisoformat(request["not_before"]) if request.get("not_before") else None
        with self.lock:
            rows = self.store.tail(app, terms, after, limit)
        out = []
        for row in rows:
            when = datetime.fromtimestamp(int(row.pop("micros")) / 1e6, timezone.utc)
            row["id"] = row.pop("entry_id")
            if floor is None or when >= floor:
                out.append({**row, "ts": _rfc3339(when)})
        # A rate-limit marker's id is its entry's plus "-dropped": the cursor is the entry's.
        cursor = "-".join(rows[-1]["id"].split("-")[:2]) if rows else f"{after[0]}-{after[1]}"
        return {"lines": out, "cursor": cursor}

    def metrics(self, request: dict) -> dict:
        """Request metrics of one app (logcenter/metrics.py): per release and process type, and per minute."""
        app = request.get("app")
        if not isinstance(app, str) or not app:
            raise query.QueryError("app: wanted")
        release = metrics.release_filter(request.get("release"))
        since, until = query.time_range(request.get("since") or None, request.get("until") or None,
                                        default_since=timedelta(hours=1))
        if until - since > metrics.MAX_RANGE:
            raise query.QueryError(f"since: metrics cover at most {metrics.MAX_RANGE.days} days at a time")
        if request.get("not_before"):
            since = min(until, max(since, datetime.fromisoformat(request["not_before"])))
        seconds = (until - since).total_seconds()
        with self.lock:
            totals = self.store.query(*metrics.metrics_sql(app, _micros(since), _micros(until), release, False))
            minutes = self.store.query(*metrics.metrics_sql(app, _micros(since), _micros(until), release, True))
        return {"since": _rfc3339(since), "until": _rfc3339(until),
                "releases": [metrics.figures(row, seconds) for row in totals],
                "minutes": [metrics.figures(row, 60.0) for row in minutes]}

    def drain_status(self, request: dict) -> dict:
        """The state of one app's drains: sending/connecting/failing, lines buffered, sent, dropped."""
        app = request.get("app")
        if not isinstance(app, str) or not app:
            raise query.QueryError("app: wanted")
        return {"drains": self.drains.status(app)}

    def alert_status(self, request: dict) -> dict:
        """One app's alerts: firing or not, the last count, when it was checked, the webhook's last error."""
        app = request.get("app")
        if not isinstance(app, str) or not app:
            raise query.QueryError("app: wanted")
        return {"alerts": self.alerts.status(app)}

    def usage(self, request: dict) -> dict:
        """Storage per app (``app`` one, or every app): lines, text bytes, disk bytes, oldest and newest line."""
        app = request.get("app")
        with self.lock:
            rows = self.store.usage(app if isinstance(app, str) else None)
        for row in rows:
            for name in ("oldest", "newest"):
                row[name] = datetime.fromtimestamp(int(row[name]), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        for row in rows:
            row["retention_days"] = self.retention_of(row["app"])
        return {"apps": rows, "retention_days": self.settings.retention_days,
                "retention_max_days": self.settings.retention_max_days}

    def retention_of(self, app: str) -> int:
        """The days ``app``'s lines are kept now (its own setting or the default, at most the maximum)."""
        return retention.effective(self.store.retention.get(app), self.settings.retention_days,
                                   self.settings.retention_max_days)

    def follow_retention(self, published: dict) -> None:
        """The apps' own retentions as the API published them; stored lines made to follow a change."""
        settings = self.settings
        wanted = {app: retention.effective(days, settings.retention_days, settings.retention_max_days)
                  for app, days in retention.parse(published, settings.retention_max_days).items()}
        if wanted == self.store.retention:
            return
        with self.lock:
            changed = self.store.set_retention(wanted, settings.retention_days)
        if changed:
            log.info("retention: lines of %s now kept as their apps' setting says", ", ".join(changed))

    def count(self, app: str, terms: list, since_us: int, until_us: int) -> int:
        with self.lock:
            return self.store.count(app, terms, since_us, until_us)

    def handle(self, request: dict) -> dict:
        """One request from the API: ``{"op": "search", ...}`` -> answer, or ``{"error": message}`` for bad input."""
        ops = {"search": self.search, "metrics": self.metrics, "drains": self.drain_status,
               "alerts": self.alert_status, "usage": self.usage}
        try:
            op = ops.get(request.get("op"))
            return op(request) if op else {"error": "unknown op"}
        except query.QueryError as exc:
            return {"error": str(exc)}

    def retention(self) -> None:
        """Day partitions past the longest retention any app may have dropped whole; shorter ones are the
        engine's TTL on each line's ``keep_days`` (store.py), made to match the settings again here."""
        with self.lock:
            dropped = self.store.drop_older_than(self.settings.retention_max_days)
            self.store.reconcile_retention()
        if dropped:
            log.info("retention: dropped day partitions %s", ", ".join(dropped))


def _rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _micros(when: datetime) -> int:
    return int(when.timestamp() * 1_000_000)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        self.connection.settimeout(10)
        try:
            raw = self.rfile.readline(MAX_REQUEST + 1)
            request = json.loads(raw) if len(raw) <= MAX_REQUEST else None
            answer = self.server.service.handle(request) if isinstance(request, dict) else {"error": "bad request"}
        except (ValueError, OSError):
            answer = {"error": "bad request"}
        except Exception:  # the engine failed: say so without its text, keep serving
            log.exception("request failed")
            answer = {"error": "unavailable", "unavailable": True}
        try:
            self.wfile.write(json.dumps(answer).encode() + b"\n")
        except OSError:
            pass


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def serve(service: Service, path: Path) -> _Server:
    """Listen on the Unix socket ``path`` (its directory made 0700) in a thread."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.parent.chmod(0o700)
    if path.is_socket():
        path.unlink()
    server = _Server(str(path), _Handler)
    server.service = service
    threading.Thread(target=server.serve_forever, name="paas-logs-server", daemon=True).start()
    return server


def ingest_loop(service: Service, stop: threading.Event) -> None:
    settings = service.settings
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=30)
    threading.Thread(target=housekeeping, args=(service, stop), name="paas-logs-housekeeping", daemon=True).start()
    threading.Thread(target=follow_published, args=(service, client, stop), name="paas-logs-published",
                     daemon=True).start()
    threading.Thread(target=check_alerts, args=(service, stop), name="paas-logs-alerts", daemon=True).start()
    threading.Thread(target=flush_markers, args=(service, stop), name="paas-logs-markers", daemon=True).start()
    if settings.local_ingest:
        # Its own worker hands batches in-process: the same checks and rules as a remote one's, no TCP.
        ingest.work(settings, service.intake.take, stop)
    else:
        if not settings.ingest_token:
            log.warning("PAAS_LOG_LOCAL_INGEST=0 and no PAAS_LOG_INGEST_TOKEN: no worker can hand this store "
                        "any line")
        stop.wait()


def flush_markers(service: Service, stop: threading.Event) -> None:
    """Every second, the rate limit's markers of floods no later batch reported (intake.Intake.flush)."""
    while not stop.wait(1.0):
        try:
            service.intake.flush()
        except Exception:  # the engine failed: the counts wait for the next try
            log.exception("rate limit markers not stored")


def follow_published(service: Service, client: redis.Redis, stop: threading.Event) -> None:
    """Keep the running drains, alerts and retentions as the API published them (level-triggered: whole hashes
    each time)."""
    prefix = service.settings.redis_prefix
    while not stop.is_set():
        try:
            service.drains.sync(client.hgetall(drains.drains_key(prefix)))
            service.alerts.sync(client.hgetall(alerts.alerts_key(prefix)))
            service.follow_retention(client.hgetall(retention.retention_key(prefix)))
        except redis.RedisError as exc:
            log.warning("drains and alerts: redis: %s; retrying", exc)
        except Exception:  # the engine failed a retention change: the hourly reconcile makes it again
            log.exception("retention change failed")
        stop.wait(PUBLISHED_EVERY_S)
    service.drains.stop()


def check_alerts(service: Service, stop: threading.Event) -> None:
    """Every minute, each alert's count against its threshold (webhooks called on a change)."""
    while not stop.wait(service.settings.alert_every_s):
        try:
            service.alerts.check(service.count)
        except Exception:  # the engine failed: next minute again, keep ingesting
            log.exception("alert check failed")


def housekeeping(service: Service, stop: threading.Event) -> None:
    """Retention, hourly, beside the ingest (it takes the store's lock only to drop partitions)."""
    while not stop.is_set():
        try:
            service.retention()
        except Exception:  # the engine failed: try again next time, keep ingesting
            log.exception("retention failed")
        stop.wait(RETENTION_EVERY_S)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s paas-logs %(levelname)s %(message)s")
    settings = Settings.from_env()
    service = Service(settings)
    server = serve(service, settings.socket_path)
    batches = None
    if settings.ingest_token:
        try:
            batches = intake.serve(service.intake, settings.ingest_bind, settings.ingest_token,
                                   settings.socket_path.parent / "ingest-address")
        except OSError as exc:
            server.shutdown()
            service.store.close()
            raise SystemExit(f"paas-logs: cannot take ingest workers' batches on PAAS_LOG_INGEST_BIND="
                             f"{settings.ingest_bind[0]}:{settings.ingest_bind[1]}: {exc.strerror}") from None
        log.info("ingest workers' batches taken on %s:%d", *batches.server_address[:2])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    log.info("store %s, socket %s, rate limit %d lines/s per instance, retention %d days (at most %d)",
             settings.store_dir, settings.socket_path, settings.rate_limit, settings.retention_days,
             settings.retention_max_days)
    try:
        ingest_loop(service, stop)
    finally:
        if batches is not None:
            batches.shutdown()
            batches.server_close()
        server.shutdown()
        server.server_close()
        service.intake.flush()    # drops counted since the last marker: not lost with the process
        service.store.close()
