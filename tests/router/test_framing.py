"""Sans-io tests: exact bytes in, parsing and framing decisions out."""

import pytest

from paas.router import errors
from paas.router.protocol import fastproto, h11proto
from paas.router.config import Limits
from paas.router.protocol.events import END, NEED_DATA
from paas.router.protocol.framing import HeadReader, check_request, check_response

from framing_cases import BAD_RESPONSE_HEADS, BAD_REQUESTS

LIMITS = Limits(request_line=64, header_block=256, header_count=5, body=100)


def parse(head: bytes):
    return check_request(head, LIMITS)


@pytest.mark.parametrize("head, why", BAD_REQUESTS)
def test_ambiguous_or_malformed_requests_are_400(head, why):
    with pytest.raises(errors.BadRequest) as info:
        parse(head)
    assert info.value.status == 400, why
    assert info.value.close


def test_valid_framing_is_accepted():
    f = parse(b"POST /x?y HTTP/1.1\r\nHost: Demo.localhost:8080\r\nContent-Length: 12")
    assert (f.content_length, f.chunked, f.host, f.target) == (12, False, b"Demo.localhost:8080", b"/x?y")
    f = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked")
    assert f.chunked and f.content_length is None
    # Identical repeated Content-Length is one value (RFC 9110 8.6).
    assert parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3").content_length == 3
    assert parse(b"GET / HTTP/1.0\r\nHost: a").version == b"1.0"


def test_absolute_form_target_sets_host():
    f = parse(b"GET http://demo.localhost/p?q HTTP/1.1\r\nHost: other")
    assert (f.host, f.target) == (b"demo.localhost", b"/p?q")


def test_body_limit_by_content_length_is_413():
    with pytest.raises(errors.BodyTooLarge) as info:
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101")
    assert info.value.status == 413


def test_header_count_limit_is_431():
    head = b"GET / HTTP/1.1\r\nHost: a" + b"\r\nX: 1" * 5
    with pytest.raises(errors.HeadersTooLarge) as info:
        parse(head)
    assert info.value.status == 431


def _reader():
    return HeadReader(LIMITS.request_line, LIMITS.header_block, errors.URITooLong, errors.HeadersTooLarge)


def test_long_request_line_is_414_before_it_ends():
    r = _reader()
    r.feed(b"GET /" + b"a" * 40)
    assert r.poll() is None
    r.feed(b"a" * 40)   # no CRLF yet: refused on length alone
    with pytest.raises(errors.URITooLong) as info:
        r.poll()
    assert info.value.status == 414


def test_large_head_is_431_however_bytes_arrive():
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Long: " + b"v" * 300 + b"\r\n\r\n"
    for step in (1, 7, len(head)):
        r = _reader()
        with pytest.raises(errors.HeadersTooLarge):
            for i in range(0, len(head), step):
                r.feed(head[i:i + step])
                r.poll()


def test_head_reader_byte_by_byte_and_leading_crlf():
    r = _reader()
    data = b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT"
    heads = []
    for byte in data:
        r.feed(bytes([byte]))
        head = r.poll()
        if head:
            heads.append(head)
    assert heads == [b"GET / HTTP/1.1\r\nHost: a"]
    assert r.take_rest() == b"NEXT"


@pytest.mark.parametrize("head", BAD_RESPONSE_HEADS)
def test_bad_responses_are_502(head):
    if head == b"HTTP/1.1 200":
        assert check_response(head).status == 200   # reason phrase is optional
        return
    with pytest.raises(errors.BadResponse) as info:
        check_response(head)
    assert info.value.status == 502


# --- ClientConnection / BackendExchange: both implementations ----------------

@pytest.fixture(params=[fastproto, h11proto], ids=["fast", "h11"])
def proto(request):
    return request.param


@pytest.fixture
def _client(proto):
    return lambda: proto.ClientConnection(LIMITS)


@pytest.fixture
def BackendExchange(proto):
    return proto.BackendExchange


def test_pipelined_requests_are_served_one_cycle_at_a_time(_client):
    c = _client()
    c.receive_data(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    first = c.next_request()
    assert first.target == b"/1"
    assert c.next_body_event() is END
    c.send_response(200, [(b"Content-Length", b"0")])
    c.send_end()
    assert c.keep_alive()
    c.start_next_cycle()
    second = c.next_request()
    assert second.target == b"/2"


def test_pipelined_smuggled_request_is_still_checked(_client):
    c = _client()
    c.receive_data(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
                   b"POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n")
    c.next_request()
    c.next_body_event()
    c.send_response(200, [(b"Content-Length", b"0")])
    c.send_end()
    c.start_next_cycle()
    with pytest.raises(errors.BadRequest):
        c.next_request()


def test_chunked_body_events_and_body_limit(_client):
    c = _client()
    c.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5;ext=1\r\nhello\r\n0\r\n\r\n")
    req = c.next_request()
    assert req.has_body
    assert c.next_body_event().data == b"hello"
    assert c.next_body_event() is END
    c = _client()
    c.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" + b"x" * 101)
    c.next_request()
    with pytest.raises(errors.BodyTooLarge):
        while c.next_body_event() is not NEED_DATA:
            pass


def test_bad_chunk_size_is_400(_client):
    c = _client()
    c.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    c.next_request()
    with pytest.raises(errors.BadRequest):
        c.next_body_event()


def test_expect_continue_is_seen(_client):
    c = _client()
    c.receive_data(b"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    c.next_request()
    assert c.waiting_for_continue
    assert c.send_informational(100, []).startswith(b"HTTP/1.1 100 ")


# --- BackendExchange: normalised framing towards instances ---------------------

def test_forwarded_chunked_body_is_renormalised(BackendExchange):
    bx = BackendExchange(LIMITS, b"POST")
    out = bx.send_request(b"POST", b"/", [(b"Host", b"a"), (b"Transfer-Encoding", b"chunked")])
    out += bx.send_data(b"hello") + bx.send_end()
    assert out == (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n")


def test_response_head_then_body_then_reusable(BackendExchange):
    bx = BackendExchange(LIMITS, b"GET")
    bx.send_request(b"GET", b"/", [(b"Host", b"a")])
    bx.send_end()
    bx.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    head = bx.next_head()
    assert head.status_code == 200
    assert bx.next_body_event().data == b"hi"
    assert bx.next_body_event() is END
    assert bx.reusable()


def test_extra_bytes_after_response_make_connection_unreusable(BackendExchange):
    bx = BackendExchange(LIMITS, b"GET")
    bx.send_request(b"GET", b"/", [(b"Host", b"a")])
    bx.send_end()
    bx.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 200 OK\r\n")
    bx.next_head()
    bx.next_body_event()
    bx.next_body_event()
    assert not bx.reusable()


def test_oversized_response_head_is_502(BackendExchange):
    bx = BackendExchange(Limits(response_head=100), b"GET")
    bx.receive_data(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 200)
    with pytest.raises(errors.BadResponse):
        bx.next_head()


def test_response_cut_mid_body_is_interrupted(BackendExchange):
    bx = BackendExchange(LIMITS, b"GET")
    bx.send_request(b"GET", b"/", [(b"Host", b"a")])
    bx.send_end()
    bx.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi")
    bx.next_head()
    bx.next_body_event()
    bx.receive_data(b"")
    with pytest.raises(errors.BackendInterrupted):
        bx.next_body_event()


# --- fastproto specifics: body framing and what goes on the wire --------------

def _chunked(data: bytes):
    c = fastproto.ClientConnection(LIMITS)
    c.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + data)
    c.next_request()
    out = []
    while True:
        event = c.next_body_event()
        if event is END or event is NEED_DATA:
            return b"".join(out), event
        out.append(bytes(event.data))


def test_chunked_with_extensions_and_trailers():
    assert _chunked(b"3;a=b;c=\"d\"\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n") == (b"abcde", END)
    assert _chunked(b"3\r\nab") == (b"ab", NEED_DATA)


@pytest.mark.parametrize("data", [
    b"3\r\nabcX\r\n0\r\n\r\n",        # no CRLF after chunk data
    b"+3\r\nabc\r\n0\r\n\r\n",        # sign in size
    b"3 \r\nabc\r\n0\r\n\r\n",        # whitespace after size
    b"1" * 17 + b"\r\n",              # size overflow
    b"3;\x00\r\nabc\r\n0\r\n\r\n",    # NUL in extension
    b"3\nabc\r\n0\r\n\r\n",           # bare LF
    b"0\r\nbad trailer\r\n\r\n",      # trailer without colon
])
def test_malformed_chunked_framing_is_400(data):
    with pytest.raises(errors.BadRequest):
        _chunked(data)


def test_response_framing_written_to_client():
    c = fastproto.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [(b"X", b"y")], b"OK") + c.send_data(b"hi") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nX: y\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    assert c.keep_alive()
    c = fastproto.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [], b"OK") + c.send_data(b"hi") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhi"
    assert not c.keep_alive()
    c = fastproto.ClientConnection(LIMITS)
    c.receive_data(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [(b"Content-Length", b"5")], b"OK") + c.send_data(b"hello") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


def test_close_delimited_response_is_read_to_eof_and_not_reused():
    bx = fastproto.BackendExchange(LIMITS, b"GET")
    bx.send_request(b"GET", b"/", [(b"Host", b"a")])
    bx.send_end()
    bx.receive_data(b"HTTP/1.0 200 OK\r\n\r\nabc")
    assert bx.next_head().status_code == 200
    assert bytes(bx.next_body_event().data) == b"abc"
    assert bx.next_body_event() is NEED_DATA
    bx.receive_data(b"")
    assert bx.next_body_event() is END
    assert not bx.reusable()


def test_pathological_whitespace_is_rejected_in_linear_time():
    # A header of 30,000 spaces and a control byte took seconds with a naive
    # OWS regex; the possessive one answers at once.
    big = Limits(header_block=1 << 20, request_line=1 << 20)
    with pytest.raises(errors.BadRequest):
        check_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b" " * 30000 + b"\x01", big)
    f = check_request(b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b" \t" * 15000, big)
    assert f.headers[-1] == (b"X", b"")


def test_connection_header_is_read_as_tokens():
    f = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-close-me, Keep-Alive")
    assert not f.wants_close and f.connection == {b"x-close-me", b"keep-alive"}
    assert parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,  Close").wants_close
    assert parse(b"GET / HTTP/1.0\r\nHost: a").wants_close
    assert not parse(b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive").wants_close


def _verdict(check, head):
    try:
        f = check(head)
    except errors.RouterError as exc:
        return type(exc), exc.status
    return (f.method, f.target, f.version, f.status, f.reason, f.host, f.content_length, f.chunked,
            f.header_count, list(map(tuple, f.headers)), f.connection, f.expect_continue)


@pytest.mark.parametrize("side", ["request", "response"])
def test_one_regex_fast_check_agrees_with_the_line_by_line_check(side, monkeypatch):
    """framing's whole-head fast check accepts exactly what the per-line check accepts."""
    import random

    from paas.router.protocol import framing
    rng = random.Random(1234)
    starts = {"request": [b"GET / HTTP/1.1", b"POST /x HTTP/1.0", b"GET  / HTTP/1.1", b"GET /\x00 HTTP/1.1"],
              "response": [b"HTTP/1.1 200 OK", b"HTTP/1.0 204 ", b"HTTP/1.1 200", b"HTTP/1.1 2000 X"]}[side]
    pieces = [b"Host", b"host", b"HOST", b"Content-Length", b"content-length", b"Transfer-Encoding",
              b"Connection", b"Expect", b"X-A", b": ", b":", b" ", b"\t", b"a", b"3", b"4", b"chunked",
              b"close", b"keep-alive, Upgrade", b"100-continue", b"\r\n", b"\r", b"\n", b"\x00", b"\x01",
              b"\x7f", b"\xff", b",", b"=", b"(", b"\r\n ", b"\r\nHost: a", b"\r\nContent-Length: 2"]
    check = ((lambda h: framing.check_request(h, LIMITS)) if side == "request" else framing.check_response)
    lines = [b"Host: a", b"host:a ", b"X-A: b c", b"Content-Length: 3", b"content-length:3",
             b"Transfer-Encoding: chunked", b"Connection: keep-alive, Upgrade", b"Connection: close",
             b"Expect: 100-continue", b"X-B:", b"X-C: \t v \t", b"Via: 1.1 x"]
    heads = []
    for _ in range(3000):
        head = rng.choice(starts)
        for _ in range(rng.randrange(0, 6)):
            line = rng.choice(lines)
            if rng.random() < 0.15:   # a mutation somewhere in the line
                at = rng.randrange(len(line) + 1)
                line = line[:at] + rng.choice(pieces) + line[at:]
            head += b"\r\n" + line
        heads.append(head)
    fast = [_verdict(check, h) for h in heads]
    monkeypatch.setattr(framing, "_fast_head", lambda pattern, head: None)
    slow = [_verdict(check, h) for h in heads]
    assert fast == slow
    accepted = sum(1 for v in fast if not isinstance(v[0], type))
    assert accepted > 100   # the sample exercises the accepting path too
