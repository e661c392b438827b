"""Readiness checks (runtime/readiness.py) against real servers on loopback, hostile ones included."""

import socket
import threading
from contextlib import contextmanager

import pytest

from paas.runtime import readiness
from paas.runtime.readiness import Check
from tests.e2e.platform_procs import free_port
from tests.router.router_backends import read_head

WEB = Check(web=True)


@contextmanager
def server(handle=None):
    """A listening socket on loopback; `handle(conn)` serves each accepted connection, or, without
    one, nothing ever accepts (connections wait in the backlog: a pre-forking master whose workers
    are still importing the app)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    stop = threading.Event()

    def loop():
        sock.settimeout(0.05)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                handle(conn)

    thread = threading.Thread(target=loop, daemon=True) if handle else None
    if thread:
        thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        if thread:
            thread.join(5)
        sock.close()


def read_request(conn) -> bytes:
    conn.settimeout(2)
    return read_head(conn)


def test_a_port_that_accepts_but_never_answers_is_not_ready_until_first_up():
    with server() as port:
        assert not readiness.ready("127.0.0.1", port, WEB, first=True, answer_timeout=0.2)
        # Once up, the port accepting is what later checks ask.
        assert readiness.ready("127.0.0.1", port, WEB, first=False)


def test_an_http_answer_of_any_status_is_ready_and_the_request_is_the_no_op():
    seen = []

    def answer(conn):
        seen.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 404 NOT FOUND\r\nContent-Length: 0\r\n\r\n")

    with server(answer) as port:
        assert readiness.ready("127.0.0.1", port, WEB, first=True)
    assert seen[0].startswith(b"OPTIONS * HTTP/1.1\r\n")


@pytest.mark.parametrize("behaviour", ["garbage", "close", "flood"])
def test_any_answer_counts_and_a_hostile_one_is_read_no_further_than_a_byte(behaviour):
    def answer(conn):
        read_request(conn)
        if behaviour == "garbage":
            conn.sendall(b"\x00\xffnot http at all")
        elif behaviour == "flood":
            try:
                for _ in range(10_000):
                    conn.sendall(b"x" * 65536)
            except OSError:
                pass  # the checker read one byte and went away

    with server(answer) as port:
        assert readiness.ready("127.0.0.1", port, WEB, first=True)


def test_a_refused_port_is_not_ready():
    port = free_port()
    assert not readiness.ready("127.0.0.1", port, WEB, first=True)
    assert not readiness.ready("127.0.0.1", port, WEB, first=False)


def test_an_answer_later_than_the_timeout_is_not_ready():
    release = threading.Event()

    def slow(conn):
        read_request(conn)
        release.wait(10)
        conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")

    with server(slow) as port:
        assert not readiness.answers("127.0.0.1", port, timeout=0.1)
        release.set()


@pytest.mark.parametrize("status, ok", [(200, True), (302, True), (500, False), (404, False)])
def test_a_declared_health_path_must_answer_2xx_or_3xx_every_time(status, ok):
    requests = []

    def answer(conn):
        request = read_request(conn)
        if request:  # not the port check's bare connect
            requests.append(request)
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())

    check = Check(web=True, health_path="/health")
    with server(answer) as port:
        assert readiness.ready("127.0.0.1", port, check, first=True) is ok
        assert readiness.ready("127.0.0.1", port, check, first=False) is ok
    assert [r.split(b"\r\n")[0] for r in requests] == [b"GET /health HTTP/1.1"] * 2


def test_add_on_servers_are_ready_when_their_port_accepts_and_other_processes_at_once():
    with server() as port:
        assert readiness.ready("127.0.0.1", 1, Check(expose=port), first=True)
    assert readiness.ready("127.0.0.1", free_port(), Check(web=False), first=True)
