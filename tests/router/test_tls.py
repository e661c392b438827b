"""TLS termination in the router, with real clients (curl, Python's ssl) against the real router."""

import json
import shutil
import socket
import ssl
import subprocess
import time

import pytest
from router_backends import EchoBackend, RawBackend
from router_helpers import backend, read_until_closed

from paas.pki import authority


@pytest.fixture
def echo(cleanup):
    server = EchoBackend()
    cleanup(server)
    return server


def _ca_file(tmp_path):
    path = tmp_path / "ca.pem"
    path.write_text(authority.ca_pem())
    return str(path)


def _client_context(cafile, **kw) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cafile)
    for name, value in kw.items():
        setattr(ctx, name, value)
    return ctx


def _get(port, host, ctx, path="/"):
    """One request over TLS with ``host`` as SNI and Host: (status line, JSON echo, the TLS socket's facts)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            out = read_until_closed(s)
            facts = {"version": s.version(), "alpn": s.selected_alpn_protocol(), "cert": s.getpeercert()}
    head, _, body = out.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body) if body.startswith(b"{") else body, facts


def _headers(doc) -> dict:
    return {k.lower(): v for k, v in doc["headers"]}


def test_curl_with_the_platform_ca_reaches_the_app_as_https(make_tls_router, routes, echo, tmp_path):
    if shutil.which("curl") is None:
        pytest.skip("no curl")
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    port = router.tls_port
    out = subprocess.run(["curl", "-sS", "--cacert", _ca_file(tmp_path), "--resolve", f"demo.localhost:{port}:127.0.0.1",
                          f"https://demo.localhost:{port}/x"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    headers = _headers(json.loads(out.stdout))
    assert headers["x-forwarded-proto"] == "https"
    assert headers["x-forwarded-port"] == str(port)
    # The plain port still says http.
    with socket.create_connection(("127.0.0.1", router.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
        plain = json.loads(read_until_closed(s).partition(b"\r\n\r\n")[2])
    assert _headers(plain)["x-forwarded-proto"] == "http"


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_with_alpn(make_tls_router, routes, echo, tmp_path, version):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    ctx = _client_context(_ca_file(tmp_path), minimum_version=version, maximum_version=version)
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    status, doc, facts = _get(router.tls_port, "demo.localhost", ctx)
    assert status.startswith(b"HTTP/1.1 200")
    assert facts["version"] == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    assert facts["alpn"] == "http/1.1"
    assert _headers(doc)["x-forwarded-proto"] == "https"


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated")
def test_old_protocols_are_refused(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router()
    ctx = _client_context(_ca_file(tmp_path))
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises(ssl.SSLError):
        _get(router.tls_port, "demo.localhost", ctx)


def test_session_resumption(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    ctx = _client_context(_ca_file(tmp_path), maximum_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="demo.localhost") as s:
            session = s.session
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="demo.localhost", session=session) as s:
            assert s.session_reused


def test_no_sni_gets_the_default_certificate(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router()
    ctx = _client_context(_ca_file(tmp_path), check_hostname=False)
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw) as s:
            names = [v for k, v in s.getpeercert()["subjectAltName"] if k == "DNS"]
    assert "*.localhost" in names


def test_an_address_as_sni_is_taken_as_no_name(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    ctx = _client_context(_ca_file(tmp_path), check_hostname=False)
    status, _, facts = _get(router.tls_port, "127.0.0.1", ctx)   # Host: 127.0.0.1, so the 404 page
    assert status.startswith(b"HTTP/1.1 404") and ("DNS", "*.localhost") in facts["cert"]["subjectAltName"]


@pytest.mark.parametrize("name", ["ghost.localhost", "other.example.com", "a.b.localhost"])
def test_unknown_sni_is_an_alert_not_another_certificate(make_tls_router, routes, echo, tmp_path, name):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    ctx = _client_context(_ca_file(tmp_path), check_hostname=False)
    ctx.verify_mode = ssl.CERT_NONE   # a client that would take any certificate still gets none
    hello = ctx.wrap_bio(ssl.MemoryBIO(), outgoing := ssl.MemoryBIO(), server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        hello.do_handshake()
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        raw.sendall(outgoing.read())
        reply = read_until_closed(raw)
    # No ServerHello (a handshake record, 0x16), so no certificate: the alert record (0x15), fatal (2)
    # unrecognized_name (112), flushed before the close (tlslink.py).
    assert reply[0] == 0x15 and reply[-2:] == bytes([2, 112])


def test_sni_of_another_app_does_not_reach_this_one(make_tls_router, routes, echo, tmp_path, cleanup):
    other = EchoBackend("other")
    cleanup(other)
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    routes.set_app("other", [backend(other.port)])
    ctx = _client_context(_ca_file(tmp_path))
    _, doc, facts = _get(router.tls_port, "other.localhost", ctx)
    names = [v for k, v in facts["cert"]["subjectAltName"] if k == "DNS"]
    assert names == ["other.localhost"] and doc["name"] == "other"


def test_garbage_and_stalled_handshakes_do_not_block_others(make_tls_router, routes, echo, tmp_path):
    router = make_tls_router(head=5.0)
    routes.set_app("demo", [backend(echo.port)])
    stalled = socket.create_connection(("127.0.0.1", router.tls_port), timeout=5)
    stalled.sendall(b"\x16\x03\x01")   # the start of a ClientHello, then nothing
    try:
        with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" + bytes(range(256)) * 8)
            assert b"HTTP/1.1 200" not in read_until_closed(s)   # closed (with an alert at most)
        status, _, _ = _get(router.tls_port, "demo.localhost", _client_context(_ca_file(tmp_path)))
        assert status.startswith(b"HTTP/1.1 200")
    finally:
        stalled.close()


def test_stalled_handshake_is_closed_at_the_head_deadline(make_tls_router, routes, echo):
    router = make_tls_router(head=0.5)
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01")
        assert read_until_closed(s) == b""


def _ws_echo(conn, server):
    head = b""
    while b"\r\n\r\n" not in head:
        head += conn.recv(65536)
    server.received.append(head)
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    while data := conn.recv(65536):
        conn.sendall(data)


def test_websocket_upgrade_over_tls(make_tls_router, routes, tmp_path, cleanup):
    ws = RawBackend(_ws_echo)
    cleanup(ws)
    router = make_tls_router()
    routes.set_app("ws", [backend(ws.port)])
    ctx = _client_context(_ca_file(tmp_path))
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="ws.localhost") as s:
            s.sendall(b"GET /chat HTTP/1.1\r\nHost: ws.localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += s.recv(65536)
            assert head.startswith(b"HTTP/1.1 101 ")
            s.sendall(b"ping over tls")
            got = b""
            while len(got) < len(b"ping over tls"):
                got += s.recv(65536)
            assert got == b"ping over tls"
    assert b"\r\nX-Forwarded-Proto: https\r\n" in ws.received[0]


def _operator_cert(directory, name):
    """A certificate the operator brings: issued here by a CA of the test's own."""
    return authority.ensure_server_files(directory, name, [])


def test_operator_certificate_is_served_and_reloaded_without_a_restart(make_tls_router, routes, echo, tmp_path):
    cert, key = _operator_cert(tmp_path / "op", "*.paas.test")
    router = make_tls_router(tls_cert=str(cert), tls_key=str(key))
    ctx = _client_context(_ca_file(tmp_path), check_hostname=False)

    def served_serial():
        with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                return s.getpeercert()["serialNumber"]

    first = served_serial()
    cert.unlink()
    key.unlink()
    _operator_cert(tmp_path / "op", "*.paas.test")
    assert router.call(_reload(router)) is True
    assert served_serial() != first
    second = served_serial()
    assert second != first
    # A garbage file, or a certificate whose key is another's, leaves the loaded one in force.
    cert.write_text("not a certificate")
    assert router.call(_reload(router)) is False
    assert served_serial() == second
    other_cert, _ = _operator_cert(tmp_path / "other", "*.paas.test")
    cert.write_bytes(other_cert.read_bytes())
    assert router.call(_reload(router)) is False
    assert served_serial() == second


async def _reload(router):
    return router.router.certificates.reload()


def _uploaded(domain):
    """An uploaded certificate's Redis value (as control/certs.py writes it) and the CA file that trusts it."""
    from tests.pki.certmaker import chain, key_pem, pem
    root, middle, (leaf, key) = chain(domain)
    value = json.dumps({"chain": pem(leaf) + pem(middle[0]), "key": key_pem(key)})
    return value, pem(root[0])


async def _load_uploaded(router, redis_key):
    import redis.asyncio as aioredis

    from router_helpers import REDIS_URL
    client = aioredis.from_url(REDIS_URL)
    try:
        await router.router.load_certificates(client, redis_key)
    finally:
        await client.aclose()
    return router.router.certificates.uploaded


def test_uploaded_certificate_is_served_by_sni_and_a_broken_one_keeps_it(make_tls_router, routes, echo, redis_client,
                                                                         prefix, tmp_path):
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)], hosts=["demo.localhost", "www.example.com"])
    value, root = _uploaded("www.example.com")
    key = f"{prefix}tls:certs"
    redis_client.hset(key, "www.example.com", value)
    assert "www.example.com" in router.call(_load_uploaded(router, key))
    ctx = ssl.create_default_context(cadata=root)
    status, doc, facts = _get(router.tls_port, "www.example.com", ctx)
    assert status.startswith(b"HTTP/1.1 200") and _headers(doc)["x-forwarded-proto"] == "https"
    # A broken value in Redis leaves the loaded certificate in force.
    redis_client.hset(key, "www.example.com", json.dumps({"chain": "garbage", "key": "garbage"}))
    router.call(_load_uploaded(router, key))
    assert _get(router.tls_port, "www.example.com", ctx)[0].startswith(b"HTTP/1.1 200")
    # Removed from Redis: no longer served (an alert, not the platform's certificate).
    redis_client.delete(key)
    assert router.call(_load_uploaded(router, key)) == {}
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _get(router.tls_port, "www.example.com", ctx)


def test_sni_address_answers_are_remembered_within_a_bound(make_tls_router):
    """The per-name memo of "is this SNI an IP address" answers as the parse does, and a client
    sending endless distinct names cannot grow it past its bound."""
    certs = make_tls_router().router.certificates
    assert certs._is_address("127.0.0.1") and certs._is_address("::1")
    assert not certs._is_address("demo.localhost") and not certs._is_address("127.0.0.1.localhost")
    for i in range(5000):
        assert not certs._is_address(f"n{i}.localhost")
    assert len(certs._addresses) <= 4096
    assert certs._is_address("10.0.0.1") and not certs._is_address("demo.localhost")


def _tls(port, host, ctx, **kw):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=host, **kw)


def test_a_close_sends_close_notify_after_the_whole_response(make_tls_router, routes, echo, tmp_path):
    """The router's own TLS layer (tlslink.py) ends a connection with close_notify: a client that treats
    an EOF without it as truncation (suppress_ragged_eofs off) reads the whole response and a clean end."""
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    with _tls(router.tls_port, "demo.localhost", _client_context(_ca_file(tmp_path)),
              suppress_ragged_eofs=False) as s:
        s.sendall(b"GET /big?n=300000 HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
        out = read_until_closed(s)   # an abrupt end would raise SSLEOFError here
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b"x" * 300000


def test_pipelined_requests_in_one_write_and_a_large_upload(make_tls_router, routes, echo, tmp_path):
    """Several requests in one burst of records, then a body over the read limit (reading paused and
    resumed under it, records held in the BIO meanwhile), then a slow reader of a large response."""
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    with _tls(router.tls_port, "demo.localhost", _client_context(_ca_file(tmp_path))) as s:
        s.sendall(b"".join(b"GET /p%d HTTP/1.1\r\nHost: demo.localhost\r\n\r\n" % i for i in range(5)))
        got = b""
        while got.count(b"HTTP/1.1 200") < 5 or not got.endswith(b"}"):
            got += s.recv(65536)
        assert [f'"path": "/p{i}"'.encode() in got for i in range(5)] == [True] * 5
        body = bytes(range(256)) * 4096   # 1 MiB
        s.sendall(b"POST /count HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        got = b""
        while not got.endswith(b"}"):
            got += s.recv(65536)
        assert got.startswith(b"HTTP/1.1 200") and b'{"received": 1048576}' in got
        s.sendall(b"GET /big?n=3000000 HTTP/1.1\r\nHost: demo.localhost\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)   # the router's socket buffer fills: its writes pause, then resume as this reads
        out = read_until_closed(s)
    assert out.startswith(b"HTTP/1.1 200") and out.endswith(b"x" * 1000) and len(out.partition(b"\r\n\r\n")[2]) == 3000000


def test_a_forged_record_after_the_handshake_ends_only_that_connection(make_tls_router, routes, echo, tmp_path):
    """Application data that fails its integrity check (a forged or corrupted record) is OpenSSL's
    refusal: that connection ends (an alert at most, never a response), the next one is served."""
    router = make_tls_router()
    routes.set_app("demo", [backend(echo.port)])
    ctx = _client_context(_ca_file(tmp_path))
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    client = ctx.wrap_bio(incoming, outgoing, server_hostname="demo.localhost")
    with socket.create_connection(("127.0.0.1", router.tls_port), timeout=5) as raw:
        while True:
            try:
                client.do_handshake()
                break
            except ssl.SSLWantReadError:
                raw.sendall(outgoing.read())
                incoming.write(raw.recv(65536))
        raw.sendall(outgoing.read())
        client.write(b"GET / HTTP/1.1\r\nHost: demo.localhost\r\n\r\n")
        record = bytearray(outgoing.read())
        record[-1] ^= 0xFF   # the last byte of the tag: the record no longer authenticates
        raw.sendall(bytes(record))
        read_until_closed(raw)   # the router ends it (a timeout here would fail the test)
    assert not echo.requests   # the request in the forged record never reached the app
    status, _, _ = _get(router.tls_port, "demo.localhost", ctx)
    assert status.startswith(b"HTTP/1.1 200")
