"""The one log record shape (logcenter/SCHEMA.md): what every writer puts in ``logs:<app>``
and what the Log Center reads back out of it.

Writers (runtime/logs.py for app output, platform/logs.py for platform events, builds)
build their stream entries with ``entry()`` and name releases with ``release_label()``;
the router's access log sends ``ROUTER_FIELDS`` alone. The ingest turns an entry into
a ``Record`` with ``record()``; readers of raw entries complete them with ``implied()``.
Everything read from a stream is hostile (an app wrote it): ``record()`` decodes with
replacement characters, drops NULs, cuts lines at ``MAX_LINE`` with a marker and never
raises on odd values.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from paas.contracts import redis_keys

# Sources of lines, one per writer.
SOURCES = ("app", "router", "build", "platform")
LEVELS = ("debug", "info", "warn", "error")

# Stream entry fields, in the order the writers emit them.
FIELDS = ("ts", "app", "release", "process", "source", "stream", "line", "instance", "host", "request_id", "level")
# The router's access log (router/telemetry/accesslog.py) sends only the fields that change from line to
# line: one XADD per request, whose every argument hiredis packs on its own (the three constant fields
# and the app were 40% of that packing, ~4% of a router worker's instructions per request). Readers
# fill in the rest with ``implied``: the app is the stream's, a router line's process and stream are
# ROUTER_IMPLIED. Router entries written before (all seven fields) read the same.
ROUTER_FIELDS = ("ts", "release", "source", "line")
ROUTER_IMPLIED = {"process": "router", "stream": "stdout"}

MAX_LINE = 64 << 10          # bytes of a line kept whole; the rest is cut (issue 13)
CUT_MARKER = " [cut: {} bytes more]"

_RELEASE = re.compile(r"v[1-9][0-9]{0,8}\Z")


def release_label(version: int | None) -> str:
    """The one spelling of a release in logs: ``v3``; ``""`` for lines of no release (platform events)."""
    return f"v{int(version)}" if version else ""


def release_version(label: str) -> int | None:
    """``v3`` -> 3; anything else (``""``, ``3``, ``v0``, junk) -> None."""
    return int(label[1:]) if _RELEASE.match(label) else None


# The stream's name is a Redis key like the others: it lives with them.
stream_key = redis_keys.log_stream


def implied(fields: dict, app: str) -> dict:
    """``fields`` (one entry, decoded: str -> str) with what its writer left out filled in: ``app`` (the
    stream's) and, for a router line, ROUTER_IMPLIED. What the entry carries is kept."""
    fields.setdefault("app", app)
    if fields.get("source") == "router":
        for name, value in ROUTER_IMPLIED.items():
            fields.setdefault(name, value)
    return fields


def now_rfc3339() -> str:
    """The ``ts`` field: RFC 3339, UTC, microseconds, ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(*, app: str, source: str, line: str | bytes, release: str = "", process: str = "", stream: str = "stdout",
          instance: str = "", host: str = "", request_id: str = "", level: str = "", ts: str | None = None) -> dict:
    """The stream fields of one line, as every Python writer sends them to XADD (empty fields left out)."""
    if source not in SOURCES:
        raise ValueError(f"unknown log source {source!r}")
    fields = {"ts": ts or now_rfc3339(), "app": app, "release": release, "process": process, "source": source,
              "stream": stream, "line": line, "instance": instance, "host": host, "request_id": request_id,
              "level": level}
    # The first seven fields are always present; the others only when set.
    return {k: v for k, v in fields.items() if v != "" or k in FIELDS[:7]}


# What is stored of each line, in order: ``row()`` builds these tuples, logcenter/store.py keeps them
# (with the stream entry's id and the app's retention as more columns). A router line's method, path,
# status, duration and bytes are read out of its text by the store, in the insert (store.ROUTER_PAIRS).
ROW = ("time", "app", "source", "process", "instance", "release", "host", "request_id", "level", "line")


@dataclass(slots=True)
class Record:
    """One stored line (a router line's request fields are the store's: store.ROUTER_PAIRS)."""

    time: datetime
    app: str
    source: str
    line: str
    release: str = ""
    process: str = ""
    instance: str = ""
    host: str = ""
    request_id: str = ""
    level: str = "info"

    def row(self) -> tuple:
        """This record in ``ROW`` order."""
        return (self.time, self.app, self.source, self.process, self.instance, self.release, self.host,
                self.request_id, self.level, self.line)


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences: what search matches (the stored line keeps them for display)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def clean_line(raw: bytes) -> str:
    """A line as stored: at most MAX_LINE bytes (then a marker), invalid UTF-8 and NUL as U+FFFD."""
    extra = len(raw) - MAX_LINE
    if extra > 0:
        raw = raw[:MAX_LINE]
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if extra > 0:
        text = text.rstrip("\ufffd") + CUT_MARKER.format(extra)  # a character cut in two is dropped
    return text


def _text(value: bytes | None, limit: int = 256) -> str:
    if not value:
        return ""
    text = value[:limit].decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


_NAMES: dict = {}
_NAME_LIMIT = 64     # the shortest limit of a field read with ``_name``: a value this long reads the same for all


def _name(value: bytes | None, limit: int) -> str:
    """``_text`` of a field whose values repeat (process, instance, host): remembered, as decoding each
    entry's own copy again cost a tenth of ``row()`` (measured). Bounded: instances come and go."""
    if not value:
        return ""
    text = _NAMES.get(value)
    if text is None:
        text = _text(value, limit)
        if len(value) <= _NAME_LIMIT:
            if len(_NAMES) >= 10_000:
                _NAMES.clear()
            _NAMES[value] = text
    return text


def parse_ts(text: str) -> datetime | None:
    """The ``ts`` field as an aware datetime, or None when it is not RFC 3339 UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is timezone.utc:     # every writer's ``Z``: already UTC (the ingest's hot path)
        return value
    return value.astimezone(timezone.utc) if value.tzinfo else None


_SOURCES = {s.encode(): s for s in SOURCES}
_LEVELS = {lv.encode(): lv for lv in LEVELS}


def entry_time(entry_id: bytes) -> datetime:
    """When Redis accepted a stream entry: the millisecond part of its id (``<ms>-<seq>``, made by Redis)."""
    return datetime.fromtimestamp(int(entry_id[:entry_id.index(b"-")]) / 1000, timezone.utc)


def row(fields: dict, received: datetime | bytes, app: str | None = None) -> tuple:
    """The stored row (``ROW`` order) of one stream entry (``fields`` as Redis returns them: bytes -> bytes).

    ``received`` stands in for a missing or malformed ``ts``: a datetime, or the entry's id, read
    (``entry_time``) only then: every writer sends a ``ts``. ``app`` (the stream's) overrides the field (router
    lines do not send it, see ROUTER_FIELDS). This is the
    ingest's hot path: plain lookups. A router line's level (unless sent), instance (unless sent) and request
    fields are left to the store, which reads them out of the line in the insert (store.ROUTER_PAIRS).
    """
    get = fields.get
    source = _SOURCES.get(get(b"source"), "app")
    process = get(b"process")
    ts = get(b"ts")
    when = parse_ts(ts.decode("ascii", "replace")) if ts and len(ts) <= 40 else None
    level = _LEVELS.get(get(b"level"), "")
    if not level and source != "router":
        level = "error" if get(b"stream") == b"stderr" else "info"
    if when is None:
        when = received if isinstance(received, datetime) else entry_time(received)
    # A router line without a process is one of ROUTER_FIELDS: its process is implied (ROUTER_IMPLIED).
    process = _name(process, 64) if process or source != "router" else _ROUTER_PROCESS
    return (when, app if app is not None else _text(get(b"app"), 64), source, process,
            _name(get(b"instance"), 64), _release(get(b"release")), _name(get(b"host"), 255),
            _text(get(b"request_id"), 200), level, clean_line(get(b"line") or b""))


_ROUTER_PROCESS = ROUTER_IMPLIED["process"]
_RELEASES: dict = {}


def _release(value: bytes | None) -> str:
    """The release as stored: ``v<N>`` (release_label's spelling) or "" for anything else a writer sent."""
    label = _RELEASES.get(value)
    if label is None:
        label = release_label(release_version(_text(value, 16)))
        if len(_RELEASES) < 10_000:    # releases are few; junk values are not kept
            _RELEASES[value] = label
    return label


def record(fields: dict, received: datetime, app: str | None = None) -> Record:
    """The Record of one stream entry (see ``row``; ``app``: the stream's)."""
    return Record(**dict(zip(ROW, row(fields, received, app))))
