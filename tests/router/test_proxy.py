"""Socket tests: the proxy path end to end against real backends on loopback."""

import base64
import hashlib
import json
import socket
import struct
import threading

import pytest

from paas.logcenter import schema
from framing_cases import SMUGGLING
from router_backends import EchoBackend, RawBackend, free_port, read_head
from router_helpers import BAD_RESPONSES, Client, backend, raw_exchange, wait_until


@pytest.fixture
def echo(cleanup):
    be = EchoBackend()
    cleanup(be)
    return be




@pytest.fixture
def demo(make_router, routes, echo):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    return router


def _json(body: bytes) -> dict:
    return json.loads(body)


def _headers(doc) -> dict:
    return {k.lower(): v for k, v in doc["headers"]}


def test_keep_alive_reuses_client_and_backend_connections(demo, echo, cleanup):
    c = Client(demo.port)
    cleanup(c)
    ports = set()
    for i in range(5):
        status, headers, body = c.request("GET", f"/n/{i}")
        assert status == 200 and headers["via"] == "1.1 paas-router"
        ports.add(_json(body)["client_port"])
    assert len(ports) == 1                      # one pooled connection to the instance
    assert [r[1] for r in echo.requests] == [f"/n/{i}" for i in range(5)]


def test_forwarded_headers(demo, cleanup):
    c = Client(demo.port)
    cleanup(c)
    rid = "client-supplied-request-id-1"
    _, headers, body = c.request("GET", "/", headers=[("X-Request-Id", rid), ("Connection", "keep-alive"),
                                                      ("X-Forwarded-For", "9.9.9.9")])
    h = _headers(_json(body))
    assert h["x-request-id"] == rid
    assert h["x-forwarded-for"] == "9.9.9.9, 127.0.0.1"
    assert h["x-forwarded-proto"] == "http" and h["x-forwarded-port"] == str(demo.port)
    assert h["x-forwarded-host"] == "demo.localhost" and h["via"] == "1.1 paas-router"
    assert "connection" not in h


def test_pipelined_requests_answered_in_order(demo):
    data = b"".join(b"GET /p/%d HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" % i for i in range(3))
    data += b"GET /p/3 HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n"
    out = raw_exchange(demo.port, data)
    assert out.count(b"HTTP/1.1 200 OK") == 4
    assert [out.index(b'"/p/%d"' % i) for i in range(4)] == sorted(out.index(b'"/p/%d"' % i) for i in range(4))


def test_streaming_response_arrives_before_it_ends(demo, echo):
    with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as s:
        s.sendall(b"GET /stream?n=3&gap=10 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        got = b""
        while b"part 0" not in got:
            got += s.recv(65536)
        assert b"transfer-encoding: chunked" in got.lower() and b"part 2" not in got
        echo.httpd.gate.set()   # let the backend finish
        while not got.endswith(b"0\r\n\r\n"):
            got += s.recv(65536)
        assert b"part 2" in got


def test_chunked_request_body_streams_to_backend(demo):
    body = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b"hello ", b"world")) + b"0\r\n\r\n"
    out = raw_exchange(demo.port, b"POST /up HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n" + body)
    doc = _json(out.split(b"\r\n\r\n", 1)[1])
    assert doc["body"] == "hello world"
    assert _headers(doc)["transfer-encoding"] == "chunked"


def test_expect_100_continue(demo):
    with socket.create_connection(("127.0.0.1", demo.port), timeout=5) as s:
        s.sendall(b"PUT /c HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 5\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += s.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 ")
        s.sendall(b"hello")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    doc = _json(out.split(b"\r\n\r\n", 1)[1])
    assert doc["body"] == "hello" and "expect" not in _headers(doc)


def _ws_echo(conn, server):
    head = read_head(conn).decode()
    key = [l.split(":", 1)[1].strip() for l in head.split("\r\n") if l.lower().startswith("sec-websocket-key")][0]
    accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    while True:
        hdr = conn.recv(2)
        if len(hdr) < 2:
            return
        length = hdr[1] & 0x7F
        mask = conn.recv(4)
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(conn.recv(length)))
        conn.sendall(bytes([0x81, len(payload)]) + payload)   # unmasked text frame back


def test_websocket_echo_through_the_tunnel(make_router, routes, cleanup):
    ws = RawBackend(_ws_echo)
    cleanup(ws)
    router = make_router()
    routes.set_app("ws", [backend(ws.port)])
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as s:
        s.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(65536)
        assert head.startswith(b"HTTP/1.1 101 ")
        assert b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        for text in (b"hi", b"there"):
            mask = b"\x01\x02\x03\x04"
            s.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
            frame = b""
            while len(frame) < 2 + len(text):
                frame += s.recv(65536)
            assert frame == bytes([0x81, len(text)]) + text


def test_first_byte_timeout_is_504(make_router, routes, echo):
    router = make_router(first_byte=0.3)
    routes.set_app("demo", [backend(echo.port)])
    out = raw_exchange(router.port, b"GET /?sleep=2 HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 504 ") and b"code=H12" in out


def test_refused_instance_is_retried_on_another(make_router, routes, echo, cleanup):
    router = make_router()
    dead = free_port()
    routes.set_app("demo", [backend(dead, "dead-1"), backend(dead, "dead-2"), backend(echo.port, "live")])
    c = Client(router.port)
    cleanup(c)
    for _ in range(6):
        status, _, body = c.request("GET", "/")
        assert status == 200


def test_no_instances_is_503_and_all_refused_is_503(make_router, routes):
    router = make_router()
    routes.set_app("empty", [])
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: empty.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503 ") and b"code=H14" in out
    routes.set_app("dead", [backend(free_port())])
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: dead.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503 ") and b"code=H21" in out


def test_maintenance_and_unknown_host_pages(make_router, routes, echo, cleanup):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)], maintenance=True)
    c = Client(router.port)
    cleanup(c)
    status, headers, body = c.request("GET", "/")
    assert status == 503 and b"maintenance" in body and "x-request-id" in headers
    status, _, body = c.request("GET", "/", host="nobody.localhost")   # same connection: kept alive
    assert status == 404 and b"No such app at nobody.localhost" in body
    assert echo.requests == []


def test_custom_domain_routes_to_app(make_router, routes, echo, cleanup):
    router = make_router()
    routes.set_app("shop", [backend(echo.port)], hosts=["shop.localhost", "www.example.com"])
    c = Client(router.port)
    cleanup(c)
    status, _, body = c.request("GET", "/", host="WWW.example.com:8080")
    assert status == 200 and _headers(_json(body))["host"] == "WWW.example.com:8080"


@pytest.mark.parametrize("data", SMUGGLING)
def test_framing_violations_are_400_and_close(demo, echo, data):
    out = raw_exchange(demo.port, data + b"GET /smuggled HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ") and out.count(b"HTTP/1.1") == 1
    assert b"connection: close" in out.lower()
    assert echo.requests == []


def test_size_limits_414_431_413(demo, echo):
    out = raw_exchange(demo.port, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 414 ")
    out = raw_exchange(demo.port, b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n" + b"X-A: b\r\n" * 60 + b"\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    out = raw_exchange(demo.port, b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nX: " + b"b" * 5000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 ")
    out = raw_exchange(demo.port, b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 9999999\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 413 ")
    assert echo.requests == []


def test_slow_client_is_closed_at_the_head_deadline(make_router, routes, echo):
    router = make_router(head=0.3)
    routes.set_app("demo", [backend(echo.port)])
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: demo")   # and never the rest
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    assert out.startswith(b"HTTP/1.1 408 ") and b"code=H28" in out


def test_idle_keep_alive_connection_is_closed(make_router, routes, echo):
    router = make_router(idle=0.3)
    routes.set_app("demo", [backend(echo.port)])
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        out = b""
        while chunk := s.recv(65536):   # returns b"" when the router closes the idle connection
            out += chunk
    assert out.startswith(b"HTTP/1.1 200 ") and out.count(b"HTTP/1.1") == 1


def _misbehave(response: bytes, then_close=True):
    def handler(conn, server):
        read_head(conn)
        conn.sendall(response)
        if then_close:
            conn.shutdown(socket.SHUT_RDWR)
    return handler


@pytest.mark.parametrize("response, code", BAD_RESPONSES + [
    (b"HTTP/1.1 200 OK\r\nContent-Le", b"H13"),
    (b"", b"H13"),
])
def test_misbehaving_instance_is_502(make_router, routes, cleanup, response, code):
    bad = RawBackend(_misbehave(response))
    cleanup(bad)
    router = make_router()
    routes.set_app("bad", [backend(bad.port)])
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: bad.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 502 ") and b"code=" + code in out


def test_reset_mid_response_closes_client_without_reuse(make_router, routes, echo, cleanup):
    def handler(conn, server):
        read_head(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))   # RST
    bad = RawBackend(handler)
    cleanup(bad)
    router = make_router()
    routes.set_app("bad", [backend(bad.port)])
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: bad.localhost\r\n\r\nGET /again HTTP/1.1\r\n"
                                    b"Host: bad.localhost\r\n\r\n")
    # The client sees a truncated body and a closed connection, never a second
    # response glued onto the first.
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"partial") and out.count(b"HTTP/1.1") == 1
    wait_until(lambda: len(bad.conns) == 1, what="one backend connection")


def test_draining_during_route_change_fails_no_request(make_router, routes, cleanup):
    old, new = EchoBackend("old"), EchoBackend("new")
    cleanup(old)
    cleanup(new)
    router = make_router()
    routes.set_app("demo", [backend(old.port, "old")])
    results = []

    def slow_request():
        results.append(raw_exchange(router.port, b"GET /?sleep=0.5 HTTP/1.1\r\nHost: demo.localhost\r\n"
                                                 b"Connection: close\r\n\r\n"))
    threads = [threading.Thread(target=slow_request) for _ in range(4)]
    for t in threads:
        t.start()
    wait_until(lambda: len(old.requests) == 4, what="requests in flight on the old instance")
    routes.set_app("demo", [backend(new.port, "new")])
    c = Client(router.port)
    cleanup(c)
    for _ in range(5):
        status, _, body = c.request("GET", "/")
        assert status == 200 and _json(body)["name"] == "new"
    for t in threads:
        t.join(10)
    assert len(results) == 4 and all(r.startswith(b"HTTP/1.1 200 ") and b'"old"' in r for r in results)


def test_each_request_of_a_kept_connection_is_logged_with_its_own_fields(make_router, routes, echo, redis_client,
                                                                         prefix, cleanup):
    # The fast path fills in one Record per connection again for each request (session.py).
    router = make_router()
    routes.set_app("demo", [backend(echo.port, "demo-web-1", release=7)])
    c = Client(router.port)
    cleanup(c)
    rid = "client-chosen-request-id-1"
    for path, headers in (("/a", ()), ("/b", [("X-Request-Id", rid)]), ("/c", ())):
        assert c.request("GET", path, headers=headers)[0] == 200
    stream = f"{prefix}logs:demo"
    wait_until(lambda: len(redis_client.xrange(stream)) == 3, what="three access log entries")
    lines = [fields[b"line"].decode() for _, fields in redis_client.xrange(stream)]
    ids = [line.split("request_id=")[1].split()[0] for line in lines]
    assert [line.split('path="')[1].split('"')[0] for line in lines] == ["/a", "/b", "/c"]
    assert ids[1] == rid and len(set(ids)) == 3
    assert all("status=200" in line and "instance=demo-web-1" in line for line in lines)


def test_access_log_and_metrics_in_redis(make_router, routes, echo, redis_client, prefix, cleanup):
    router = make_router()
    routes.set_app("demo", [backend(echo.port, "demo-web-1", release=7)])
    c = Client(router.port)
    cleanup(c)
    c.request("GET", "/logged?x=1")
    stream = f"{prefix}logs:demo"
    entries = wait_until(lambda: redis_client.xrange(stream), what="access log entry")
    fields = {k.decode(): v.decode() for k, v in entries[0][1].items()}
    assert sorted(fields) == sorted(schema.ROUTER_FIELDS)
    assert fields["release"] == "v7" and fields["source"] == "router" and fields["ts"].endswith("Z")
    # As every reader sees it: the app is the stream's, process and stream are implied.
    fields = schema.implied(fields, "demo")
    assert fields["app"] == "demo" and fields["process"] == "router" and fields["stream"] == "stdout"
    row = dict(zip(schema.ROW, schema.row(entries[0][1], entries[0][0], "demo")))
    assert (row["app"], row["source"], row["process"], row["release"]) == ("demo", "router", "router", "v7")
    line = fields["line"]
    for part in ('method=GET', 'path="/logged?x=1"', "status=200", "instance=demo-web-1", "request_id="):
        assert part in line
    routes.set_app("demo", [backend(free_port(), "gone", release=7)])
    c.request("GET", "/")
    wait_until(lambda: len(redis_client.xrange(stream)) == 2, what="error log entry")
    line = redis_client.xrange(stream)[1][1][b"line"].decode()
    assert "at=error code=H21" in line and "status=503" in line


def test_scaled_to_zero_app_is_woken_and_request_held(make_router, routes, echo, redis_client, prefix):
    router = make_router(wake=5)
    routes.set_app("sleepy", [], scaled_to_zero=True)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(f"{prefix}router:wake")
    wait_until(lambda: pubsub.get_message(timeout=0.1), what="wake subscription")
    result = []
    t = threading.Thread(target=lambda: result.append(raw_exchange(
        router.port, b"GET / HTTP/1.1\r\nHost: sleepy.localhost\r\nConnection: close\r\n\r\n")))
    t.start()
    msg = wait_until(lambda: pubsub.get_message(timeout=0.1), what="wake message")
    assert msg["data"] == b"sleepy"
    routes.set_app("sleepy", [backend(echo.port)], wait=False)
    t.join(10)
    pubsub.close()
    assert result and result[0].startswith(b"HTTP/1.1 200 ")


def test_a_request_to_an_app_asleep_frozen_wakes_it_and_goes_on_at_once(make_router, routes, echo, redis_client,
                                                                        prefix):
    # A wake timeout far longer than the test may take: the request must not wait for a table change.
    router = make_router(wake=60)
    routes.set_app("frozen", [backend(echo.port)], frozen=True)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(f"{prefix}router:wake")
    wait_until(lambda: pubsub.get_message(timeout=0.1), what="wake subscription")
    for _ in range(2):  # the second one in the same 2 s does not publish again
        out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: frozen.localhost\r\nConnection: close\r\n\r\n")
        assert out.startswith(b"HTTP/1.1 200 ")
    msg = wait_until(lambda: pubsub.get_message(timeout=0.1), what="wake message")
    assert msg["data"] == b"frozen"
    assert pubsub.get_message(timeout=0.3) is None
    pubsub.close()


def test_client_that_never_reads_is_closed_at_the_send_timeout(make_router, routes, echo):
    router = make_router(send=0.3)
    routes.set_app("demo", [backend(echo.port)])
    connections = router.router._connections
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.sendall(b"GET /big?n=20000000 HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        # Never reading: the router's buffers fill, then it gives up on us.
        wait_until(lambda: router.router.proxy.active == 1, what="request in flight")
        wait_until(lambda: router.router.proxy.active == 0 and not connections, timeout=10,
                   what="router to drop the slow reader")


def test_instances_receive_normalised_framing(make_router, routes, cleanup):
    seen = []

    def handler(conn, server):
        data = b""
        while not data.endswith(b"0\r\n\r\n"):
            data += conn.recv(65536)
        seen.append(data)
        conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
    raw = RawBackend(handler)
    cleanup(raw)
    router = make_router()
    routes.set_app("raw", [backend(raw.port)])
    out = raw_exchange(router.port, b"POST /u HTTP/1.1\r\nhost: raw.localhost\r\nTransfer-Encoding: chunked\r\n"
                                    b"Connection: close\r\nX-Rid: abc\r\n\r\n5;ext=1\r\nhello\r\n0\r\nX-Trailer: 1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 204 ")
    head, body = seen[0].split(b"\r\n\r\n", 1)
    assert head.startswith(b"POST /u HTTP/1.1\r\nHost: raw.localhost\r\nX-Rid: abc\r\n")
    assert b"\r\nTransfer-Encoding: chunked" in head and b"onnection" not in head
    assert body == b"5\r\nhello\r\n0\r\n\r\n"


def test_stale_pooled_connection_is_retried_fresh(make_router, routes, cleanup):
    def one_shot(conn, server):
        # Answers one request, then closes without saying so (like a server
        # whose keep-alive timer just expired).
        read_head(conn)
        server.received.append(1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    raw = RawBackend(one_shot)
    cleanup(raw)
    router = make_router()
    routes.set_app("raw", [backend(raw.port)])
    c = Client(router.port)
    cleanup(c)
    for _ in range(5):
        assert c.request("GET", "/", host="raw.localhost")[0] == 200
    assert len(raw.received) == 5


def test_http10_client_gets_close_delimited_or_keep_alive(demo):
    out = raw_exchange(demo.port, b"GET /stream?n=2 HTTP/1.0\r\nHost: demo.localhost\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ") and out.endswith(b"part 1\n") and b"chunked" not in out.lower()


def test_route_table_is_level_triggered_without_messages(make_router, routes, echo, redis_client, prefix):
    router = make_router()
    routes.router = None   # publish nothing, wait for nothing
    redis_client.set(f"{prefix}router:app:quiet", json.dumps(
        {"app": "quiet", "backends": [backend(echo.port)]}))
    redis_client.hset(f"{prefix}router:hosts", "quiet.localhost", "quiet")
    redis_client.set(f"{prefix}router:published", "1")
    router.router.sync.interval = 0.2
    wait_until(lambda: router.router.table.app_for_host("quiet.localhost") == "quiet",
               what="periodic full reload")
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: quiet.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")
    redis_client.set(f"{prefix}router:app:quiet", b"{not json")
    redis_client.publish(f"{prefix}router:changes", "*")
    loads = router.router.sync.loads
    wait_until(lambda: router.router.sync.loads > loads + 1, what="reloads")
    assert router.router.table.apps["quiet"].backends   # a bad entry keeps the old one


def test_connect_timeout_is_503_h19(make_router, routes, cleanup):
    # A listener that never accepts, with its queue full: the kernel drops new
    # SYNs, so a connect hangs until the router's connect timeout.
    full = socket.socket()
    cleanup(full)
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    port = full.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(("127.0.0.1", port))
        fillers.append(f)
        cleanup(f)
    router = make_router(connect=0.3)
    routes.set_app("hung", [backend(port)])
    out = raw_exchange(router.port, b"GET / HTTP/1.1\r\nHost: hung.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 503 ") and b"code=H19" in out


def test_pipelined_body_then_request(demo):
    out = raw_exchange(demo.port, b"POST /a HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 3\r\n\r\nabc"
                                  b"GET /b HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
    first, second = out.split(b"HTTP/1.1 200 OK")[1:]
    assert b'"body": "abc"' in first and b'"path": "/b"' in second


def test_head_requests_get_heads_only(demo, cleanup):
    c = Client(demo.port)
    cleanup(c)
    status, headers, body = c.request("HEAD", "/")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0
    status, headers, body = c.request("HEAD", "/", host="nobody.localhost")
    assert status == 404 and body == b""
    assert c.request("GET", "/")[0] == 200   # the connection is still in step


def test_large_bodies_stream_both_ways(make_router, routes, echo, cleanup):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    c = Client(router.port, timeout=20)
    cleanup(c)
    status, _, body = c.request("GET", "/big?n=5000000")
    assert status == 200 and len(body) == 5_000_000
    # Under the 1 MiB test body limit, sent in one go with Content-Length.
    status, _, body = c.request("POST", "/count", body=b"u" * 1_000_000)
    assert status == 200 and _json(body)["received"] == 1_000_000


def test_chunked_body_over_the_limit_is_413(make_router, routes, echo):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    out = raw_exchange(router.port, b"POST /count HTTP/1.1\r\nHost: demo.localhost\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n" + body)
    # The instance waits for the rest of the body, so the router answers first.
    assert out.startswith(b"HTTP/1.1 413 ") and b"code=H25" in out


def test_router_fault_is_500_h99_and_others_are_served(make_router, routes, echo, monkeypatch):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    # The step that writes the forwarded head, on either head implementation.
    exchange = router.router.proxy.proto.BackendExchange
    real = exchange.send_forwarded

    def faulty(self, req, **kw):
        if req.target == b"/boom":
            raise RuntimeError("injected fault")
        return real(self, req, **kw)
    monkeypatch.setattr(exchange, "send_forwarded", faulty)
    out = raw_exchange(router.port, b"GET /boom HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 ") and b"code=H99" in out
    out = raw_exchange(router.port, b"GET /fine HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200 ")


def test_refused_request_is_logged_to_its_app(make_router, routes, echo, redis_client, prefix):
    router = make_router()
    routes.set_app("demo", [backend(echo.port)])
    out = raw_exchange(router.port, b"POST /x HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 1\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    entries = wait_until(lambda: redis_client.xrange(f"{prefix}logs:demo"), what="refusal in the log")
    line = entries[0][1][b"line"].decode()
    assert "at=error code=H25" in line and "status=400" in line and 'path="/x"' in line
