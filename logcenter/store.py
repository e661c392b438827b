"""Where lines are kept: embedded ClickHouse (chdb), chosen by measurement (logcenter/README.md).

One table, ``logcenter.lines``: a MergeTree partitioned by day (the platform's longest
retention drops whole partitions) and sorted by (app, time), so one app's newest lines are
read in order and compress well together. Each line carries the days its app keeps lines
(``keep_days``, set at ingest): the engine's TTL removes it after that, in its merges, since a
day partition holds every app's lines. Search goes through a ClickHouse ``text`` index over the line
lowercased and without ANSI codes, and a bloom filter over request ids.

chdb runs in this process and locks its directory: exactly one process (``paas-logs``,
logcenter/service.py) opens a store; others ask it (logcenter/client.py).
"""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc

from paas.logcenter import wire
from paas.logcenter.schema import Record

# What the word index holds: the line lowercased, without ANSI escape sequences (schema.strip_ansi's
# regex) and without tokens made only of digits (durations, sizes, counters: half the tokens of a
# typical line and half the index; a search for a number reads the lines instead, see query.py).
ANSI_RE = r"\x1b\\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\\\-_]"
INDEXED_TEXT = f"lower(replaceRegexpAll(replaceRegexpAll(line, '{ANSI_RE}', ''), '\\\\b[0-9]+\\\\b', ''))"

# What an insert hands the engine: a batch of the wire's columns (wire.SCHEMA) less ``again``, plus each line's
# retention in days.
_SCHEMA = wire.SCHEMA.remove(wire.SCHEMA.get_field_index("again")).append(pa.field("keep_days", pa.uint16()))

# A router line (router/telemetry/observe.py: ``at=info method=GET path="/x" ... status=200 bytes=12``) read
# by the engine, in the insert and in search answers: the one parser of its key=value pairs. In C++ it
# costs a fraction of the Python regex it replaced (the largest cost of the ingest per line, measured).
def router_pairs(text: str) -> str:
    """The SQL of the pairs of the router line ``text`` (an SQL expression) as a Map."""
    return f"extractKeyValuePairs({text}, '=', ' ', '\"')"


ROUTER_PAIRS = router_pairs("line")

# The columns of ``lines`` in table order, from the file of ``_SCHEMA``: a router line's request fields,
# instance (unless sent) and level (unless sent: error for a 5xx or a router error) come from its text.
# Its request id stays in the line only (search reads it there): 11 bytes a line saved. Other lines' text is not
# parsed at all: the engine computes both branches of if(), so choosing the map after parsing every line cost
# 0.8 us a line more (measured, the insert's CPU); each key is looked up once (a lookup scans the pairs).
_INSERT = f"""
INSERT INTO logcenter.lines (time, app, source, process, instance, release, host, request_id, level, method, path,
                             status, duration_ms, bytes, line, entry_id, keep_days)
SELECT time, app, source, process,
    if(router AND instance = '', leftUTF8(pairs['instance'], 64), instance),
    release, host, if(router, '', request_id),
    if(level != '', level, if(req_status >= 500 OR startsWith(line, 'at=error'), 'error', 'info')),
    leftUTF8(pairs['method'], 2048), leftUTF8(pairs['path'], 2048), req_status,
    if(endsWith(duration, 'ms'), toFloat32OrZero(substring(duration, 1, length(duration) - 2)), 0),
    toUInt64OrZero(pairs['bytes']), line, entry_id, keep_days
FROM (SELECT *, source = 'router' AS router,
             {router_pairs("if(router, line, '')")} AS pairs,
             toUInt16OrZero(pairs['status']) AS req_status, pairs['duration'] AS duration
      FROM file('{{path}}', 'ArrowStream'))
"""
DEFAULT_KEEP_DAYS = 30

# Lines past their app's retention go in the engine's merges, looked for hourly (merge_with_ttl_timeout).
TTL = "TTL toDateTime(time) + toIntervalDay(keep_days)"

DDL = f"""
CREATE TABLE IF NOT EXISTS logcenter.lines (
    time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    app LowCardinality(String),
    source LowCardinality(String),
    process LowCardinality(String),
    instance LowCardinality(String),
    release LowCardinality(String),
    host LowCardinality(String),
    request_id String CODEC(ZSTD(3)),
    level LowCardinality(String),
    method LowCardinality(String),
    path String CODEC(ZSTD(3)),
    status UInt16,
    duration_ms Float32,
    bytes UInt64,
    line String CODEC(ZSTD(3)),
    entry_id String CODEC(ZSTD(1)),
    keep_days UInt16 CODEC(ZSTD(1)),
    INDEX words {INDEXED_TEXT} TYPE text(tokenizer = splitByNonAlpha),
    INDEX rid request_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (app, time)
{TTL}
SETTINGS merge_with_ttl_timeout = 3600
"""

class Store:
    """The Log Center's storage in ``path`` (created if missing)."""

    def __init__(self, path: Path, keep_days: int = DEFAULT_KEEP_DAYS):
        from chdb import session  # imported here: only paas-logs and the bench load the engine

        Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = Path(path)
        self._incoming = self.path / "incoming.arrow"
        # Our own path, quoted for SQL all the same (file() takes no parameters).
        self._incoming_sql = str(self._incoming).replace("\\", "\\\\").replace("'", "\\'")
        self.session = session.Session(str(path))
        self.session.query("CREATE DATABASE IF NOT EXISTS logcenter")
        self.session.query(DDL)
        self._upgrade()
        #: Days each app's lines are kept, stored with each line at insert (``set_retention``).
        self.keep_days, self.retention = keep_days, {}

    def _upgrade(self) -> None:
        """A store made before lines carried their retention: the column (the default's days) and the TTL."""
        self.session.query(f"ALTER TABLE logcenter.lines ADD COLUMN IF NOT EXISTS keep_days UInt16 "
                           f"DEFAULT {DEFAULT_KEEP_DAYS} CODEC(ZSTD(1))")
        made = self.query("SELECT create_table_query AS q FROM system.tables WHERE database = 'logcenter' "
                          "AND name = 'lines'")
        if made and " TTL " not in made[0]["q"]:
            self.session.query(f"ALTER TABLE logcenter.lines MODIFY {TTL}")

    def close(self) -> None:
        self.session.close()

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of ``sql`` (with ``{name:Type}`` parameters) as dicts."""
        result = self.session.query(sql, "JSONEachRow", params=params or {})
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        return [json.loads(row) for row in text.splitlines() if row]

    def insert(self, records: list[Record], entry_ids: list[str]) -> None:
        """Store ``records`` (one insert: one part), each with the id of its stream entry."""
        self.insert_rows([rec.row() for rec in records], entry_ids)

    def insert_rows(self, rows: list[tuple], entry_ids: list[str]) -> None:
        """Store rows in ``schema.ROW`` order (one insert: one part), each with the id of its stream entry."""
        if rows:
            self.insert_table(wire.table(rows, entry_ids))

    def insert_table(self, batch: pa.Table) -> None:
        """Store a batch of the wire's columns (wire.SCHEMA; one insert: one part), each line kept as long as
        its app's retention says (``set_retention``).

        The batch goes through an Arrow IPC file in the store's own directory: chdb reads it
        without calling back into Python (its ``Python()`` table function holds the interpreter
        and took half again as long, measured), so the ingest's next batch is parsed meanwhile."""
        apps = batch.column("app")
        if self.retention:
            keep, default = self.retention, self.keep_days
            days = pa.array([keep.get(app, default) for app in apps.to_pylist()], type=pa.uint16())
        else:   # every app at the default: no Python a line
            days = pa.nulls(batch.num_rows, pa.uint16()).fill_null(self.keep_days)
        table = batch.drop_columns(["again"]).append_column(_SCHEMA.field("keep_days"), days)
        with pa.ipc.new_stream(str(self._incoming), _SCHEMA) as writer:
            writer.write_table(table)
        self.session.query(_INSERT.replace("{path}", self._incoming_sql))

    def stored_ids(self, app: str, entry_ids: list[str]) -> set[str]:
        """Which of ``entry_ids`` of ``app`` are already stored (the de-duplication of redelivered entries)."""
        if not entry_ids:
            return set()
        # One string split by the engine: chdb does not pass list parameters (entry ids hold no comma).
        rows = self.query("SELECT entry_id FROM logcenter.lines WHERE app = {app:String} "
                          "AND has(splitByChar(',', {ids:String}), entry_id)", {"app": app, "ids": ",".join(entry_ids)})
        return {row["entry_id"] for row in rows}

    def drop_older_than(self, days: int, now: datetime | None = None) -> list[str]:
        """Drop whole day partitions older than ``days``; returns the partitions dropped."""
        cutoff = ((now or datetime.now(timezone.utc)) - timedelta(days=days)).strftime("%Y%m%d")
        rows = self.query("SELECT DISTINCT partition FROM system.parts WHERE database = 'logcenter' "
                          "AND table = 'lines' AND active AND partition < {cutoff:String}", {"cutoff": cutoff})
        dropped = []
        for row in rows:
            partition = row["partition"]
            if partition.isdigit():  # a partition id is our own toYYYYMMDD: digits only
                self.session.query(f"ALTER TABLE logcenter.lines DROP PARTITION {partition}")
                dropped.append(partition)
        return dropped

    def set_retention(self, days_by_app: dict[str, int], default: int) -> list[str]:
        """Keep each app's lines ``days_by_app[app]`` days, others ``default``: for lines stored from now on,
        and for those stored already (``reconcile_retention``). Returns the apps whose stored lines changed."""
        self.retention, self.keep_days = dict(days_by_app), default
        return self.reconcile_retention()

    def reconcile_retention(self) -> list[str]:
        """Make every stored line's ``keep_days`` its app's retention now (a setting changed, or a line was
        inserted with the one before); the engine's TTL then drops what is past it. Returns the apps changed."""
        changed = []
        for row in self.query("SELECT app, groupUniqArray(keep_days) AS kept FROM logcenter.lines GROUP BY app"):
            days = self.retention.get(row["app"], self.keep_days)
            if any(int(kept) != days for kept in row["kept"]):
                # A mutation: rewrites the app's keep_days and applies the TTL to the parts it touched.
                self.session.query("ALTER TABLE logcenter.lines UPDATE keep_days = {days:UInt16} "
                                   "WHERE app = {app:String} AND keep_days != {days:UInt16}",
                                   params={"days": days, "app": row["app"]})
                changed.append(row["app"])
        return changed

    def bytes_on_disk(self) -> int:
        """Bytes the table's active parts take on disk, indexes included."""
        rows = self.query("SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE database = 'logcenter' "
                          "AND table = 'lines' AND active")
        return int(rows[0]["b"] or 0) if rows else 0

    def search(self, app: str | None, terms: list, since_us: int, until_us: int, limit: int,
               cursor: tuple[int, str] | None = None) -> list[dict]:
        """One page of lines matching parsed ``terms``, newest first (see ``search_sql``)."""
        return _shown(self.query(*search_sql(app, terms, since_us, until_us, limit, cursor)))

    def tail(self, app: str, terms: list, after: tuple[int, int], limit: int) -> list[dict]:
        """Lines of ``app`` matching ``terms`` stored after stream entry ``after``, oldest first (``tail_sql``)."""
        return _shown(self.query(*tail_sql(app, terms, after, limit)))

    def count(self, app: str, terms: list, since_us: int, until_us: int) -> int:
        """How many lines of ``app`` in the time range match parsed ``terms`` (alerts)."""
        params = {"app": app, "since": since_us, "until": until_us}
        conditions = ["app = {app:String}", "time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')",
                      "time <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')", *where(terms, params)]
        rows = self.query(f"SELECT count() AS n FROM logcenter.lines WHERE {' AND '.join(conditions)}", params)
        return int(rows[0]["n"]) if rows else 0

    def usage(self, app: str | None = None) -> list[dict]:
        """Per app (or one): lines stored, their text's bytes, the oldest and newest line, and the bytes on
        disk they account for. Parts hold every app's lines together, so an app's disk bytes are the
        table's disk bytes in proportion to its share of the text: an estimate, exact in sum."""
        params, where_app = {}, ""
        if app is not None:
            params["app"], where_app = app, "WHERE app = {app:String} "
        rows = self.query("SELECT app, count() AS lines, sum(length(line)) AS text_bytes, "
                          "toUnixTimestamp(min(time)) AS oldest, toUnixTimestamp(max(time)) AS newest "
                          f"FROM logcenter.lines {where_app}GROUP BY app ORDER BY text_bytes DESC", params)
        total = self.query("SELECT sum(length(line)) AS b FROM logcenter.lines")
        total_text = int(total[0]["b"] or 0) if total else 0
        disk = self.bytes_on_disk()
        for row in rows:
            row["lines"], row["text_bytes"] = int(row["lines"]), int(row["text_bytes"])
            row["disk_bytes"] = round(disk * row["text_bytes"] / total_text) if total_text else 0
        return rows

    def optimize(self) -> None:
        """Merge parts now (benchmarks: measure the size a running store settles at)."""
        self.session.query("OPTIMIZE TABLE logcenter.lines FINAL")


# What a search returns of each line (a router line's request id is in its line only: see _INSERT). The
# alias is not a column's name: conditions on ``request_id`` stay on the column (and its index).
RESULT_COLUMNS = ("toUnixTimestamp64Micro(time) AS micros, app, source, process, instance, release, host, "
                  f"if(source = 'router', {ROUTER_PAIRS}['request_id'], request_id) AS request_id_shown, level, "
                  "method, path, status, duration_ms, bytes, line, entry_id")


def _shown(rows: list[dict]) -> list[dict]:
    for row in rows:
        row["request_id"] = row.pop("request_id_shown")
    return rows


_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
_NUMBER_FIELDS = {"status": "status", "duration": "duration_ms", "bytes": "bytes"}


def index_tokens(text: str) -> list[str]:
    """The pieces of ``text`` the word index holds (ASCII letters and digits, not only digits), lowercased.

    A piece next to a non-ASCII character is left out: the engine may split there differently, and
    the exact check on the line decides anyway."""
    out = []
    for piece in re.split(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+", text):
        piece = piece.lower()
        if piece and _ASCII_TOKEN.fullmatch(piece) and not piece.isdigit():
            out.append(piece)
    return out


def where(terms: list, params: dict) -> list[str]:
    """SQL conditions of parsed query terms (logcenter/query.py), their values added to ``params``."""
    conditions = []
    for n, term in enumerate(terms):
        name = f"t{n}"
        if term.kind in ("word", "phrase"):
            params[name] = term.value
            exact = f"positionCaseInsensitiveUTF8(line, {{{name}:String}}) > 0"
            if term.negate:
                conditions.append(f"NOT {exact}")
                continue
            for k, token in enumerate(index_tokens(term.value)):
                params[f"{name}_{k}"] = token
                conditions.append(f"hasToken({INDEXED_TEXT}, {{{name}_{k}:String}})")
            conditions.append(exact)
            continue
        if term.kind == "compare":
            params[name] = float(term.value)
            condition = f"source = 'router' AND {_NUMBER_FIELDS[term.field]} {term.op} {{{name}:Float64}}"
        elif term.field == "request_id":
            params[name] = term.value
            params[f"{name}_pair"] = f"request_id={term.value}"
            tokens = [f"hasToken({INDEXED_TEXT}, {{{name}_{k}:String}})" for k in range(len(index_tokens(term.value)))]
            for k, token in enumerate(index_tokens(term.value)):
                params[f"{name}_{k}"] = token
            in_line = " AND ".join(tokens + [f"position(line, {{{name}_pair:String}}) > 0"])
            condition = f"(request_id = {{{name}:String}} OR (source = 'router' AND {in_line}))"
        elif term.field == "process":
            params[name] = term.value
            condition = f"(process = {{{name}:String}} OR startsWith(process, concat({{{name}:String}}, '.')))"
        elif term.field == "path":
            params[name] = term.value
            condition = f"startsWith(path, {{{name}:String}})"
        else:
            params[name] = term.value.lower() if term.field in ("level", "source") else term.value
            column = term.field if term.field != "method" else "upper(method)"
            value = f"{{{name}:String}}" if term.field != "method" else f"upper({{{name}:String}})"
            condition = f"{column} = {value}"
        conditions.append(f"NOT ({condition})" if term.negate else condition)
    return conditions


def search_sql(app: str | None, terms: list, since_us: int, until_us: int, limit: int,
               cursor: tuple[int, str] | None) -> tuple[str, dict]:
    """The SELECT of one search page, newest first (``app`` None: every app, for admins)."""
    params = {"since": since_us, "until": until_us, "limit": limit}
    conditions = ["time >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')",
                  "time <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')"]
    if app is not None:
        params["app"] = app
        conditions.insert(0, "app = {app:String}")
    if cursor is not None:
        params["cursor_us"], params["cursor_id"] = cursor
        conditions.append("(time, entry_id) < (fromUnixTimestamp64Micro({cursor_us:Int64}, 'UTC'), "
                          "{cursor_id:String})")
    conditions += where(terms, params)
    sql = (f"SELECT {RESULT_COLUMNS} FROM logcenter.lines WHERE {' AND '.join(conditions)} "
           "ORDER BY time DESC, entry_id DESC LIMIT {limit:UInt32}")
    return sql, params


# An entry id (``<ms>-<seq>``) as numbers: stream order (a string compares 10 before 9).
_ENTRY_ORDER = ("(toUInt64OrZero(splitByChar('-', entry_id)[1]), "
                "toUInt64OrZero(arrayElement(splitByChar('-', entry_id), 2)))")


def tail_sql(app: str, terms: list, after: tuple[int, int], limit: int) -> tuple[str, dict]:
    """The SELECT of lines of ``app`` stored after stream entry ``after`` (ms, seq), in stream order.

    One app's lines come from one stream and are stored in its order, a batch at a time, so every
    entry before the newest one seen is already there: nothing is skipped, whatever the lines' own times.
    The time floor (an hour before the entry) only spares reading old partitions."""
    params = {"app": app, "after_ms": after[0], "after_seq": after[1], "limit": limit,
              "floor_ms": max(0, after[0] - 3_600_000)}
    conditions = ["app = {app:String}", "time >= fromUnixTimestamp64Milli({floor_ms:Int64}, 'UTC')",
                  f"{_ENTRY_ORDER} > ({{after_ms:UInt64}}, {{after_seq:UInt64}})", *where(terms, params)]
    sql = (f"SELECT {RESULT_COLUMNS} FROM logcenter.lines WHERE {' AND '.join(conditions)} "
           f"ORDER BY {_ENTRY_ORDER} LIMIT {{limit:UInt32}}")
    return sql, params
