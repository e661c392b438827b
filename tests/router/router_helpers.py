"""Helpers for router tests: a router in a thread, route publishing, clients."""

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import h11
import redis

from paas.router.config import Limits, Settings, Timeouts
from paas.router.serving.server import Router, listen_socket

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01, what: str = "condition"):
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


class RunningRouter:
    """A Router on its own event loop in a background thread, on a free port."""

    def __init__(self, settings: Settings):
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.router = Router(settings)
        self.call(self.router.start(sock=listen_socket("127.0.0.1", 0)))
        self.port = self.router.port
        self.tls_port = self.router.tls_port if settings.tls_port is not None else None

    def call(self, coro, timeout: float = 10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        self.call(self.router.stop(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    close = stop   # for the ``cleanup`` fixture


class Routes:
    """Publishes route-table entries to Redis the way the control plane does."""

    def __init__(self, client: redis.Redis, prefix: str):
        self.r = client
        self.prefix = prefix
        self.router: RunningRouter | None = None

    def set_app(self, app, backends, *, hosts=None, maintenance=False, scaled_to_zero=False, frozen=False,
                wait=True, **https):
        entry = {"app": app, "maintenance": maintenance, "scaled_to_zero": scaled_to_zero, "frozen": frozen,
                 "backends": backends, **https}   # https: https_redirect, hsts_max_age (ROUTES.md)
        self.r.set(f"{self.prefix}router:app:{app}", json.dumps(entry))
        for host in hosts or [f"{app}.localhost"]:
            self.r.hset(f"{self.prefix}router:hosts", host, app)
        self.r.set(f"{self.prefix}router:published", "1")
        self.r.publish(f"{self.prefix}router:changes", app)
        if wait and self.router is not None:
            wait_until(lambda: self._applied(entry), what=f"route change for {app}")

    def _applied(self, entry) -> bool:
        route = self.router.router.table.apps.get(entry["app"])
        if route is None:
            return False
        keys = {(b["id"], b["address"], b["port"], b.get("weight", 100)) for b in entry["backends"]}
        have = {(b.id, b.address, b.port, b.weight) for b in route.backends}
        return (keys == have and route.maintenance == entry["maintenance"]
                and route.scaled_to_zero == entry["scaled_to_zero"] and route.frozen == entry["frozen"]
                and route.https_redirect == entry.get("https_redirect", False)
                and (route.hsts is None) == (entry.get("hsts_max_age") is None))


def backend(port: int, id: str | None = None, release: int = 1, weight: int = 100) -> dict:
    return {"id": id or f"web-{port}", "address": "127.0.0.1", "port": port,
            "release": release, "weight": weight}



def router_settings(prefix: str, **timeouts) -> Settings:
    t = dict(connect=1.0, first_byte=2.0, idle=5.0, head=1.0, send=2.0, wake=3.0, drain=5.0)
    t.update(timeouts)
    return Settings(host="127.0.0.1", port=0, workers=1, redis_url=REDIS_URL, key_prefix=prefix,
                    reload_interval=15.0, timeouts=Timeouts(**t),
                    limits=Limits(request_line=1024, header_block=4096, header_count=50, body=1 << 20))



# Responses an instance may send that the router must turn into a 502 (H17: bad response).
BAD_RESPONSES = [
    (b"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", b"H17"),
    (b"garbage\r\n\r\n", b"H17"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", b"H17"),
    (b"HTTP/1.1 200 OK\r\nX-Big: " + b"x" * 70000 + b"\r\n\r\n", b"H17"),
]


def raw_exchange(port: int, data: bytes, timeout: float = 5.0) -> bytes:
    """Send bytes, read until the router closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_until_closed(s)


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the peer sends until it closes (or resets) the connection."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    return out


class Client:
    """A keep-alive HTTP/1.1 client on one connection, parsing with h11."""

    def __init__(self, port: int, timeout: float = 5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.conn = h11.Connection(h11.CLIENT)

    def request(self, method="GET", target="/", host="demo.localhost", headers=(), body=None):
        hdrs = [("Host", host), *headers]
        if body is not None:
            hdrs.append(("Content-Length", str(len(body))))
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        data = self.conn.send(h11.Request(method=method, target=target, headers=hdrs))
        if body:
            data += self.conn.send(h11.Data(data=body))
        data += self.conn.send(h11.EndOfMessage())
        self.sock.sendall(data)
        return self.read_response()

    def read_response(self):
        response, body = None, b""
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                headers = {k.decode().lower(): v.decode() for k, v in response.headers}
                return response.status_code, headers, body

    def close(self):
        self.sock.close()


class PrivateRedis:
    """A throwaway redis-server on a fixed port, restartable; with ``tls`` it speaks TLS only,
    with a certificate for 127.0.0.1 made by openssl (``ca`` is its path)."""

    def __init__(self, tmp_path, tls: bool = False):
        from router_backends import free_port
        self.port = free_port()
        self.dir = tmp_path
        self.proc = None
        self.tls = tls
        self.ca = tmp_path / "redis.crt"
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", str(tmp_path / "redis.key"), "-out", str(self.ca)],
                           check=True, capture_output=True)

    @property
    def url(self) -> str:
        if self.tls:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca_certs={self.ca}"
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        # Data survives a SHUTDOWN SAVE in dump.rdb under the test's tmp dir.
        args = [shutil.which("redis-server"), "--save", "", "--appendonly", "no", "--dir", str(self.dir),
                "--bind", "127.0.0.1"]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(self.ca),
                     "--tls-key-file", str(self.dir / "redis.key"), "--tls-auth-clients", "no"]
        else:
            args += ["--port", str(self.port)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), what="private redis")
        return client

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


def _pings(client) -> bool:
    try:
        return client.ping()
    except redis.RedisError:
        return False
