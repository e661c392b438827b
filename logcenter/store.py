"""Where lines are kept: embedded ClickHouse (chdb), chosen by measurement (logcenter/README.md).

One table, ``logcenter.lines``: a MergeTree partitioned by day (retention drops whole
partitions) and sorted by (app, time), so one app's newest lines are read in order and
compress well together. Search goes through a ClickHouse ``text`` index over the line
lowercased and without ANSI codes, and a bloom filter over request ids.

chdb runs in this process and locks its directory: exactly one process (``paas-logs``,
logcenter/service.py) opens a store; others ask it (logcenter/client.py).
"""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa

from paas.logcenter.schema import Record

# What search matches: the line lowercased, ANSI escape sequences removed (schema.strip_ansi's regex).
ANSI_RE = r"\x1b\\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\\\-_]"
SEARCH_TEXT = f"lower(replaceRegexpAll(line, '{ANSI_RE}', ''))"

COLUMNS = ("time", "app", "source", "process", "instance", "release", "host", "request_id", "level",
           "method", "path", "status", "duration_ms", "bytes", "line", "entry_id")

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
    INDEX words {SEARCH_TEXT} TYPE text(tokenizer = splitByNonAlpha),
    INDEX rid request_id TYPE bloom_filter(0.001) GRANULARITY 1
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(time)
ORDER BY (app, time)
"""

_SCHEMA = pa.schema([
    ("time", pa.timestamp("us", tz="UTC")), ("app", pa.string()), ("source", pa.string()),
    ("process", pa.string()), ("instance", pa.string()), ("release", pa.string()), ("host", pa.string()),
    ("request_id", pa.string()), ("level", pa.string()), ("method", pa.string()), ("path", pa.string()),
    ("status", pa.uint16()), ("duration_ms", pa.float32()), ("bytes", pa.uint64()), ("line", pa.string()),
    ("entry_id", pa.string()),
])


class Store:
    """The Log Center's storage in ``path`` (created if missing)."""

    def __init__(self, path: Path):
        from chdb import session  # imported here: only paas-logs and the bench load the engine

        Path(path).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = Path(path)
        self.session = session.Session(str(path))
        self.session.query("CREATE DATABASE IF NOT EXISTS logcenter")
        self.session.query(DDL)

    def close(self) -> None:
        self.session.close()

    def query(self, sql: str, params: dict | None = None) -> list[dict]:
        """Rows of ``sql`` (with ``{name:Type}`` parameters) as dicts."""
        result = self.session.query(sql, "JSONEachRow", params=params or {})
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        return [json.loads(row) for row in text.splitlines() if row]

    def insert(self, records: list[Record], entry_ids: list[str]) -> None:
        """Store ``records`` (one insert: one part), each with the id of its stream entry."""
        columns = {name: [] for name in COLUMNS}
        for rec, entry_id in zip(records, entry_ids):
            for name in COLUMNS[:-1]:
                columns[name].append(getattr(rec, name))
            columns["entry_id"].append(entry_id)
        self.insert_columns(columns)

    def insert_columns(self, columns: dict) -> None:
        """Store rows given column by column (names of ``COLUMNS``)."""
        table = pa.table([pa.array(columns[name], type=_SCHEMA.field(name).type) for name in COLUMNS],
                         schema=_SCHEMA)
        self.session.query("INSERT INTO logcenter.lines SELECT * FROM Python(table)")

    def stored_ids(self, app: str, entry_ids: list[str]) -> set[str]:
        """Which of ``entry_ids`` of ``app`` are already stored (the de-duplication of redelivered entries)."""
        if not entry_ids:
            return set()
        rows = self.query("SELECT entry_id FROM logcenter.lines WHERE app = {app:String} "
                          "AND entry_id IN {ids:Array(String)}", {"app": app, "ids": entry_ids})
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

    def bytes_on_disk(self) -> int:
        """Bytes the table's active parts take on disk, indexes included."""
        rows = self.query("SELECT sum(bytes_on_disk) AS b FROM system.parts WHERE database = 'logcenter' "
                          "AND table = 'lines' AND active")
        return int(rows[0]["b"] or 0) if rows else 0

    def optimize(self) -> None:
        """Merge parts now (benchmarks: measure the size a running store settles at)."""
        self.session.query("OPTIMIZE TABLE logcenter.lines FINAL")
