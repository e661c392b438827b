"""What the router learns about each request, handed to the access log and metrics."""

import time

from paas.router.telemetry.accesslog import Clock

_monotonic = time.monotonic
_time = time.time

_DESCRIPTIONS = {
    "H00": "No such app", "H12": "Request timeout", "H13": "Connection closed without response",
    "H14": "No web processes running", "H17": "Poorly formatted HTTP response",
    "H18": "Server request interrupted", "H19": "Backend connection timeout",
    "H20": "App boot timeout", "H21": "Backend connection refused", "H25": "HTTP restriction",
    "H27": "Client request interrupted", "H28": "Client connection idle",
    "H80": "Maintenance mode", "H99": "Platform error",
}


class Record:
    """One request's facts (a plain slotted class: one is made per request)."""

    __slots__ = ("method", "path", "host", "rid", "client_ip", "start", "app", "release",
                 "instance", "status", "bytes_out", "code", "detail")

    def __init__(self, method: bytes, path: bytes, host: bytes, rid: str, client_ip: str,
                 start: float | None = None, app: str = "", release: int = 0, instance: str = "-",
                 status: int = 0, bytes_out: int = 0, code: str = "", detail: str = ""):
        self.method = method
        self.path = path
        self.host = host
        self.rid = rid
        self.client_ip = client_ip
        self.start = _monotonic() if start is None else start
        self.app = app
        self.release = release
        self.instance = instance
        self.status = status
        self.bytes_out = bytes_out
        self.code = code
        self.detail = detail

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
        method, path, host = self.method, self.path, self.host
        if self.code or not (method.isascii() and path.isascii() and host.isascii()):
            return self.line(duration_ms).encode()
        if b'"' in path:
            path = path.replace(b'"', b"%22")
        return _INFO_LINE % (method, path, host, self.rid.encode(), self.client_ip.encode(),
                             self.instance.encode(), duration_ms, self.status, self.bytes_out)


_INFO_LINE = (b'at=info method=%s path="%s" host=%s request_id=%s fwd="%s" instance=%s'
              b" duration=%.1fms status=%d bytes=%d")


class Observer:
    """Fans a finished request out to metrics and the access log, cheaply."""

    def __init__(self, metrics, access_log):
        self.metrics = metrics
        self.access_log = access_log
        self.clock = Clock()

    def record(self, rec: Record) -> None:
        duration_ms = (_monotonic() - rec.start) * 1000
        wall = _time()
        app = rec.app
        self.metrics.record(app, rec.release, rec.status, duration_ms, wall)
        access_log = self.access_log
        if app and access_log is not None:
            access_log.add(app, rec.release, self.clock.at_bytes(wall), rec.line_bytes(duration_ms))
