"""Log storage: embedded ClickHouse (chdb, logcenter/store.py) against PostgreSQL, on the same generated lines.

Lines are shaped like the platform's: 60 % router access lines (router/observe.py's format, a
request id each), 40 % app output (timestamps, levels, words, ids, some ANSI colour). Both engines
get the same lines in batches of 100,000, then the same five searches (a rare word, a common word
newest 100, a phrase, a field filter with a status range, a request id) are timed ``--rounds``
times each, and the rare word is also timed with ``grep -F`` over the same lines as plain text.

    .venv/bin/python -P bench/logs.py --lines 1000000 [--engines chdb,postgres] [--database-url URL]

PostgreSQL: a scratch database (made and dropped with the given role, which needs CREATEDB; the
default is the test server's superuser), a table range-partitioned by day, a GIN trigram index on
the lowercased line, btree indexes on (app, time) and request_id. Ends with RESULT lines for each
engine (ingest here is the engine's own insert rate from memory; the end-to-end rate from Redis
streams through paas-logs is ``bench/logs.py --through-redis N``, see logcenter/README.md).
"""

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path


from paas.logcenter import schema  # noqa: F401  (the record shape the columns follow)

BATCH = 100_000
RARE = "zanzibarquux"
PHRASE = "connection reset by peer"
WORDS = ("user", "order", "cache", "session", "payment", "invoice", "request", "worker", "queue", "token",
         "account", "email", "upload", "report", "search", "profile", "billing", "export", "import", "sync")
PATHS = ("/", "/api/users/{}", "/api/orders/{}", "/static/app.{}.js", "/login", "/search?q={}", "/health",
         "/api/invoices/{}/pdf", "/images/{}.png", "/cart")
METHODS = ("GET",) * 8 + ("POST", "PUT")
STATUSES = (200,) * 90 + (301, 304, 404, 404, 404, 500, 502, 401, 403, 201)


def generate(n: int, seed: int = 7):
    """Columns (schema.ROW, the router fields and entry_id) of ``n`` lines, and the request id of one router line in the middle."""
    rnd = random.Random(seed)
    apps = [f"app{i:02d}" for i in range(50)]
    weights = [1 / (i + 1) for i in range(50)]
    start = datetime.now(timezone.utc) - timedelta(days=3)
    step = timedelta(days=3) / n
    cols = {name: [] for name in ("time", "app", "source", "process", "instance", "release", "host",
                                  "request_id", "level", "method", "path", "status", "duration_ms", "bytes",
                                  "line", "entry_id")}
    rare_at = {n * k // 6 for k in range(1, 6)}
    picked = None
    app_choices = rnd.choices(apps, weights, k=n)
    for i in range(n):
        t = start + step * i
        app = app_choices[i]
        release = f"v{1 + (i * 7 // n)}"
        instance = f"{app}-web-{zlib.crc32(app.encode()) % 3 + 1}-{zlib.crc32(app.encode()) >> 16:04x}"
        if rnd.random() < 0.6:
            rid = uuid.UUID(int=rnd.getrandbits(128)).hex
            method = rnd.choice(METHODS)
            path = rnd.choice(PATHS).format(rnd.randrange(100_000))
            status = rnd.choice(STATUSES)
            duration = round(rnd.lognormvariate(3, 1), 1)
            size = rnd.randrange(20, 50_000)
            line = (f'at=info method={method} path="{path}" host={app}.example.com request_id={rid} '
                    f'fwd="10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(256)}" instance={instance} '
                    f"duration={duration}ms status={status} bytes={size}")
            if i == n // 2:
                picked = rid
            # The request id is in the line; the column is for writers that send it as a field.
            row = (t, app, "router", "router", instance, release, "", "", "error" if status >= 500 else "info",
                   method, path, status, duration, size, line)
        else:
            level = rnd.choice(("INFO",) * 8 + ("WARN", "ERROR"))
            words = " ".join(rnd.choices(WORDS, k=rnd.randrange(3, 9)))
            line = f"{t:%H:%M:%S} {level} {words} id={rnd.randrange(10**9)} took {rnd.randrange(900)}ms"
            if rnd.random() < 0.01:
                line += f" error: {PHRASE}"
            if rnd.random() < 0.05:
                line = f"\x1b[32m{line}\x1b[0m"
            row = (t, app, "app", "web.1", instance, release, "host-1", "", level.lower().replace("warn", "warn"),
                   "", "", 0, 0.0, 0, line)
        if i in rare_at:
            row = row[:-1] + (row[-1] + f" {RARE}",)
        for name, value in zip(cols, row + (f"{i}-0",)):
            cols[name].append(value)
    return cols, picked


def write_text(cols: dict, path: Path) -> None:
    """The lines as grep sees them: time, app, source, line."""
    with open(path, "w", encoding="utf-8") as f:
        for t, app, source, line in zip(cols["time"], cols["app"], cols["source"], cols["line"]):
            f.write(f"{t.isoformat()} {app} {source} {line}\n")


def batches(cols: dict):
    n = len(cols["time"])
    for lo in range(0, n, BATCH):
        yield {name: values[lo:lo + BATCH] for name, values in cols.items()}


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]


class Chdb:
    name = "chdb"

    def __init__(self, directory: Path):
        from paas.logcenter.store import Store

        self.store = Store(directory / "chdb")

    def insert(self, cols: dict) -> None:
        self.store.insert_rows(list(zip(*(cols[name] for name in schema.ROW))), cols["entry_id"])

    def settle(self) -> None:
        self.store.optimize()
        sizes = self.store.query("SELECT name, data_compressed_bytes AS b FROM system.columns "
                                 "WHERE database = 'logcenter' AND table = 'lines' ORDER BY b DESC")
        sizes += self.store.query("SELECT concat('index ', name) AS name, data_compressed_bytes AS b "
                                  "FROM system.data_skipping_indices WHERE database = 'logcenter' AND table = 'lines'")
        print("chdb: on disk by column: " + ", ".join(f"{r['name']} {int(r['b']) / 1e6:.1f} MB" for r in sizes))

    def size(self) -> int:
        return self.store.bytes_on_disk()

    def searches(self, app: str, rid: str) -> dict:
        from paas.logcenter.store import INDEXED_TEXT

        q = self.store.query
        base = "SELECT time, line FROM logcenter.lines WHERE "
        return {
            "rare word": lambda: q(base + f"hasToken({INDEXED_TEXT}, {{w:String}}) ORDER BY time DESC LIMIT 100",
                                   {"w": RARE}),
            "common word newest 100": lambda: q(base + f"app = {{a:String}} AND hasToken({INDEXED_TEXT}, 'payment') "
                                                "ORDER BY time DESC LIMIT 100", {"a": app}),
            "phrase": lambda: q(base + f"app = {{a:String}} AND hasToken({INDEXED_TEXT}, 'connection') AND hasToken({INDEXED_TEXT}, 'reset') "
                                f"AND hasToken({INDEXED_TEXT}, 'peer') AND positionCaseInsensitive(line, {{p:String}}) > 0 "
                                "ORDER BY time DESC LIMIT 100", {"a": app, "p": PHRASE}),
            "status range + field": lambda: q(base + "app = {a:String} AND status >= 500 AND method = 'POST' "
                                              "ORDER BY time DESC LIMIT 100", {"a": app}),
            "request id": lambda: q(base + f"(request_id = {{r:String}} OR (hasToken({INDEXED_TEXT}, {{r:String}}) "
                                    "AND position(line, {r:String}) > 0)) ORDER BY time DESC LIMIT 100", {"r": rid}),
        }

    def find(self, word: str) -> bool:
        from paas.logcenter.store import INDEXED_TEXT

        return bool(self.store.query(f"SELECT 1 FROM logcenter.lines WHERE hasToken({INDEXED_TEXT}, {{w:String}}) "
                                     "LIMIT 1", {"w": word}))

    def close(self) -> None:
        self.store.close()


class Postgres:
    name = "postgres"

    def __init__(self, url: str, start: datetime, days: int):
        import psycopg2

        self.admin = psycopg2.connect(url)
        self.admin.autocommit = True
        self.db = f"logbench_{uuid.uuid4().hex[:8]}"
        with self.admin.cursor() as c:
            c.execute(f"CREATE DATABASE {self.db}")
        self.conn = psycopg2.connect(url.rsplit("/", 1)[0] + "/" + self.db)
        self.conn.autocommit = True
        with self.conn.cursor() as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            c.execute("""CREATE TABLE lines (time timestamptz NOT NULL, app text, source text, process text,
                instance text, release text, host text, request_id text, level text, method text, path text,
                status smallint, duration_ms real, bytes bigint, line text, entry_id text) PARTITION BY RANGE (time)""")
            for d in range(days + 2):
                lo = (start + timedelta(days=d)).date()
                c.execute(f"CREATE TABLE lines_{lo:%Y%m%d} PARTITION OF lines FOR VALUES FROM ('{lo}') "
                          f"TO ('{lo + timedelta(days=1)}')")
            c.execute("CREATE INDEX ON lines USING gin (lower(line) gin_trgm_ops)")
            c.execute("CREATE INDEX ON lines (app, time)")
            c.execute("CREATE INDEX ON lines (request_id) WHERE request_id <> ''")

    def insert(self, cols: dict) -> None:
        buf = io.StringIO()
        names = list(cols)
        for row in zip(*cols.values()):
            buf.write("\t".join(_pg_text(v) for v in row) + "\n")
        buf.seek(0)
        with self.conn.cursor() as c:
            c.copy_expert(f"COPY lines ({', '.join(names)}) FROM STDIN", buf)

    def settle(self) -> None:
        with self.conn.cursor() as c:
            c.execute("VACUUM ANALYZE lines")

    def size(self) -> int:
        with self.conn.cursor() as c:
            c.execute("SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                      "WHERE inhparent = 'lines'::regclass")
            return int(c.fetchone()[0])

    def _q(self, sql, params):
        with self.conn.cursor() as c:
            c.execute(sql, params)
            return c.fetchall()

    def searches(self, app: str, rid: str) -> dict:
        base = "SELECT time, line FROM lines WHERE "
        like = lambda w: "%" + w.replace("%", r"\%").replace("_", r"\_") + "%"  # noqa: E731
        return {
            "rare word": lambda: self._q(base + "lower(line) LIKE %s ORDER BY time DESC LIMIT 100", (like(RARE),)),
            "common word newest 100": lambda: self._q(base + "app = %s AND lower(line) LIKE %s "
                                                      "ORDER BY time DESC LIMIT 100", (app, like("payment"))),
            "phrase": lambda: self._q(base + "app = %s AND lower(line) LIKE %s ORDER BY time DESC LIMIT 100",
                                      (app, like(PHRASE))),
            "status range + field": lambda: self._q(base + "app = %s AND status >= 500 AND method = 'POST' "
                                                    "ORDER BY time DESC LIMIT 100", (app,)),
            "request id": lambda: self._q(base + "request_id = %s ORDER BY time DESC LIMIT 100", (rid,)),
        }

    def find(self, word: str) -> bool:
        return bool(self._q("SELECT 1 FROM lines WHERE lower(line) LIKE %s LIMIT 1", ("%" + word + "%",)))

    def close(self) -> None:
        self.conn.close()
        with self.admin.cursor() as c:
            c.execute(f"DROP DATABASE IF EXISTS {self.db}")
        self.admin.close()


def _pg_text(value) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def one_row(cols: dict, i: int, line: str) -> dict:
    return {name: [datetime.now(timezone.utc) if name == "time" else line if name == "line"
                   else f"visible-{i}" if name == "entry_id" else values[0]] for name, values in cols.items()}


def run(engine, cols: dict, rid: str, text_path: Path, rounds: int, n: int) -> list[str]:
    started = time.perf_counter()
    for batch in batches(cols):
        engine.insert(batch)
    ingest = n / (time.perf_counter() - started)
    engine.settle()
    per_line = engine.size() / n
    searches = engine.searches("app00", rid)
    samples, rare = [], []
    for _ in range(rounds):
        for label, search in searches.items():
            t0 = time.perf_counter()
            rows = search()
            took = (time.perf_counter() - t0) * 1000
            samples.append(took)
            if label == "rare word":
                rare.append(took)
                assert len(rows) == 5, f"{engine.name}: rare word found {len(rows)} lines, not 5"
    grep = []
    for _ in range(max(3, rounds // 4)):
        t0 = time.perf_counter()
        found = subprocess.run(["grep", "-F", "-c", RARE, str(text_path)], capture_output=True, check=True)
        grep.append((time.perf_counter() - t0) * 1000)
        assert found.stdout.strip() == b"5"
    visible = []
    for i in range(5):
        word = f"visible{uuid.uuid4().hex}"
        t0 = time.perf_counter()
        engine.insert(one_row(cols, i, f"INFO fresh {word}"))
        deadline = t0 + 30
        while not engine.find(word) and time.perf_counter() < deadline:
            time.sleep(0.005)
        visible.append(time.perf_counter() - t0)
    name = engine.name
    print(f"{name}: per search p95 " + ", ".join(
        f"{label} {p95(samples[k::len(searches)]):.1f} ms" for k, label in enumerate(searches)))
    print(f"{name}: rare word median {statistics.median(rare):.1f} ms, grep -F median {statistics.median(grep):.1f} ms")
    return [f"RESULT {name}_ingest_lines_per_s {ingest:.0f} >= 50000",
            f"RESULT {name}_search_p95_ms {p95(samples):.1f} <= 200",
            f"RESULT {name}_bytes_per_line {per_line:.1f} <= 100",
            f"RESULT {name}_search_vs_grep {statistics.median(rare) / statistics.median(grep):.3f} <= 0.1",
            f"RESULT {name}_visible_after_s {max(visible):.3f} <= 2"]


def through_redis(n: int, redis_url: str, workers: int = 0) -> list[str]:
    """Lines XADDed to 50 apps' streams (as the agent and router write them), then ingested until all are
    stored: the end-to-end rate; then lines written while it runs, timed until search finds them.

    ``workers`` 0: as ``paas-logs`` runs by default, its own worker in-process (``Intake.take``). Otherwise
    that many ``paas-logs-ingest`` processes (the real program) hand batches over TCP to the store owner,
    which runs here (``intake.serve``: the same code ``paas-logs`` listens with)."""
    import secrets
    import sys
    import threading

    import redis

    from paas.logcenter import intake
    from paas.logcenter.ingest import Ingest
    from paas.logcenter.store import Store

    cols, _ = generate(n)
    client = redis.Redis.from_url(redis_url)
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    scratch = Path(tempfile.mkdtemp(prefix="paas-logbench-"))
    store = Store(scratch / "store")
    lock = threading.Lock()
    owner = intake.Intake(store, 10**9, lock)
    stop, procs, server, thread = threading.Event(), [], None, None
    try:
        _write_streams(client, prefix, cols, n)
        # paas-logs runs for days: its one-time start (chdb loading its Arrow reader) is not the sustained rate.
        store.insert_rows([schema.Record(time=datetime.now(timezone.utc), app="warm", source="app", line="up").row()],
                          ["0-1"])
        print(f"through redis: {n} lines written to 50 streams; {workers or 'no'} worker processes")
        if workers:
            token = secrets.token_urlsafe(32)
            server = intake.serve(owner, ("127.0.0.1", 0), token)
            env = {**os.environ, "REDIS_URL": redis_url, "PAAS_REDIS_PREFIX": prefix, "PAAS_LOG_INGEST_TOKEN": token,
                   "PAAS_LOG_INGEST_ADDRESS": "%s:%d" % server.server_address[:2], "PAAS_DATA_DIR": str(scratch)}
            procs = [subprocess.Popen([str(Path(sys.executable).parent / "paas-logs-ingest")],
                                      env={**env, "PAAS_LOG_CONSUMER": f"bench-{k}"}, stderr=subprocess.DEVNULL)
                     for k in range(workers)]
        else:
            # As paas-logs runs it (service.ingest_loop): Ingest.run, storing one batch while parsing the next,
            # with searches taking turns with inserts on the one chdb session.
            ingest = Ingest(client, owner.take, prefix, "bench")
            thread = threading.Thread(target=ingest.run, args=(stop,))
            thread.start()
        # Sustained: timed from the first batch stored, so a worker process's start (its imports, ~1 s of
        # CPU) is not counted against the rate paas-logs and its workers keep up for days.
        _wait(lambda: owner.stored > 0, procs)
        t0, first = time.perf_counter(), owner.stored
        cpu0 = _cpu_s() + sum(_proc_cpu_s(p.pid) for p in procs)
        _wait(lambda: owner.stored >= n, procs)
        rate = (n - first) / (time.perf_counter() - t0)
        # The machine is shared (load 3 to 17 seen): the CPU time per line (the store owner's and every
        # worker's) says what free cores would do, beside the wall-clock rate the goal is about.
        cpu_us = (_cpu_s() + sum(_proc_cpu_s(p.pid) for p in procs) - cpu0) / (n - first) * 1e6
        print(f"through redis: ingest used {cpu_us:.1f} us of CPU per line (owner and workers; Redis's not counted); "
              f"load average {os.getloadavg()[0]:.1f}")
        visible = [_visible_after(client, prefix, store, lock) for _ in range(5)]
        print(f"through redis: {n} lines, {rate:.0f} lines/s; visible after {', '.join(f'{v:.2f}' for v in visible)} s")
        name = "ingest_lines_per_s" if not workers else f"ingest_lines_per_s_{workers}_workers"
        return [f"RESULT {name} {rate:.0f} >= 50000",
                f"RESULT visible_after_s {max(visible):.3f} <= 2"]
    finally:
        stop.set()
        _stop_all(procs)
        if thread is not None:
            thread.join()
        if server is not None:
            server.shutdown()
            server.server_close()
        store.close()
        shutil.rmtree(scratch, ignore_errors=True)
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


def _write_streams(client, prefix: str, cols: dict, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        source = cols["source"][i]
        pipe.xadd(schema.stream_key(prefix, cols["app"][i]), schema.entry(
            app=cols["app"][i], source=source, line=cols["line"][i], release=cols["release"][i],
            process=cols["process"][i], instance="" if source == "router" else cols["instance"][i],
            ts=cols["time"][i].strftime("%Y-%m-%dT%H:%M:%S.%fZ")))
        if i % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()


def _wait(condition, procs: list, limit_s: float = 900) -> None:
    """Until `condition`; a worker that ended or a stalled ingest makes the round invalid, not a hang."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if any(p.poll() is not None for p in procs):
            raise SystemExit("a paas-logs-ingest process ended")
        if time.monotonic() > deadline:
            raise SystemExit(f"the ingest did not finish within {limit_s:.0f} s: round invalid")
        time.sleep(0.005)


def _visible_after(client, prefix: str, store, lock) -> float:
    """Seconds from a line's XADD until search finds it."""
    from paas.logcenter import query

    word = f"fresh{uuid.uuid4().hex}"
    t0 = time.perf_counter()
    client.xadd(schema.stream_key(prefix, "app07"), schema.entry(app="app07", source="app", line=word))
    now_us = int(time.time() * 1e6)
    while True:
        with lock:
            if store.search("app07", query.parse(word), now_us - 60_000_000, now_us + 60_000_000, 1):
                return time.perf_counter() - t0
        time.sleep(0.01)


def _stop_all(procs: list) -> None:
    """SIGTERM, as make up stops them; SIGKILL after 30 s."""
    import signal

    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds a running child used so far (user and system, /proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--engines", default="chdb,postgres")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL",
                                                                 "postgres://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--through-redis", type=int, default=0, metavar="N",
                        help="instead: N lines from Redis streams through logcenter.ingest into chdb (end to end)")
    parser.add_argument("--workers", type=int, default=0, metavar="K",
                        help="with --through-redis: K paas-logs-ingest processes hand batches over TCP "
                             "(default 0: paas-logs' own worker, in-process)")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    if args.through_redis:
        print("\n".join(through_redis(args.through_redis, args.redis_url, args.workers)))
        return
    t0 = time.perf_counter()
    cols, rid = generate(args.lines)
    print(f"generated {args.lines} lines in {time.perf_counter() - t0:.0f} s")
    scratch = Path(tempfile.mkdtemp(prefix="paas-logbench-"))
    results = []
    try:
        text_path = scratch / "lines.txt"
        write_text(cols, text_path)
        print(f"plain text: {text_path.stat().st_size / args.lines:.1f} bytes per line")
        for name in args.engines.split(","):
            t0 = time.perf_counter()
            engine = Chdb(scratch) if name == "chdb" else Postgres(args.database_url, cols["time"][0], 3)
            try:
                results += run(engine, cols, rid, text_path, args.rounds, args.lines)
            finally:
                engine.close()
            print(f"{name}: {time.perf_counter() - t0:.0f} s in all")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"lines: {args.lines}")
    print("\n".join(results))


if __name__ == "__main__":
    main()
