"""What the router learns about each request, handed to the access log and metrics."""

import time
from dataclasses import dataclass, field

_DESCRIPTIONS = {
    "H00": "No such app", "H12": "Request timeout", "H13": "Connection closed without response",
    "H14": "No web processes running", "H17": "Poorly formatted HTTP response",
    "H18": "Server request interrupted", "H19": "Backend connection timeout",
    "H20": "App boot timeout", "H21": "Backend connection refused", "H25": "HTTP restriction",
    "H27": "Client request interrupted", "H28": "Client connection idle",
    "H80": "Maintenance mode", "H99": "Platform error",
}


@dataclass(slots=True)
class Record:
    method: bytes
    path: bytes
    host: bytes
    rid: str
    client_ip: str
    start: float = field(default_factory=time.monotonic)
    app: str = ""
    release: int = 0
    instance: str = "-"
    status: int = 0
    bytes_out: int = 0
    code: str = ""
    detail: str = ""

    def line(self, duration_ms: float) -> str:
        """A Heroku-style router log line: key=value pairs, errors first."""
        parts = []
        if self.code:
            parts.append(f'at=error code={self.code} desc="{_DESCRIPTIONS.get(self.code, "")}"')
        else:
            parts.append("at=info")
        path = self.path.decode("latin-1").replace('"', "%22")
        parts.append(f'method={self.method.decode("latin-1")} path="{path}"'
                     f' host={self.host.decode("latin-1")} request_id={self.rid}'
                     f' fwd="{self.client_ip}" instance={self.instance}'
                     f" duration={duration_ms:.1f}ms status={self.status} bytes={self.bytes_out}")
        return " ".join(parts)


    def line_bytes(self, duration_ms: float) -> bytes:
        """``line(duration_ms).encode()``, formatted as bytes when that is the same thing.

        The access log writes one per request; for ASCII heads of successful
        requests a bytes format skips decoding three fields and encoding the line.
        """
        if self.code or not (self.method.isascii() and self.path.isascii() and self.host.isascii()):
            return self.line(duration_ms).encode()
        return _INFO_LINE % (self.method, self.path.replace(b'"', b"%22"), self.host, self.rid.encode(),
                             self.client_ip.encode(), self.instance.encode(), duration_ms, self.status,
                             self.bytes_out)


_INFO_LINE = (b'at=info method=%s path="%s" host=%s request_id=%s fwd="%s" instance=%s'
              b" duration=%.1fms status=%d bytes=%d")


class _Clock:
    """RFC 3339 UTC timestamps with microseconds; formats the seconds once a second."""

    def __init__(self):
        self._second = -1
        self._prefix = ""

    def now(self) -> str:
        return self.at(time.time())

    def at(self, t: float) -> str:
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((t - second) * 1e6):06d}Z"


class Observer:
    """Fans a finished request out to metrics and the access log, cheaply."""

    def __init__(self, metrics, access_log):
        self.metrics = metrics
        self.access_log = access_log
        self.clock = _Clock()

    def record(self, rec: Record) -> None:
        duration_ms = (time.monotonic() - rec.start) * 1000
        wall = time.time()
        self.metrics.record(rec.app, rec.release, rec.status, duration_ms, wall)
        if rec.app and self.access_log is not None:
            # ts, app, release, process, source, stream, line (accesslog._FIELDS)
            self.access_log.append(rec.app, [
                self.clock.at(wall).encode(),
                rec.app.encode(), b"%d" % rec.release, b"router", b"router", b"stdout",
                rec.line_bytes(duration_ms),
            ])
