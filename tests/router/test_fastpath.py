"""Socket tests for the keep-alive fast path (session.py).

A body-less request goes the callback fast path only when an idle pooled
connection to the instance exists, so each test first serves one request to
warm the pool and then checks that the next one reused that connection: the
failures below happen on the fast path, not on the coroutine path that the
single-request tests in test_proxy.py exercise.
"""

import json
import socket
import struct
import threading

import pytest

from router_backends import EchoBackend, RawBackend, read_head
from router_helpers import BAD_RESPONSES, Client, backend, read_until_closed, wait_until

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@pytest.fixture
def make_router(make_router):
    """Routers whose idle pooled connections outlive any pause of a loaded test machine,
    so the request after the warm-up always finds the pooled connection."""
    def start(*args, **kwargs):
        running = make_router(*args, **kwargs)
        running.router.pool.idle = 300.0
        return running
    return start


def _second_response(response: bytes, *, then_close=True, stall: threading.Event | None = None):
    """A backend that answers one request well, then ``response`` on the same connection."""
    def handler(conn, server):
        read_head(conn)
        conn.sendall(OK)
        read_head(conn)
        server.received.append("second")
        conn.sendall(response)
        if stall is not None:
            stall.wait(10)
        elif then_close:
            conn.shutdown(socket.SHUT_RDWR)
    return handler


def _warm(port: int, host: str, cleanup) -> socket.socket:
    """A client connection whose first request left an idle pooled upstream."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    cleanup(s)
    s.sendall(f"GET /warm HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    got = b""
    while not got.endswith(b"ok"):
        chunk = s.recv(65536)
        assert chunk, "router closed the warm-up connection"
        got += chunk
    assert got.startswith(b"HTTP/1.1 200 ")
    return s


@pytest.mark.parametrize("response, code", BAD_RESPONSES + [
    (b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n", b"H17"),
    (b"HTTP/1.1 200 OK\r\nContent-Le", b"H13"),
])
def test_misbehaving_instance_on_a_reused_connection_is_502(make_router, routes, cleanup,
                                                              response, code):
    bad = RawBackend(_second_response(response))
    cleanup(bad)
    router = make_router()
    routes.set_app("bad", [backend(bad.port)])
    s = _warm(router.port, "bad.localhost", cleanup)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bad.localhost\r\nConnection: close\r\n\r\n")
    out = read_until_closed(s)
    assert out.startswith(b"HTTP/1.1 502 ") and b"code=" + code in out, out[:200]
    assert bad.received == ["second"] and len(bad.conns) == 1


def _stalling_backend(second: bytes, cleanup) -> RawBackend:
    """A backend that answers once, then sends `second` and stalls until the test ends."""
    stall = threading.Event()
    cleanup(type("Release", (), {"close": lambda self: stall.set()})())
    server = RawBackend(_second_response(second, stall=stall))
    cleanup(server)
    return server


def test_first_byte_timeout_on_a_reused_connection_is_504(make_router, routes, cleanup):
    slow = _stalling_backend(b"", cleanup)
    router = make_router(first_byte=0.3)
    routes.set_app("slow", [backend(slow.port)])
    s = _warm(router.port, "slow.localhost", cleanup)
    s.sendall(b"GET / HTTP/1.1\r\nHost: slow.localhost\r\n\r\n")
    out = s.recv(65536)
    assert out.startswith(b"HTTP/1.1 504 ") and b"code=H12" in out
    assert len(slow.conns) == 1


def test_reset_mid_response_on_a_reused_connection_closes_the_client(make_router, routes, cleanup):
    def handler(conn, server):
        read_head(conn)
        conn.sendall(OK)
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # RST
    bad = RawBackend(handler)
    cleanup(bad)
    router = make_router()
    routes.set_app("bad", [backend(bad.port)])
    s = _warm(router.port, "bad.localhost", cleanup)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bad.localhost\r\n\r\nGET /again HTTP/1.1\r\nHost: bad.localhost\r\n\r\n")
    out = read_until_closed(s)
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"partial") and out.count(b"HTTP/1.1") == 1


def test_stalled_body_on_a_reused_connection_closes_the_client(make_router, routes, cleanup):
    bad = _stalling_backend(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial", cleanup)
    router = make_router(idle=0.3)
    routes.set_app("bad", [backend(bad.port)])
    s = _warm(router.port, "bad.localhost", cleanup)
    s.sendall(b"GET / HTTP/1.1\r\nHost: bad.localhost\r\n\r\n")
    out = read_until_closed(s)
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"partial")
    wait_until(lambda: router.router.proxy.active == 0, what="request to end")


def test_client_that_never_reads_a_fast_path_response_is_closed(make_router, routes, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    router = make_router(send=0.3)
    routes.set_app("demo", [backend(echo.port)])
    connections = router.router._connections
    s = socket.socket()
    cleanup(s)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", router.port))
    s.sendall(b"GET /big?n=10 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    got = b""
    while not got.endswith(b"x" * 10):
        got += s.recv(65536)
    s.sendall(b"GET /big?n=20000000 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    # Never reading: the router's buffers fill, then it gives up on us.
    wait_until(lambda: router.router.proxy.active == 1, what="request in flight")
    wait_until(lambda: router.router.proxy.active == 0 and not connections, timeout=10,
               what="router to drop the slow reader")
    ports = {port for _, _, port in echo.requests}
    assert len(echo.requests) == 2 and len(ports) == 1   # the second went over the pooled connection


def test_client_gone_during_a_fast_path_response_frees_the_request(make_router, routes, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    c = Client(router.port)
    cleanup(c)
    assert c.request("GET", "/warm")[0] == 200
    c.sock.sendall(b"GET /stream?n=50&gap=0.05 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    wait_until(lambda: router.router.proxy.active == 1, what="request in flight")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.sock.close()
    wait_until(lambda: router.router.proxy.active == 0 and not router.router._connections, timeout=10,
               what="the request to end with its client")
    # The router still serves others.
    c2 = Client(router.port)
    cleanup(c2)
    assert c2.request("GET", "/after")[0] == 200


def test_fast_path_keeps_forwarding_rules(make_router, routes, cleanup):
    echo = EchoBackend()
    cleanup(echo)
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    c = Client(router.port)
    cleanup(c)
    first = c.request("GET", "/one")
    status, _, body = c.request("GET", "/two", headers=[("Connection", "keep-alive, X-Secret"),
                                                              ("X-Secret", "1"), ("X-Request-Id", "r" * 24)])
    doc = json.loads(body)
    sent = {k.lower(): v for k, v in doc["headers"]}
    assert first[0] == status == 200 and doc["client_port"] == json.loads(first[2])["client_port"]
    assert "x-secret" not in sent and "connection" not in sent and sent["x-request-id"] == "r" * 24
    assert sent["via"] == "1.1 paas-router" and sent["x-forwarded-for"] == "127.0.0.1"


def test_router_fault_while_choosing_an_instance_is_500_h99(make_router, routes, cleanup, monkeypatch):
    from paas.router.serving import proxy
    echo = EchoBackend()
    cleanup(echo)
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    c = Client(router.port)
    cleanup(c)
    assert c.request("GET", "/warm")[0] == 200

    def broken(*args, **kwargs):
        raise RuntimeError("injected fault")
    monkeypatch.setattr(proxy, "choose_backend", broken)
    status, _, body = c.request("GET", "/boom")
    assert status == 500 and b"H99" in body
    monkeypatch.undo()
    c2 = Client(router.port)
    cleanup(c2)
    assert c2.request("GET", "/fine")[0] == 200
