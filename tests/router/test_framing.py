"""Sans-io tests: exact bytes in, parsing and framing decisions out."""

import pytest

from paas.router import errors
from paas.router.config import Limits
from paas.router.protocol import http1
from paas.router.protocol.events import END, NEED_DATA

from framing_cases import BAD_RESPONSE_HEADS, BAD_REQUESTS

LIMITS = Limits(request_line=64, header_block=256, header_count=5, body=100)


def parse(head: bytes, limits=LIMITS):
    """The framing of a request head (without its blank line) as the router's HTTP/1.1 reads it."""
    c = http1.ClientConnection(limits)
    c.receive_data(head + b"\r\n\r\n")
    req = c.next_request()
    assert req is not None, "head not complete"
    return req.framing


def response(head: bytes):
    bx = http1.BackendExchange(LIMITS, b"GET")
    bx.receive_data(head + b"\r\n\r\n")
    return bx.next_head()


@pytest.mark.parametrize("head, why", BAD_REQUESTS)
def test_ambiguous_or_malformed_requests_are_400(head, why):
    with pytest.raises(errors.BadRequest) as info:
        parse(head)
    assert info.value.status == 400, why
    assert info.value.close


def test_host_checks_are_remembered_within_a_bound_and_give_the_same_verdict():
    """The Host rule's verdicts are kept per value (framing._host_ok): a malformed Host is refused
    every time it comes, a good one accepted, and a client sending endless new values only
    churns the memory (it is bounded), never lets a bad value through."""
    from paas.router.protocol import framing
    for _ in range(2):
        with pytest.raises(errors.BadRequest, match="malformed Host"):
            parse(b"GET / HTTP/1.1\r\nHost: bad\"host")
        assert parse(b"GET / HTTP/1.1\r\nHost: good.example:8080").host == b"good.example:8080"
    for i in range(5000):
        assert parse(b"GET / HTTP/1.1\r\nHost: h%d.example" % i).host == b"h%d.example" % i
    assert framing._host_ok.cache_info().currsize <= 4096
    with pytest.raises(errors.BadRequest, match="malformed Host"):
        parse(b"GET / HTTP/1.1\r\nHost: bad\"host")


def test_valid_framing_is_accepted():
    f = parse(b"POST /x?y HTTP/1.1\r\nHost: Demo.localhost:8080\r\nContent-Length: 12")
    assert (f.content_length, f.chunked, f.host, f.target) == (12, False, b"Demo.localhost:8080", b"/x?y")
    f = parse(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked")
    assert f.chunked and f.content_length is None
    # A repeated Content-Length is refused even with the same value (llhttp; RFC 9110 8.6 allows either).
    with pytest.raises(errors.BadRequest):
        parse(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3")
    assert parse(b"GET / HTTP/1.0\r\nHost: a").version == b"1.0"
    # llhttp takes spaces before the target as one; the instance gets a request line the router writes.
    assert parse(b"GET  /x HTTP/1.1\r\nHost: a").target == b"/x"


def test_absolute_form_target_sets_host():
    f = parse(b"GET http://demo.localhost/p?q HTTP/1.1\r\nHost: other")
    assert (f.host, f.target) == (b"demo.localhost", b"/p?q")


def test_body_limit_by_content_length_is_413_once_routed():
    """The limit is the route's (the platform's git receiver takes more than apps): checked on routing."""
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n")
    c.next_request()
    with pytest.raises(errors.BodyTooLarge) as info:
        c.limit_body(LIMITS.body)
    assert info.value.status == 413
    c.limit_body(1000)   # a route that takes more


def test_header_count_limit_is_431():
    head = b"GET / HTTP/1.1\r\nHost: a" + b"\r\nX: 1" * 5
    with pytest.raises(errors.HeadersTooLarge) as info:
        parse(head)
    assert info.value.status == 431


def _fed(data: bytes, step: int, limits=LIMITS):
    c = http1.ClientConnection(limits)
    for i in range(0, len(data), step):
        c.receive_data(data[i:i + step])
        req = c.next_request()
        if req is not None:
            return c, req
    return c, None


def test_long_request_line_is_414_before_it_ends():
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET /" + b"a" * 40)
    assert c.next_request() is None
    c.receive_data(b"a" * 40)   # no CRLF yet: refused on length alone
    with pytest.raises(errors.URITooLong) as info:
        c.next_request()
    assert info.value.status == 414


@pytest.mark.parametrize("step", [1, 7, 10000])
def test_large_head_is_431_however_bytes_arrive(step):
    head = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X-Long: " + b"v" * 300 + b"\r\n\r\n"
    with pytest.raises(errors.HeadersTooLarge):
        _fed(head, step)
    # An unfinished head is refused once it passes the limit, before its end arrives.
    with pytest.raises(errors.HeadersTooLarge):
        _fed(b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"v" * 1000, step)


def test_head_byte_by_byte_and_leading_crlf():
    c, req = _fed(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nNEXT", 1)
    assert (req.method, req.target, req.headers) == (b"GET", b"/", [(b"Host", b"a")])
    assert c.buffered == 0


@pytest.mark.parametrize("head", BAD_RESPONSE_HEADS)
def test_bad_responses_are_502(head):
    if head == b"HTTP/1.1 200":
        assert response(head).status_code == 200   # reason phrase is optional
        return
    with pytest.raises(errors.BadResponse) as info:
        response(head)
    assert info.value.status == 502


# --- ClientConnection / BackendExchange ---------------------------------------

@pytest.fixture
def _client():
    return lambda: http1.ClientConnection(LIMITS)


@pytest.fixture
def BackendExchange():
    return http1.BackendExchange


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


# --- body framing and what goes on the wire ------------------------------------

def _chunked(data: bytes):
    c = http1.ClientConnection(LIMITS)
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
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [(b"X", b"y")], b"OK") + c.send_data(b"hi") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nX: y\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    assert c.keep_alive()
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.0\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [], b"OK") + c.send_data(b"hi") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhi"
    assert not c.keep_alive()
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    out = c.send_response(200, [(b"Content-Length", b"5")], b"OK") + c.send_data(b"hello") + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"


def test_close_delimited_response_is_read_to_eof_and_not_reused():
    bx = http1.BackendExchange(LIMITS, b"GET")
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
    # OWS regex; llhttp and the trimming of the value answer at once.
    big = Limits(header_block=1 << 20, request_line=1 << 20)
    with pytest.raises(errors.BadRequest):
        parse(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b" " * 30000 + b"\x01", big)
    f = parse(b"GET / HTTP/1.1\r\nHost: a\r\nX:" + b" \t" * 15000, big)
    assert f.headers[-1] == (b"X", b"")


def test_connection_header_is_read_as_tokens():
    f = parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: x-close-me, Keep-Alive")
    assert not f.wants_close and f.connection == {b"x-close-me", b"keep-alive"}
    assert parse(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: foo,  Close").wants_close
    assert parse(b"GET / HTTP/1.0\r\nHost: a").wants_close
    assert not parse(b"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive").wants_close


def test_relayed_response_is_framed_by_what_reaches_the_client():
    # An instance that names Content-Length in Connection has it dropped (hop-by-hop):
    # the client then gets chunked framing, never a body with no framing at all.
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    c.next_body_event()
    bx = http1.BackendExchange(LIMITS, b"GET")
    bx.receive_data(b"HTTP/1.1 200 OK\r\nConnection: content-length\r\nContent-Length: 2\r\n\r\nhi")
    out = c.send_proxied(bx.next_head()) + c.send_data(bx.whole_body()) + c.send_end()
    assert out == b"HTTP/1.1 200 OK\r\nVia: 1.1 paas-router\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"


def test_head_limit_counts_a_pipelined_head_that_follows_a_body_in_the_same_read():
    body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n" + b"b" * 50
    c = http1.ClientConnection(LIMITS)
    c.receive_data(body + b"GET /2 HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 100)   # under the limit so far
    assert c.next_request().target == b"/"
    c.receive_data(b"v" * 200)   # now past it, still without an end
    with pytest.raises(errors.HeadersTooLarge):
        while c.next_body_event() is not END:
            pass
        c.send_response(200, [(b"Content-Length", b"0")])
        c.send_end()
        c.start_next_cycle()
        c.next_request()
    c = http1.ClientConnection(LIMITS)
    c.receive_data(body + b"GET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
    c.next_request()
    while c.next_body_event() is not END:
        pass
    c.send_response(200, [(b"Content-Length", b"0")])
    c.send_end()
    c.start_next_cycle()
    assert c.next_request().target == b"/2"


def test_a_fault_in_the_routers_own_rules_is_a_500_not_a_400(monkeypatch):
    def broken(*args):
        raise ValueError("a bug")
    monkeypatch.setattr(http1, "check_request", broken)
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    with pytest.raises(errors.RouterBug) as info:
        c.next_request()
    assert info.value.status == 500


def test_interim_and_final_response_in_one_read():
    bx = http1.BackendExchange(LIMITS, b"GET")
    bx.send_request(b"GET", b"/", [(b"Host", b"a")])
    bx.send_end()
    bx.receive_data(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert bx.next_head().status_code == 103
    assert bx.next_head().status_code == 200
    assert bx.whole_body() == b"hi"
    assert bx.reusable()


def test_upgrade_request_keeps_the_bytes_after_its_head_for_the_tunnel():
    c = http1.ClientConnection(LIMITS)
    c.receive_data(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00")
    req = c.next_request()
    assert req.is_upgrade and not req.has_body
    c.receive_data(b"more")
    assert c.take_tunnel_bytes() == b"\x81\x00more"


def test_a_pooled_connections_parser_serves_its_next_exchange():
    first = http1.BackendExchange(LIMITS, b"GET")
    first.send_request(b"GET", b"/", [(b"Host", b"a")])
    first.send_end()
    first.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
    assert first.next_head().status_code == 200 and first.whole_body() == b"x"
    second = http1.BackendExchange(LIMITS, b"GET", first)
    assert second.parser is first.parser
    second.send_request(b"GET", b"/", [(b"Host", b"a")])
    second.send_end()
    second.receive_data(b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")
    head = second.next_head()
    assert (head.status_code, head.reason, second.whole_body()) == (404, b"Not Found", b"no")
    assert second.reusable()


def test_a_parser_left_inside_a_message_is_not_reused():
    # After a HEAD response llhttp still waits for the 5 bytes its Content-Length announced:
    # the next exchange must not read its response as that body.
    head_only = http1.BackendExchange(LIMITS, b"HEAD")
    head_only.send_request(b"HEAD", b"/", [(b"Host", b"a")])
    head_only.send_end()
    head_only.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
    assert head_only.next_head().status_code == 200
    assert head_only.reusable()
    nxt = http1.BackendExchange(LIMITS, b"GET", head_only)
    assert nxt.parser is not head_only.parser
    nxt.send_request(b"GET", b"/", [(b"Host", b"a")])
    nxt.send_end()
    nxt.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert nxt.next_head().status_code == 200 and nxt.whole_body() == b"hello"
    # A failed exchange leaves its parser behind too.
    bad = http1.BackendExchange(LIMITS, b"GET")
    bad.send_request(b"GET", b"/", [(b"Host", b"a")])
    bad.send_end()
    bad.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx")
    with pytest.raises(errors.BadResponse):
        bad.next_head()
    assert http1.BackendExchange(LIMITS, b"GET", bad).parser is not bad.parser
