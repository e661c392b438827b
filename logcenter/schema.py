"""The one log record shape (logcenter/SCHEMA.md): what every writer puts in ``logs:<app>``
and what the Log Center reads back out of it.

Writers (runtime/logs.py for app output, router/accesslog.py for access lines,
platform/logs.py for platform events, builds) build their stream entries with
``entry()`` and name releases with ``release_label()``; the ingest turns an entry
into a ``Record`` with ``record()``. Everything read from a stream is hostile
(an app wrote it): ``record()`` decodes with replacement characters, drops NULs,
cuts lines at ``MAX_LINE`` with a marker and never raises on odd values.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from paas.contracts import redis_keys

# Sources of lines, one per writer.
SOURCES = ("app", "router", "build", "platform")
LEVELS = ("debug", "info", "warn", "error")

# Stream entry fields, in the order the writers emit them. The router's native
# writer (router/native/heads.c via accesslog._router_parts) emits the first seven.
FIELDS = ("ts", "app", "release", "process", "source", "stream", "line", "instance", "host", "request_id", "level")

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
    # The seven fields the router also writes are always present; the others only when set.
    return {k: v for k, v in fields.items() if v != "" or k in FIELDS[:7]}


@dataclass(slots=True)
class Record:
    """One stored line. Router lines also carry method, path, status, duration_ms and bytes."""

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
    method: str = ""
    path: str = ""
    status: int = 0
    duration_ms: float = 0.0
    bytes: int = 0


# A Heroku-style router line (router/observe.py Record.line): key=value pairs, quoted values
# for path, fwd and desc. Parsed here, off the router's hot path. A key starts after a non-key
# character and is at most 20 long: an unbounded ``[a-z_]+=`` backtracks quadratically over a
# 64 KiB run of letters (30 s a line, measured), and a router line's text is partly the client's.
_PAIR = re.compile(r'(?<![a-z_])([a-z_]{1,20})=("[^"]*"|\S*)')
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """``text`` without ANSI escape sequences: what search matches (the stored line keeps them for display)."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def router_fields(line: str) -> dict:
    """method, path, status, duration_ms, bytes, request_id, instance of a router line (absent ones left out)."""
    pairs = {k: v[1:-1] if v.startswith('"') else v for k, v in _PAIR.findall(line)}
    out = {}
    for key in ("method", "path", "request_id", "instance"):
        if key in pairs:
            out[key] = pairs[key][:2048]
    for key, name in (("status", "status"), ("bytes", "bytes")):
        value = pairs.get(key, "")
        if value.isdigit() and len(value) < 19:
            out[name] = int(value)
    duration = pairs.get("duration", "")
    if duration.endswith("ms"):
        try:
            out["duration_ms"] = float(duration[:-2])
        except ValueError:
            pass
    return out


def clean_line(raw: bytes) -> str:
    """A line as stored: at most MAX_LINE bytes (then a marker), invalid UTF-8 and NUL as U+FFFD."""
    extra = len(raw) - MAX_LINE
    if extra > 0:
        raw = raw[:MAX_LINE]
    text = raw.decode("utf-8", "replace").replace("\x00", "\ufffd")
    if extra > 0:
        text = text.rstrip("\ufffd") + CUT_MARKER.format(extra)  # a character cut in two is dropped
    return text


def _text(fields: dict, name: str, limit: int = 256) -> str:
    value = fields.get(name.encode(), b"")
    return value[:limit].decode("utf-8", "replace").replace("\x00", "\ufffd")


def parse_ts(text: str) -> datetime | None:
    """The ``ts`` field as an aware datetime, or None when it is not RFC 3339 UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value.astimezone(timezone.utc) if value.tzinfo else None


def record(fields: dict, received: datetime) -> Record:
    """The Record of one stream entry (``fields`` as redis-py returns them: bytes -> bytes).

    ``received`` stands in for a missing or malformed ``ts`` (the entry id's time).
    """
    source = _text(fields, "source", 16)
    if source not in SOURCES:
        source = "app"
    line = clean_line(fields.get(b"line", b""))
    rec = Record(time=parse_ts(_text(fields, "ts", 40)) or received, app=_text(fields, "app", 64), source=source,
                 line=line, release=release_label(release_version(_text(fields, "release", 16))),
                 process=_text(fields, "process", 64),
                 instance=_text(fields, "instance", 64), host=_text(fields, "host", 255),
                 request_id=_text(fields, "request_id", 200))
    level = _text(fields, "level", 8)
    if source == "router":
        parsed = router_fields(line)
        rec.method, rec.path = parsed.get("method", ""), parsed.get("path", "")
        rec.status, rec.bytes = parsed.get("status", 0), parsed.get("bytes", 0)
        rec.duration_ms = parsed.get("duration_ms", 0.0)
        rec.request_id = rec.request_id or parsed.get("request_id", "")
        rec.instance = rec.instance or parsed.get("instance", "")
        level = level or ("error" if rec.status >= 500 or line.startswith("at=error") else "info")
    elif not level:
        level = "error" if _text(fields, "stream", 8) == "stderr" else "info"
    rec.level = level if level in LEVELS else "info"
    return rec
