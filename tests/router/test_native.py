"""The native head checker (router/native/heads.c) against the Python one, head by head.

Both run through the real fastproto objects (ClientConnection, BackendExchange)
with ``fastproto.native`` set to the compiled module or to None, and every
observable result is compared: the refusal (exception type and status) or the
accepted head's fields, framing decisions, the request id and the exact bytes
sent to the instance and to the client. The corpus is every framing test case
of the suite plus generated heads (seeded, so a failure reproduces).

The native module also answers directly: it must refuse exactly the heads the
Python check refuses (``None``), never only defer them.
"""

import itertools
import random
import subprocess
import sys

import pytest

from framing_cases import BAD_REQUESTS, BAD_RESPONSE_HEADS, SMUGGLING
from paas.router import errors
from paas.router.protocol import fastproto, forwarding, native_heads
from paas.router.config import Limits
from paas.router.protocol.events import NEED_DATA, Data
from paas.router.protocol.framing import check_request, check_response
from router_helpers import BAD_RESPONSES

LIMITS = Limits(request_line=4096, header_block=65536, header_count=12, body=1000, response_head=65536)
NATIVE = fastproto.native
IP, PORT = "10.1.2.3", 8080


@pytest.fixture(autouse=True)
def heads(monkeypatch):
    """Overrides conftest's: these tests switch between the two paths themselves."""
    if not native_heads.enabled():
        pytest.skip("PAAS_ROUTER_NATIVE=0")
    if NATIVE is None:
        pytest.fail("the native head checker did not load")
    monkeypatch.setattr(forwarding, "new_request_id", _ids)
    monkeypatch.setattr(fastproto, "request_ids", _ids)
    yield
    fastproto.native = NATIVE


class _Ids:
    """Request ids counted from 0 again for each path, so both paths see the same ones."""

    def __init__(self):
        self.reset()

    def reset(self):
        self._next = itertools.count()

    def __call__(self) -> str:
        return f"generated-{next(self._next)}"


_ids = _Ids()


def _refusal(exc):
    return ("refused", type(exc).__name__, exc.status)


def request_outcome(head: bytes, native, limits=LIMITS):
    """Everything the router derives from a request head, on one path."""
    fastproto.native = native
    _ids.reset()
    c = fastproto.ClientConnection(limits, IP, PORT)
    c.receive_data(head + b"\r\n\r\n")
    try:
        req = c.next_request()
    except errors.RouterError as exc:
        return _refusal(exc)
    f = req.framing
    rid = forwarding.request_id_for(f)
    bx = fastproto.BackendExchange(limits, req.method)
    out = bx.send_forwarded(req, client_ip=IP, port=PORT, rid=rid, upgrade=req.is_upgrade)
    return (req.method, req.target, f.target, f.version, f.host, f.content_length, f.chunked,
            f.header_count, [tuple(h) for h in req.headers], set(f.connection), f.expect_continue,
            f.request_id, f.wants_close, req.is_upgrade, req.has_body, rid, out, bx._chunked_out,
            c._close, type(c._body).__name__, getattr(c._body, "remaining", None))


def response_outcome(head: bytes, native, method=b"GET", version=b"1.1", connection=b""):
    """Everything the router derives from a response head, for one kind of request."""
    fastproto.native = None   # the request side is not under test here
    c = fastproto.ClientConnection(LIMITS, IP, PORT)
    c.receive_data(b"%s / HTTP/%s\r\nHost: a\r\n%s\r\n" % (method, version, connection))
    c.next_request()
    c.next_body_event()
    fastproto.native = native
    bx = fastproto.BackendExchange(LIMITS, method)
    bx.receive_data(head + b"\r\n\r\nbody")
    try:
        event = bx.next_head()
    except errors.RouterError as exc:
        return _refusal(exc)
    seen = (event.status_code, event.reason, [tuple(h) for h in event.headers], set(event.connection or ()))
    if event.status_code < 200:
        return seen + (forwarding.response_headers(event, upgrade=event.status_code == 101),)
    out = c.send_proxied(event)
    return seen + (out, bx._close, type(bx._body).__name__, getattr(bx._body, "remaining", None),
                   c._close, c._chunked_out, c.send_data(b"xy"))


def python_refuses(check, head: bytes) -> bool:
    try:
        check(head)
    except errors.RouterError:
        return True
    return False


def assert_same_request(head: bytes, limits=LIMITS):
    native = request_outcome(head, NATIVE, limits)
    python = request_outcome(head, None, limits)
    assert native == python, head
    # The native check itself refuses exactly what the Python check refuses.
    direct = NATIVE.request(head, limits.header_count, limits.body, IP.encode(), str(PORT).encode(),
                            forwarding.new_request_id)
    assert direct is not NotImplemented, head
    assert (direct is None) == python_refuses(lambda h: check_request(h, limits), head), head
    return python


def assert_same_response(head: bytes):
    outcomes = []
    for method, version, connection in ((b"GET", b"1.1", b""), (b"HEAD", b"1.1", b""),
                                        (b"GET", b"1.0", b""), (b"GET", b"1.1", b"Connection: close\r\n"),
                                        (b"GET", b"1.0", b"Connection: keep-alive\r\n")):
        native = response_outcome(head, NATIVE, method, version, connection)
        python = response_outcome(head, None, method, version, connection)
        assert native == python, (head, method, version, connection)
        outcomes.append(python)
    direct = NATIVE.response(head)
    assert direct is not NotImplemented, head
    assert (direct is None) == python_refuses(check_response, head), head
    return outcomes[0]


# --- the suite's own framing cases ---------------------------------------------

@pytest.mark.parametrize("head, why", BAD_REQUESTS)
def test_refused_request_heads_are_refused_alike(head, why):
    # test_framing's limits: the cases were written for them (5 fields at most).
    outcome = assert_same_request(head, Limits(request_line=64, header_block=256, header_count=5, body=100))
    assert outcome[0] == "refused", why


@pytest.mark.parametrize("head", BAD_RESPONSE_HEADS)
def test_refused_response_heads_are_refused_alike(head):
    assert_same_response(head)


@pytest.mark.parametrize("data", SMUGGLING)
def test_smuggling_requests_are_refused_alike(data):
    head = data.partition(b"\r\n\r\n")[0]
    assert assert_same_request(head)[0] == "refused"


@pytest.mark.parametrize("data", [r for r, _ in BAD_RESPONSES])
def test_bad_instance_responses_are_refused_alike(data):
    assert_same_response(data.partition(b"\r\n\r\n")[0])


ACCEPTED_REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: a",
    b"POST /x?y HTTP/1.1\r\nHost: Demo.localhost:8080\r\nContent-Length: 12",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007",
    b"GET / HTTP/1.0\r\nHost: a",
    b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive",
    b"GET http://demo.localhost/p?q HTTP/1.1\r\nHost: other",
    b"GET HTTPS://demo.localhost?q HTTP/1.1\r\nHost: other",
    b"GET http://demo.localhost HTTP/1.1\r\nHost: other",
    b"OPTIONS * HTTP/1.1\r\nHost: a",
    b"GET / HTTP/1.1\r\nHost: [::1]:8080",
    b"GET / HTTP/1.1\r\nHost: a:",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-close-me, Keep-Alive\r\nX-Close-Me: 1\r\nX-Stay: 2",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,  Close",
    b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade",
    b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abcdefghij0123456789",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: short\r\nX-Request-Id: abcdefghij0123456789+/=._-",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 2.2.2.2, 3.3.3.3",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-For:\r\nX-Forwarded-For: 2.2.2.2\r\nX-Forwarded-For:",
    b"GET / HTTP/1.1\r\nHost: a\r\nVia: 1.0 a\r\nVia: 1.1 b",
    b"GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nTE: trailers\r\nProxy-Connection: x\r\nTrailer: y",
    b"GET / HTTP/1.1\r\nHost: a\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nExpect: x",
    b"GET / HTTP/1.1\r\nHost: a\r\nConnection: via, x-forwarded-for, host, content-length",
    b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b" \t" * 50,
    b"GET /\xff\x80 HTTP/1.1\r\nHost: a\r\nX-Obs: \xe9t\xe9 \t ok",
    b"GET / HTTP/1.1\r\nHost: a" + b"\r\nX: 1" * 11,
]


@pytest.mark.parametrize("head", ACCEPTED_REQUESTS)
def test_accepted_request_heads_are_forwarded_alike(head):
    assert assert_same_request(head)[0] != "refused"


ACCEPTED_RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2",
    b"HTTP/1.1 200",
    b"HTTP/1.1 200 ",
    b"HTTP/1.0 200 OK",
    b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nVia: 1.0 a",
    b"HTTP/1.1 204 No Content\r\nConnection: close",
    b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10",
    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket",
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>",
    b"HTTP/1.1 200 OK\r\nConnection: content-length, x-drop\r\nContent-Length: 2\r\nX-Drop: 1",
    b"HTTP/1.1 500 Internal \t Error \xe9\r\nX-A: b\r\nKeep-Alive: 5\r\nContent-Length: 0",
]


@pytest.mark.parametrize("head", ACCEPTED_RESPONSES)
def test_accepted_response_heads_are_relayed_alike(head):
    assert assert_same_response(head)[0] != "refused"


# --- generated heads -------------------------------------------------------------

_PIECES = [b"Host", b"host", b"HOST", b"Content-Length", b"content-length", b"Transfer-Encoding",
           b"Connection", b"Expect", b"X-A", b"Via", b"X-Forwarded-For", b"Upgrade", b"X-Request-Id",
           b": ", b":", b" ", b"\t", b"a", b"3", b"4", b"0", b"-", b"+", b"chunked", b"close",
           b"keep-alive, Upgrade", b"100-continue", b"\r\n", b"\r", b"\n", b"\x00", b"\x01", b"\x7f",
           b"\xff", b",", b"=", b"(", b"[", b"]", b"%", b"#", b"?", b"/", b"*", b"\r\n ", b"\r\nHost: a",
           b"\r\nContent-Length: 2", b"\r\nTransfer-Encoding: chunked", b"HTTP/1.1", b"http://"]

_REQUEST_STARTS = [b"GET / HTTP/1.1", b"POST /x?y=1 HTTP/1.0", b"HEAD /a%20b HTTP/1.1", b"OPTIONS * HTTP/1.1",
                   b"GET * HTTP/1.1", b"GET http://Demo.localhost:80/p?q HTTP/1.1", b"GET HTTPS://h?x HTTP/1.1",
                   b"GET http://h#f HTTP/1.1", b"GET http:// HTTP/1.1", b"GET http://[::1]/ HTTP/1.1",
                   b"CONNECT h:443 HTTP/1.1", b"GET /\xff\x80 HTTP/1.1", b"get / HTTP/1.1", b"GET / HTTP/1.2",
                   b"GET / http/1.1", b"GET  / HTTP/1.1", b"GET / HTTP/1.1 ", b"PUT /u HTTP/1.1"]

_REQUEST_LINES = [b"Host: a", b"host:a ", b"Host: [::1]:8080", b"Host: a:123456", b"Host: a:12345", b"Host: a b",
                  b"Host: \xff", b"Host: ", b"HOST: demo.localhost:8080", b"Host: a%2e", b"Host: [zz]",
                  b"Host: [1:2", b"Content-Length: 3", b"content-length:3", b"Content-Length: 0",
                  b"Content-Length: 007", b"Content-Length: 1001", b"Content-Length: 999999999999999999",
                  b"Content-Length: 1234567890123456789", b"Transfer-Encoding: chunked",
                  b"Transfer-Encoding: Chunked ", b"Transfer-Encoding: chunked, chunked",
                  b"Transfer-Encoding: identity", b"Connection: close", b"Connection: Keep-Alive",
                  b"Connection: keep-alive, Upgrade", b"Connection: x-a, X-B", b"Connection: content-length",
                  b"Connection: via", b"Connection: x-forwarded-for", b"Connection:  , ,close",
                  b"Connection: keep-alive,", b"Upgrade: websocket", b"Expect: 100-continue",
                  b"Expect: 100-Continue", b"Expect: x", b"X-Request-Id: abcdefghij0123456789",
                  b"X-Request-Id: abcdefghij012345678", b"X-Request-Id: abcdefghij0123456789!",
                  b"X-Request-Id: " + b"r" * 200, b"X-Request-Id: " + b"r" * 201,
                  b"X-Forwarded-For: 1.1.1.1", b"X-Forwarded-For:", b"X-Forwarded-For: 2.2.2.2, 3.3.3.3",
                  b"Via: 1.0 a", b"Via:", b"Proxy-Connection: x", b"TE: trailers", b"Keep-Alive: 5",
                  b"X-Forwarded-Proto: https", b"X-Forwarded-Port: 1", b"X-Forwarded-Host: e", b"X-A: b c",
                  b"X-B:", b"X-Obs: \xe9t\xe9", b"X-C: \t v \t", b"X-A: b", b"x-a: B", b"Trailer: x"]

_RESPONSE_STARTS = [b"HTTP/1.1 200 OK", b"HTTP/1.0 204 ", b"HTTP/1.1 200", b"HTTP/1.1 2000 X", b"HTTP/1.1 304 N",
                    b"HTTP/1.0 200 OK", b"HTTP/1.1 101 Switching", b"HTTP/1.1 100 Continue", b"HTTP/1.1 099 X",
                    b"HTTP/1.1 500 \xe9rr \t", b"HTTP/1.2 200 OK", b"HTTP/1.1  200 OK", b"http/1.1 200 OK"]

_RESPONSE_LINES = [b"Content-Length: 3", b"content-length:3", b"Content-Length: 0", b"Content-Length: 0x1",
                   b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip", b"Connection: close",
                   b"Connection: keep-alive", b"Connection: x-a, content-length", b"X-A: b", b"Via: 1.0 a",
                   b"Keep-Alive: 5", b"Upgrade: websocket", b"Host: a", b"Host: b", b"Set-Cookie: a=b; Path=/",
                   b"X-Request-Id: abcdefghij0123456789", b"Trailer: x", b"X-B:", b"X-Obs: \xe9"]


def _generate(rng, starts, lines, count, max_lines=8, host=False):
    plain = [line for line in lines if not line.lower().startswith(b"host:")]
    heads = []
    for _ in range(count):
        # Mostly the first (plain) start lines, so that many heads are valid.
        head = starts[rng.randrange(3)] if rng.random() < 0.5 else rng.choice(starts)
        picked = [rng.choice(plain if rng.random() < 0.8 else lines)
                  for _ in range(rng.randrange(0, max_lines + 1))]
        if host and rng.random() < 0.9:
            picked.insert(rng.randrange(len(picked) + 1), b"Host: demo.localhost")
        for line in picked:
            if rng.random() < 0.1:   # a mutation somewhere in the line
                at = rng.randrange(len(line) + 1)
                line = line[:at] + rng.choice(_PIECES) + line[at:]
            head += b"\r\n" + line
        if rng.random() < 0.05:   # or somewhere in the whole head
            at = rng.randrange(len(head) + 1)
            head = head[:at] + rng.choice(_PIECES) + head[at:]
        heads.append(head)
    return heads


def test_generated_request_heads_agree():
    rng = random.Random(20261122)
    heads = _generate(rng, _REQUEST_STARTS, _REQUEST_LINES, 6000, max_lines=14, host=True)
    outcomes = [assert_same_request(h) for h in heads]
    accepted = sum(1 for o in outcomes if o[0] != "refused")
    assert 1000 < accepted < len(heads) - 1000   # both verdicts well exercised


def test_generated_response_heads_agree():
    rng = random.Random(11222026)
    heads = _generate(rng, _RESPONSE_STARTS, _RESPONSE_LINES, 3000)
    outcomes = [assert_same_response(h) for h in heads]
    accepted = sum(1 for o in outcomes if o[0] != "refused")
    assert 500 < accepted < len(heads) - 500


def test_random_bytes_agree():
    """Short heads of arbitrary bytes: almost all refused, and refused alike."""
    rng = random.Random(7)
    alphabet = b"GET / HTTP/1.0\r\n:Host a\t\x00\x80\xff,"
    for _ in range(3000):
        head = b"GET / HTTP/1.1\r\nHost: a" + bytes(rng.choice(alphabet) for _ in range(rng.randrange(40)))
        assert_same_request(head)
        assert_same_response(b"HTTP/1.1 200 OK" + head[23:])


# --- capacities and switches -------------------------------------------------------

def test_heads_past_the_native_capacity_take_the_python_path():
    many = Limits(request_line=4096, header_block=1 << 20, header_count=1000, body=1000)
    head = b"GET / HTTP/1.1\r\nHost: a" + b"\r\nX: 1" * 300
    assert NATIVE.request(head, 1000, 1000, b"ip", b"1", forwarding.new_request_id) is NotImplemented
    assert request_outcome(head, NATIVE, many) == request_outcome(head, None, many)
    tokens = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: " + b",".join(b"t%d" % i for i in range(40))
    assert NATIVE.request(tokens, 100, 1000, b"ip", b"1", forwarding.new_request_id) is NotImplemented
    assert request_outcome(tokens, NATIVE) == request_outcome(tokens, None)
    response = b"HTTP/1.1 200 OK" + b"\r\nX: 1" * 300
    assert NATIVE.response(response) is NotImplemented
    assert response_outcome(response, NATIVE) == response_outcome(response, None)


def test_native_path_is_used_and_can_be_switched_off(monkeypatch, tmp_path):
    req = NATIVE.request(b"GET / HTTP/1.1\r\nHost: a", 10, 10, b"ip", b"1", forwarding.new_request_id)
    assert type(req) is fastproto.NativeRequest and req.framing.upstream.startswith(b"GET / HTTP/1.1\r\nHost: a\r\n")
    monkeypatch.setenv("PAAS_ROUTER_NATIVE", "0")
    monkeypatch.setattr(native_heads, "_loaded", False)
    monkeypatch.setattr(native_heads, "_module", None)
    assert native_heads.load() is None


def test_importing_never_compiles_and_an_unbuilt_checker_falls_back_once(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PAAS_CACHE_DIR", str(tmp_path))   # nothing built here
    monkeypatch.setattr(native_heads, "_loaded", False)
    monkeypatch.setattr(native_heads, "_module", None)
    with caplog.at_level("WARNING", logger="paas.router"):
        assert native_heads.load() is None
        assert native_heads.load() is None
    warnings = [r for r in caplog.records if "not built" in r.getMessage()]
    assert len(warnings) == 1 and "make install" in warnings[0].getMessage()
    assert list(tmp_path.iterdir()) == []   # load() compiled nothing


def test_the_set_up_builds_into_the_cache_by_source_digest(monkeypatch, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PAAS_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-P", "-m", "paas.router.protocol.native_heads"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    monkeypatch.setenv("PAAS_CACHE_DIR", str(tmp_path))
    built = native_heads.target_path()
    assert out.stdout.strip() == f"router heads: {built}" and built.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [built.name]   # no temporary file left
    first = built.stat().st_mtime_ns
    again = subprocess.run([sys.executable, "-P", "-m", "paas.router.protocol.native_heads"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and built.stat().st_mtime_ns == first   # cached, not rebuilt


def test_a_failed_build_says_why_in_one_line(tmp_path):
    env = {"PATH": str(tmp_path), "PAAS_CACHE_DIR": str(tmp_path)}   # no gcc
    out = subprocess.run([sys.executable, "-P", "-m", "paas.router.protocol.native_heads"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "router heads: not built (gcc is not installed); the router will use the Python path"]
    assert list(tmp_path.iterdir()) == []


# --- heads taken straight off the reader's buffer, however the bytes arrive -------

SMALL = Limits(request_line=40, header_block=120, header_count=4, body=100, response_head=90)

STREAMS = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /" + b"a" * 40 + b" HTTP/1.1\r\nHost: a\r\n\r\n",          # 414, even before the CRLF
    b"GET /" + b"a" * 33 + b" HTTP/1.1\r\nHost: a\r\n\r\n",          # a line of exactly 48 > 40
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 200 + b"\r\n\r\n",   # 431 by size
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 88 + b"\r\n\r\n",    # exactly at the head limit
    b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 89 + b"\r\n\r\n",    # one byte past it
    b"GET / HTTP/1.1\r\nHost: a" + b"\r\nX: 1" * 4 + b"\r\n\r\n",     # 431 by count
    b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n",
    b"GET / HTTP/1.1\nHost: a\n\n",
]


def stream_outcomes(data: bytes, step: int, native):
    """What next_request answers after each piece of ``data`` (one request cycle at a time)."""
    fastproto.native = native
    _ids.reset()
    c = fastproto.ClientConnection(SMALL, IP, PORT)
    seen = []
    for i in range(0, len(data), step):
        c.receive_data(data[i:i + step])
        while True:
            try:
                req = c.next_request()
            except errors.RouterError as exc:
                seen.append(_refusal(exc))
                return seen
            if req is None:
                seen.append(None)
                break
            bx = fastproto.BackendExchange(SMALL, req.method)
            seen.append((req.target, req.framing.host, bytes(c._buf),
                         bx.send_forwarded(req, client_ip=IP, port=PORT, rid=forwarding.request_id_for(req.framing),
                                           upgrade=req.is_upgrade)))
            c.next_body_event()
            c.send_response(200, [(b"Content-Length", b"0")])
            c.send_end()
            c.start_next_cycle()
    return seen


@pytest.mark.parametrize("data", STREAMS)
@pytest.mark.parametrize("step", [1, 3, 7, 1000])
def test_request_streams_agree_however_bytes_arrive(data, step):
    assert stream_outcomes(data, step, NATIVE) == stream_outcomes(data, step, None)


RESPONSE_STREAMS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
    b"HTTP/1.1 200 OK\r\nX: " + b"v" * 100 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: " + b"v" * 66 + b"\r\n\r\n",   # 90 bytes with its blank line: at the limit
    b"HTTP/1.1 200 OK\r\nX: " + b"v" * 67 + b"\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
]


def response_stream(data: bytes, step: int, native):
    fastproto.native = native
    bx = fastproto.BackendExchange(SMALL, b"GET")
    seen = []
    for i in range(0, len(data), step):
        bx.receive_data(data[i:i + step])
        while True:
            try:
                event = bx.next_head()
            except errors.RouterError as exc:
                seen.append(_refusal(exc))
                return seen
            seen.append(None if event is None else (event.status_code, [tuple(h) for h in event.headers]))
            if event is None or event.status_code >= 200:
                break
        if event is not None and event.status_code >= 200:
            seen.append(bytes(bx._buf))
            return seen
    return seen


@pytest.mark.parametrize("data", RESPONSE_STREAMS)
@pytest.mark.parametrize("step", [1, 5, 1000])
def test_response_streams_agree_however_bytes_arrive(data, step):
    assert response_stream(data, step, NATIVE) == response_stream(data, step, None)


# --- a whole small response in one step (ClientConnection.relay_whole) -------------

def _client(method, version, connection):
    fastproto.native = None
    c = fastproto.ClientConnection(LIMITS, IP, PORT)
    c.receive_data(b"%s / HTTP/%s\r\nHost: a\r\n%s\r\n" % (method, version, connection))
    c.next_request()
    c.next_body_event()
    return c


def relayed(data: bytes, method, version, connection):
    """relay_whole's answer and the state it leaves, or None when it declines."""
    c = _client(method, version, connection)
    fastproto.native = NATIVE
    bx = fastproto.BackendExchange(LIMITS, method)
    bx.send_end()
    r = c.relay_whole(bx, data)
    if r is None:
        return None
    event, out, sent = r
    return (event.status_code, out, sent, bx.reusable(), bx.status, c.keep_alive(), c._close, c.can_respond)


def evented(data: bytes, method, version, connection):
    """The same through the Python path's events, as the session relays them."""
    c = _client(method, version, connection)
    bx = fastproto.BackendExchange(LIMITS, method)
    bx.send_end()
    bx.receive_data(data)
    try:
        event = bx.next_head()
    except errors.RouterError as exc:
        return _refusal(exc)
    if event is None or event.status_code < 200:
        return ("more", event and event.status_code)
    out = [c.send_proxied(event)]
    sent = 0
    while True:
        e = bx.next_body_event()
        if e is NEED_DATA:
            return ("waits", b"".join(out))
        if type(e) is Data:
            sent += len(e.data)
            out.append(c.send_data(e.data))
        else:
            out.append(c.send_end())
            break
    return (event.status_code, b"".join(out), sent, bx.reusable(), bx.status, c.keep_alive(), c._close, c.can_respond)


def test_whole_responses_relay_as_the_events_do():
    rng = random.Random(424242)
    heads = _generate(rng, _RESPONSE_STARTS, _RESPONSE_LINES, 1500) + ACCEPTED_RESPONSES
    relayed_count = 0
    for head in heads:
        for body in (b"", b"hi", b"abc", b"abcd"):
            data = head + b"\r\n\r\n" + body
            for kind in ((b"GET", b"1.1", b""), (b"HEAD", b"1.1", b""), (b"GET", b"1.0", b""),
                         (b"GET", b"1.1", b"Connection: close\r\n"), (b"GET", b"1.0", b"Connection: keep-alive\r\n")):
                fast = relayed(data, *kind)
                if fast is not None:
                    relayed_count += 1
                    assert fast == evented(data, *kind), (data, kind)
    assert relayed_count > 1000


def test_relay_declines_what_it_does_not_cover():
    cases = [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nab",          # partial body
             b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",          # extra bytes
             b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
             b"HTTP/1.1 200 OK\r\n\r\nread to close",
             b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
             b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
             b"\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
             b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",                 # head incomplete
             b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nhi",
             b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
             b"HTTP/1.1 204 No Content\r\n\r\nx",
             b"HTTP/1.1 200 OK\r\nX: " + b"v" * 70000 + b"\r\nContent-Length: 0\r\n\r\n",
             b""]
    for data in cases:
        assert relayed(data, b"GET", b"1.1", b"") is None, data
    assert relayed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", b"GET", b"1.1", b"") is not None


def test_the_compiled_check_takes_its_character_classes_and_names_from_the_python_rules():
    from paas.router.protocol.framing import char_tables
    head = b"G!T / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nX-Mine: 1"
    assert type(NATIVE.request(head, 10, 10, b"ip", b"1", forwarding.new_request_id)) is fastproto.NativeRequest
    token, value, host, rid = char_tables()
    narrower = token[:ord("!")] + b"\0" + token[ord("!") + 1:]
    try:
        NATIVE.setup(fastproto.NativeRequest, fastproto.NativeFraming, fastproto.NativeResponseHead,
                     (narrower, value, host, rid), [b"x-mine"], [])
        assert NATIVE.request(head, 10, 10, b"ip", b"1", forwarding.new_request_id) is None   # refused
        req = NATIVE.request(head.replace(b"G!T", b"GET"), 10, 10, b"ip", b"1", forwarding.new_request_id)
        assert b"X-Mine" not in req.framing.upstream and b"Keep-Alive: 5" in req.framing.upstream
    finally:
        fastproto._load_native()
    req = NATIVE.request(head, 10, 10, b"ip", b"1", forwarding.new_request_id)
    assert b"X-Mine: 1" in req.framing.upstream and b"Keep-Alive" not in req.framing.upstream
