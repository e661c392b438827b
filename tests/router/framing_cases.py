"""Head cases shared by the framing tests (sans-io) and the proxy tests (through a running router)."""

# Request heads refused with a 400-family status, and why.
BAD_REQUESTS = [
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked", "CL+TE"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3", "TE+CL"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4", "conflicting CL"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3", "CL list"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1", "negative CL"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10", "hex CL"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ", "empty CL"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip", "unknown TE"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked", "TE list"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "repeated TE"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked", "space before colon"),
    (b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked", "TE in HTTP/1.0"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c", "obs-fold"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc", "bare CR"),
    (b"GET / HTTP/1.1\r\nHost: a\nX-A: b", "bare LF"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x00c", "NUL"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c", "control byte"),
    (b"GET / HTTP/1.1\r\nX-A: b", "missing Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b", "repeated Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a", "repeated Host, same value"),
    (b"GET / HTTP/1.1\r\nHost: a b", "malformed Host"),
    (b"GET / HTTP/2.0\r\nHost: a", "version"),
    (b"GET /a b HTTP/1.1\r\nHost: a", "space in target"),
    (b"GET a HTTP/1.1\r\nHost: a", "relative target"),
    (b"CONNECT a:443 HTTP/1.1\r\nHost: a", "CONNECT"),
    (b"G\x7fET / HTTP/1.1\r\nHost: a", "bad method"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n: empty-name", "empty name"),
]

# Response heads: the first is valid (no reason phrase), the rest are 502s.
BAD_RESPONSE_HEADS = [
    b"HTTP/1.1 200",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3",
    b"HTTP/1.1 20 OK",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b",
    b"ICY 200 OK",
    b"HTTP/1.1 200 OK\r\nX: a\x00",
]

# Whole requests (head and body) that try to smuggle a second one past the router.
SMUGGLING = [
    b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nContent-Length: +4\r\n\r\nabcd",
    b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: xchunked\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: demo.localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nX: a\r\n\tfolded\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nX: a\rb\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nX: a\x00b\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: demo.localhost\r\nHost: evil.localhost\r\n\r\n",
]
