"""Restarting the router without refusing or dropping a request: handed listening sockets,
READY=1, and a drain that says "Connection: close" before it closes a kept-alive connection."""

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from router_backends import EchoBackend
from router_helpers import REDIS_URL, Client, backend, wait_until
from tests.load import Load

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


# --- the drain, in one process (every parser and head path) ------------------------------------

def test_draining_router_answers_the_next_request_with_connection_close(make_router, routes, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    running = make_router(drain=5.0)
    routes.set_app("demo", [backend(echo.port)])
    idle, busy = Client(running.port), Client(running.port)
    cleanup(idle)
    cleanup(busy)
    assert idle.request()[0] == 200 and busy.request()[0] == 200

    stopping = asyncio.run_coroutine_threadsafe(running.router.stop(), running.loop)
    wait_until(lambda: running.router.proxy.closing, what="the drain to begin")
    # A kept-alive connection is not closed under its client: its next request is served,
    # and the response tells the client to go elsewhere.
    status, headers, _ = busy.request()
    assert status == 200 and headers.get("connection") == "close"
    assert busy.sock.recv(1) == b""
    # One left idle is closed when the drain's idle grace has passed; the drain ends then.
    stopping.result(10)
    assert idle.sock.recv(1) == b""
    # The router's own stop at the end of the test finds it stopped already.
    running.router._server = None


# --- the process: handed sockets, READY=1, an overlapping restart under load -----------------

class Handed:
    """Listening sockets opened by the test, as make up's supervisor or systemd open them."""

    def __init__(self, tmp_path: Path):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.admin = socket.create_server(("127.0.0.1", 0))
        self.tls = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self.data_dir = str(tmp_path / "data")
        self.port = self.sock.getsockname()[1]
        self.notify_path = str(tmp_path / "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(30)
        self.children: list[subprocess.Popen] = []

    def start(self, prefix: str) -> subprocess.Popen:
        env = {**os.environ, "REDIS_URL": REDIS_URL, "PAAS_REDIS_PREFIX": prefix,
               "PAAS_ROUTER_LOG_LEVEL": "WARNING", "PAAS_ROUTER_DRAIN_TIMEOUT": "10",
               "PAAS_ROUTER_LISTEN_FD": str(self.sock.fileno()), "PAAS_ROUTER_ADMIN_FD": str(self.admin.fileno()),
               "PAAS_ROUTER_TLS_FD": str(self.tls.fileno()), "PAAS_DATA_DIR": self.data_dir,
               "NOTIFY_SOCKET": self.notify_path}
        child = subprocess.Popen([sys.executable, "-m", "paas.router.main", "--workers", "2"], env=env,
                                 pass_fds=(self.sock.fileno(), self.admin.fileno(), self.tls.fileno()))
        self.children.append(child)
        return child

    def ready(self) -> None:
        """Wait for READY=1 (other states, such as STOPPING=1 of a router going away, are skipped)."""
        while self.notify.recv(256) != b"READY=1":
            pass

    def close(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.kill()
            child.wait()
        for sock in (self.sock, self.admin, self.tls, self.notify):
            sock.close()


@pytest.fixture
def handed(tmp_path):
    sockets = Handed(tmp_path)
    yield sockets
    sockets.close()


def test_a_router_started_beside_the_old_one_takes_over_without_a_failed_request(handed, prefix, routes, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    routes.set_app("demo", [backend(echo.port)], wait=False)
    old = handed.start(prefix)
    handed.ready()
    with Load(handed.port, "demo.localhost", keepalive=4, fresh=2) as load:
        wait_until(lambda: load.tally.ok >= 200, timeout=30, what="load through the first router")
        new = handed.start(prefix)
        handed.ready()
        old.send_signal(signal.SIGTERM)
        assert old.wait(30) == 0
        served_by_old = load.total()
        wait_until(lambda: load.total() >= served_by_old + 300, timeout=30, what="load through the new router")
        # The new router serves the admin port from the same handed socket.
        assert b"ok" in _get(handed.admin.getsockname()[1], "/healthz")
    tally = load.stop()
    assert tally.failed == 0, tally.failures
    assert tally.retried == 0, tally.retries

    # kill -9 of the router: its workers drain and exit (nothing keeps accepting with old code),
    # connections wait in the handed socket's queue, and the next router serves them.
    pid = new.pid
    workers = _children(pid)
    assert len(workers) == 2
    with Load(handed.port, "demo.localhost", keepalive=2, fresh=2) as load:
        wait_until(lambda: load.tally.ok >= 100, timeout=30, what="load before the kill")
        os.kill(pid, signal.SIGKILL)
        new.wait()
        wait_until(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=30,
                   what="the orphaned workers to drain and exit")
        before = load.total()
        handed.start(prefix)
        wait_until(lambda: load.total() >= before + 200, timeout=30, what="load through the restarted router")
    tally = load.stop()
    assert tally.failed == 0, tally.failures


def test_the_tls_socket_is_handed_over_like_the_plain_one(handed, prefix, routes, cleanup, monkeypatch):
    monkeypatch.setenv("PAAS_DATA_DIR", handed.data_dir)   # the routers' platform CA
    from paas.pki import authority

    echo = EchoBackend()
    cleanup(echo)
    routes.set_app("demo", [backend(echo.port)], wait=False)
    old = handed.start(prefix)
    handed.ready()
    ctx = ssl.create_default_context(cadata=authority.ca_pem())
    tls_port = handed.tls.getsockname()[1]
    wait_until(lambda: _tls_get(ctx, tls_port).startswith(b"HTTP/1.1 200"), timeout=30, what="TLS through the first router")
    handed.start(prefix)
    handed.ready()
    old.send_signal(signal.SIGTERM)
    assert old.wait(30) == 0
    assert _tls_get(ctx, tls_port).startswith(b"HTTP/1.1 200")


def _tls_get(ctx, port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="demo.localhost") as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
            return s.recv(4096)


def test_a_handed_descriptor_that_is_not_a_listening_socket_is_refused_in_one_line(tmp_path, prefix):
    plain = open(tmp_path / "file", "w")
    unbound = socket.socket()
    try:
        for fd, reason in ((plain.fileno(), "is not a socket"), (unbound.fileno(), "is not a listening TCP socket"),
                           (999, "is not an open descriptor"), ("x", "is not a descriptor number")):
            env = {**os.environ, "REDIS_URL": REDIS_URL, "PAAS_REDIS_PREFIX": prefix,
                   "PAAS_ROUTER_LISTEN_FD": str(fd)}
            fds = (fd,) if isinstance(fd, int) and fd != 999 else ()
            result = subprocess.run([sys.executable, "-m", "paas.router.main", "--workers", "1"], env=env,
                                    pass_fds=fds, capture_output=True, text=True, timeout=30)
            assert result.returncode == 2, result.stderr
            line = result.stderr.strip()
            assert line.startswith("paas-router: PAAS_ROUTER_LISTEN_FD") and reason in line and "\n" not in line
    finally:
        plain.close()
        unbound.close()


def _get(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        return s.recv(4096)


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}
