"""Drains with real peers on loopback: a syslog TCP and TLS listener, an HTTPS server and a Loki-shaped
HTTP server run by the test; formats checked byte for byte; refused destinations; a dead drain."""

import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime, timezone

import pytest

from paas.logcenter import destinations, formats, schema
from paas.logcenter.drains import DrainSet, wait_idle

LOOPBACK = destinations.allowed_networks("127.0.0.0/8,::1/128")
AT = datetime(2026, 12, 6, 12, 0, 1, 250000, tzinfo=timezone.utc)


def row(app="shop", line="hello", process="web.1", level="info", source="app", at=AT):
    return schema.Record(time=at, app=app, source=source, line=line, process=process, level=level).row()


def test_syslog_frames_are_rfc5424_octet_counted():
    message = formats.syslog_message(row(line="two\nlines é", level="error"))
    assert message == "<187>1 2026-12-06T12:00:01.250000Z shop app web.1 - - two\nlines é".encode()
    assert formats.octet_counted(message) == b"%d " % len(message) + message
    hostile = formats.syslog_message(row(process="we b\x00\u00e9x" * 100, app=""))
    header = hostile.split(b" - - ")[0].split(b" ")
    assert header[2] == b"-" and len(header[4]) <= 128 and b"\x00" not in hostile


def test_loki_body_groups_streams():
    body, headers = formats.loki_body([row(line="a"), row(line="b"), row(line="c", level="error")])
    pushed = json.loads(body)
    assert headers["Content-Type"] == "application/json"
    assert [s["values"] for s in pushed["streams"]] == [[["1796558401250000000", "a"], ["1796558401250000000", "b"]],
                                                         [["1796558401250000000", "c"]]]
    assert pushed["streams"][1]["stream"] == {"app": "shop", "source": "app", "process": "web.1", "level": "error"}


@pytest.mark.parametrize("url, problem", [
    ("ftp://logs.example.com", "unknown scheme 'ftp'"),
    ("logs.example.com:514", "unknown scheme"),
    ("syslog://", "has no host"),
    ("syslog://host:99999", "not a valid URL"),
    ("syslog://a b", "without spaces"),
    ("syslog://127.0.0.1:514", "private address (127.0.0.1)"),
    ("https://10.1.2.3/logs", "private address"),
    ("loki://[::1]:3100", "private address"),
    ("syslog://169.254.169.254", "private address"),
    ("https://[::ffff:127.0.0.1]/", "private address"),
    ("syslog+tls://no-such-host.invalid", "does not resolve"),
])
def test_refused_destinations(url, problem):
    with pytest.raises(destinations.DestinationError) as caught:
        destinations.check(url, [])
    assert problem in str(caught.value)


def test_the_admin_may_allow_a_private_range():
    assert destinations.check("syslog://127.0.0.1:5514", LOOPBACK).port == 5514
    loki = destinations.parse("loki+https://u:secret@logs.example.com")
    assert (loki.kind, loki.tls, loki.port, loki.path) == ("loki", True, 443, "/loki/api/v1/push")
    assert "secret" not in loki.redacted()


def read_frames(conn: socket.socket, want: int, out: list, counted=lambda message: True) -> None:
    """Octet-counted frames from ``conn`` until ``want`` messages (those ``counted``) arrived or the peer closed."""
    buffer = b""
    conn.settimeout(60)     # generous: the machine is shared, and a test's sender may wait its turn
    while sum(1 for m in out if counted(m)) < want:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buffer += chunk
        while b" " in buffer:
            size, rest = buffer.split(b" ", 1)
            if len(rest) < int(size):
                break
            out.append(rest[:int(size)])
            buffer = rest[int(size):]


@pytest.fixture
def tls_files(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    return key, cert


def syslog_listener(tls_files=None):
    """A listener on 127.0.0.1 (TLS with tls_files); returns (port, received list, thread)."""
    server = socket.create_server(("127.0.0.1", 0))
    if tls_files:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_files[1]), str(tls_files[0]))
        server = context.wrap_socket(server, server_side=True)
    received: list = []

    def serve():
        server.settimeout(20)
        conn, _ = server.accept()
        with conn:
            read_frames(conn, 100, received)
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], received, thread


@pytest.mark.parametrize("tls", [False, True], ids=["syslog", "syslog+tls"])
def test_a_syslog_drain_receives_every_line(tls, tls_files):
    port, received, thread = syslog_listener(tls_files if tls else None)
    drains = DrainSet(LOOPBACK, 1000, ca_file=str(tls_files[1]) if tls else "")
    url = f"syslog+tls://localhost:{port}" if tls else f"syslog://127.0.0.1:{port}"
    try:
        drains.sync({b"shop": json.dumps([{"id": 1, "url": url}])})
        drains.offer([row(line=f"line {i}") for i in range(60)] + [row(app="other", line="not mine")])
        drains.offer([row(line=f"line {i}") for i in range(60, 100)])
        thread.join(30)
        assert [m.split(b" - - ", 1)[1] for m in received] == [f"line {i}".encode() for i in range(100)]
        status = drains.status("shop")[0]
        assert wait_idle(drains.drains[1], 10) and drains.status("shop")[0]["sent"] == 100
        assert status["dropped"] == 0 and drains.status("other") == []
    finally:
        drains.stop()


class Recorder(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def http_server(tls_files=None):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.posts = []
    if tls_files:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(tls_files[1]), str(tls_files[0]))
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_an_https_drain_posts_logplex_batches(tls_files):
    server = http_server(tls_files)
    drains = DrainSet(LOOPBACK, 1000, ca_file=str(tls_files[1]))
    try:
        drains.sync({"shop": json.dumps([{"id": 7, "url": f"https://localhost:{server.server_port}/drain?t=1"}])})
        drains.offer([row(line=f"l{i}") for i in range(5)])
        assert wait_idle(drains.drains[7], 20)
        path, headers, body = server.posts[0]
        assert path == "/drain?t=1" and headers["Content-Type"] == "application/logplex-1"
        assert headers["Logplex-Msg-Count"] == "5" and body == formats.syslog_frames([row(line=f"l{i}")
                                                                                      for i in range(5)])
    finally:
        drains.stop()
        server.shutdown()


def test_a_loki_drain_pushes_json():
    server = http_server()
    drains = DrainSet(LOOPBACK, 1000)
    try:
        drains.sync({"shop": json.dumps([{"id": 8, "url": f"loki://127.0.0.1:{server.server_port}"}])})
        drains.offer([row(line="to loki")])
        assert wait_idle(drains.drains[8], 20)
        path, headers, body = server.posts[0]
        assert path == "/loki/api/v1/push" and json.loads(body)["streams"][0]["values"][0][1] == "to loki"
    finally:
        drains.stop()
        server.shutdown()


def test_a_dead_drain_never_blocks_and_counts_what_it_drops():
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()                            # nothing listens there now
    drains = DrainSet(LOOPBACK, 100)
    try:
        drains.sync({"shop": json.dumps([{"id": 9, "url": f"syslog://127.0.0.1:{port}"},
                                         {"id": 10, "url": "syslog://10.0.0.1:514"}])})   # private: refused
        rows = [row(line=f"x{i}") for i in range(1000)]
        for _ in range(50):
            drains.offer(rows)      # appends only: the ingest hands lines over and goes on
        deadline = time.monotonic() + 20
        while drains.status("shop")[0]["state"] != "failing" and time.monotonic() < deadline:
            time.sleep(0.02)
        dead, private = drains.status("shop")
        assert dead["state"] == "failing" and "Connection" in dead["last_error"]
        assert dead["buffered"] == 100 and dead["dropped"] == 50_000 - 100 and dead["sent"] == 0
        wait = time.monotonic() + 20
        while "private" not in drains.status("shop")[1]["last_error"] and time.monotonic() < wait:
            time.sleep(0.02)
        assert "private address" in drains.status("shop")[1]["last_error"]
        drains.sync({})
        assert drains.status("shop") == []
    finally:
        drains.stop()


def test_the_store_owner_hands_each_stored_batch_to_its_apps_drains(store):
    """What the intake stores goes to the drains of its app only (offer_batch), lines over the rate limit not."""
    from paas.logcenter import wire
    from paas.logcenter.intake import Intake

    port, received, thread = syslog_listener()
    drains = DrainSet(LOOPBACK, 1000)
    try:
        drains.sync({b"shop": json.dumps([{"id": 1, "url": f"syslog://127.0.0.1:{port}"}])})
        intake = Intake(store, 90, sink=drains.offer_batch)
        rows = [row(line=f"line {i}") for i in range(100)] + [row(app="other", line="not mine")]
        # Ids of one second: the first 90 of shop's lines are kept, the other 10 dropped (and not drained).
        assert intake.take(wire.table(rows, [f"1800000000000-{i}" for i in range(101)])) == {
            "stored": 91, "duplicates": 0, "dropped": 10}
        intake.take(wire.table([row(line=f"line {i}") for i in range(100, 110)],
                               [f"1800000001000-{i}" for i in range(10)]))
        thread.join(30)
        assert [m.split(b" - - ", 1)[1] for m in received] == [f"line {i}".encode() for i in (*range(90),
                                                                                              *range(100, 110))]
    finally:
        drains.stop()
