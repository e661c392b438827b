"""What the router learns about each request, handed to the access log and metrics."""

import time

from paas.router.protocol import fastproto
from paas.router.telemetry.accesslog import MAX_PENDING

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


class _Clock:
    """RFC 3339 UTC timestamps with microseconds; formats the seconds once a second."""

    def __init__(self):
        self._second = -1
        self._prefix = b""

    def now(self) -> str:
        return self.at(time.time())

    def at(self, t: float) -> str:
        return self.at_bytes(t).decode()

    def at_bytes(self, t: float) -> bytes:
        second = int(t)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return b"%s.%06dZ" % (self._prefix, int((t - second) * 1e6))


class Observer:
    """Fans a finished request out to metrics and the access log, cheaply."""

    def __init__(self, metrics, access_log):
        self.metrics = metrics
        self.access_log = access_log
        self.clock = _Clock()

    def record(self, rec: Record) -> None:
        duration_ms = (_monotonic() - rec.start) * 1000
        wall = _time()
        app = rec.app
        self.metrics.record(app, rec.release, rec.status, duration_ms, wall)
        access_log = self.access_log
        if app and access_log is not None:
            native = fastproto.native
            if native is not None and not rec.code:
                # AccessLog.add's whole entry (timestamp, line, XADD command) in
                # one C call; None: not ASCII (or no plausible time), Python makes it.
                release = rec.release
                parts = access_log._parts.get((app, release)) or access_log.parts(app, release)
                entry = native.log_entry(parts[0], parts[1], wall, rec.method, rec.path, rec.host, rec.rid,
                                         rec.client_ip, rec.instance, duration_ms, rec.status, rec.bytes_out)
                if entry is not None:
                    pending = access_log.pending   # AccessLog.add's queueing, inlined
                    if len(pending) < MAX_PENDING:
                        pending.append(entry)
                    else:
                        access_log.dropped += 1
                    return
            # _Clock.at_bytes inlined while the second lasts: one call fewer per request.
            clock = self.clock
            second = int(wall)
            if second == clock._second:
                ts = b"%s.%06dZ" % (clock._prefix, int((wall - second) * 1e6))
            else:
                ts = clock.at_bytes(wall)
            access_log.add(app, rec.release, ts, rec.line_bytes(duration_ms))
