"""How stored lines leave for a drain, in plain code: RFC 5424 syslog frames (octet-counted, RFC 6587),
Heroku's logplex-1 batches for HTTPS, and Loki's push API JSON.

A row is a stored line in ``schema.ROW`` order. Every field that goes into a syslog header is
reduced to what RFC 5424 allows there (printable US-ASCII, no space, bounded), because apps name
their own processes and write their own lines; the message itself is the line as stored.
"""

import json
from datetime import datetime, timezone

from paas.logcenter.schema import ROW

_I = {name: i for i, name in enumerate(ROW)}
# Facility local7 (23), as Heroku's drains send; severity from the line's level.
_FACILITY = 23
_SEVERITY = {"error": 3, "warn": 4, "info": 6, "debug": 7}


def _header_field(text: str, limit: int) -> str:
    """RFC 5424 header field: PRINTUSASCII (33-126), at most ``limit``; "-" when empty."""
    clean = "".join(c for c in text[:limit] if 33 <= ord(c) <= 126)
    return clean or "-"


def _rfc3339(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def syslog_message(row: tuple) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIME APP SOURCE PROCESS - - LINE`` (HOSTNAME is the app)."""
    pri = _FACILITY * 8 + _SEVERITY.get(row[_I["level"]], 6)
    header = " ".join((f"<{pri}>1", _rfc3339(row[_I["time"]]), _header_field(row[_I["app"]], 255),
                       _header_field(row[_I["source"]], 48), _header_field(row[_I["process"]], 128), "-", "-"))
    return header.encode() + b" " + row[_I["line"]].encode("utf-8", "replace")


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet counting: ``LEN SP MSG``, so a line may hold any byte, newlines included."""
    return b"%d %s" % (len(message), message)


def syslog_frames(rows: list[tuple]) -> bytes:
    return b"".join(octet_counted(syslog_message(row)) for row in rows)


def logplex_body(rows: list[tuple]) -> tuple[bytes, dict]:
    """An HTTPS drain's POST: the body and its headers (``application/logplex-1``, message count)."""
    return syslog_frames(rows), {"Content-Type": "application/logplex-1", "Logplex-Msg-Count": str(len(rows))}


def loki_body(rows: list[tuple]) -> tuple[bytes, dict]:
    """Loki's push API (``POST /loki/api/v1/push``): one stream per app, source, process and level."""
    streams: dict[tuple, list] = {}
    for row in rows:
        labels = (row[_I["app"]], row[_I["source"]], row[_I["process"]], row[_I["level"]])
        when = row[_I["time"]]
        nanos = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
        streams.setdefault(labels, []).append([str(nanos), row[_I["line"]]])
    body = {"streams": [{"stream": {"app": app, "source": source, "process": process or "-", "level": level},
                         "values": values} for (app, source, process, level), values in streams.items()]}
    return json.dumps(body).encode(), {"Content-Type": "application/json"}
