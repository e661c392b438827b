"""Steady HTTP load through the router that counts what failed: keep-alive clients and
new-connection clients, in threads (used by tests/router, tests/faults and bench/upgrade.py).

A request fails when it gets no complete response, or a status other than 200, or a body
other than the expected one. A keep-alive client behaves as HTTP clients do (RFC 9112 9.3.1,
what browsers, curl and urllib3 do, and what the router itself does towards instances): a
request on a *reused* connection that dies before any response byte is sent once more on a
new connection; that is counted apart as ``retried``, and as failed only if the new attempt
fails too.
"""

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field

# How many failures keep their description and time, for the report.
KEPT_FAILURES = 20


@dataclass
class Tally:
    ok: int = 0
    failed: int = 0
    retried: int = 0
    failures: list[tuple[float, str]] = field(default_factory=list)
    retries: list[tuple[float, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, ok: bool, what: str = "") -> None:
        with self.lock:
            if ok:
                self.ok += 1
            else:
                self.failed += 1
                if len(self.failures) < KEPT_FAILURES:
                    self.failures.append((time.monotonic(), what))

    def retry(self, what: str) -> None:
        with self.lock:
            self.retried += 1
            if len(self.retries) < KEPT_FAILURES:
                self.retries.append((time.monotonic(), what))


class _Before(Exception):
    """The request died on a reused connection before any response byte."""


class Load:
    """``keepalive`` + ``fresh`` client threads GETting ``path`` at ``host`` through 127.0.0.1:``port``.

    ``pause`` seconds between one client's requests keeps the load steady rather than saturating.
    """

    def __init__(self, port: int, host: str, *, body: bytes | None = None, keepalive: int = 4, fresh: int = 2,
                 pause: float = 0.005, timeout: float = 10.0, path: str = "/"):
        self.port, self.host, self.body, self.path = port, host, body, path
        self.pause, self.timeout = pause, timeout
        self.tally = Tally()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._keepalive, daemon=True) for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self._fresh, daemon=True) for _ in range(fresh)]

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> Tally:
        self.stopping.set()
        for thread in self.threads:
            thread.join(self.timeout + 5)
        return self.tally

    def total(self) -> int:
        return self.tally.ok + self.tally.failed

    def _judge(self, response: http.client.HTTPResponse, data: bytes) -> tuple[bool, str]:
        if response.status != 200:
            return False, f"status {response.status}"
        if self.body is not None and data != self.body:
            return False, f"unexpected body of {len(data)} bytes"
        return True, ""

    def _exchange(self, conn: http.client.HTTPConnection, reused: bool, headers: dict) -> tuple[bool, str]:
        try:
            conn.request("GET", self.path, headers=headers)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
            if reused:
                raise _Before() from error
            return False, type(error).__name__
        data = response.read()
        return self._judge(response, data)

    def _keepalive(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        reused = False
        while not self.stopping.is_set():
            headers = {"Host": self.host}
            try:
                try:
                    ok, what = self._exchange(conn, reused, headers)
                except _Before as before:
                    self.tally.retry(repr(before.__cause__))
                    conn.close()
                    ok, what = self._exchange(conn, False, headers)
            except (OSError, http.client.HTTPException) as error:
                ok, what = False, f"{type(error).__name__}: {error}"
            self.tally.count(ok, what)
            # http.client reconnects by itself after a "Connection: close" response.
            reused = ok and conn.sock is not None
            if not ok:
                conn.close()
            self.stopping.wait(self.pause)
        conn.close()

    def _fresh(self) -> None:
        while not self.stopping.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                ok, what = self._exchange(conn, False, {"Host": self.host, "Connection": "close"})
            except (OSError, http.client.HTTPException) as error:
                ok, what = False, f"{type(error).__name__}: {error}"
            finally:
                conn.close()
            self.tally.count(ok, what)
            self.stopping.wait(self.pause)


def first_answer_after(port: int, host: str, since: float, deadline_s: float) -> float | None:
    """Seconds from ``since`` (time.monotonic) until a new connection's GET got a 200, or None.

    Each attempt is a new connection with a short timeout, so a router that is back serves one
    of them; a refused or unanswered attempt is followed by the next at once.
    """
    end = since + deadline_s
    while time.monotonic() < end:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(0.05, min(1.0, end - time.monotonic())))
        try:
            conn.request("GET", "/", headers={"Host": host, "Connection": "close"})
            if conn.getresponse().status == 200:
                return time.monotonic() - since
        except (OSError, http.client.HTTPException, socket.timeout):
            time.sleep(0.005)   # the poll interval: a refused connect returns at once
        finally:
            conn.close()
    return None
