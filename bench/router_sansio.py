"""The router's HTTP exchange without sockets: CPU per proxied request in http1.py.

One cycle is what the fast path does per request: a wrk request in, the forwarded
head out, nginx's response in, the client's bytes out. ``--profile`` prints cProfile's
top entries instead. Ends with ``RESULT sansio_us_per_request <µs> <= 20``.
"""

import argparse
import cProfile
import pstats
import time

from paas.router.config import Limits
from paas.router.protocol import forwarding, http1

REQUEST = b"GET / HTTP/1.1\r\nHost: app.localhost:8080\r\n\r\n"
RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 06 Dec 2026 20:00:00 GMT\r\n"
            b"Content-Type: text/plain\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")


class _Pooled:
    """Stands for pool.Upstream: the last exchange on one kept connection."""

    exchange = None


def cycle(conn, limits, up) -> bytes:
    conn.receive_data(REQUEST)
    req = conn.next_request()
    conn.next_body_event()
    bx = up.exchange = http1.BackendExchange(limits, req.method, up.exchange)
    bx.send_bodyless(req, client_ip="127.0.0.1", port=8080, rid=forwarding.request_id_for(req.framing))
    bx.receive_data(RESPONSE)
    event = bx.next_head()
    head = conn.send_proxied(event)
    body = bx.whole_body()
    out = head + conn.send_data(body) + conn.send_end()
    if not (conn.keep_alive() and bx.reusable()):
        raise SystemExit("the exchange did not end reusable")
    conn.start_next_cycle()
    return out


def run(n: int) -> float:
    limits = Limits()
    conn = http1.ClientConnection(limits, "127.0.0.1", 8080)
    up = _Pooled()
    for _ in range(1000):
        cycle(conn, limits, up)
    start = time.process_time()
    for _ in range(n):
        cycle(conn, limits, up)
    return (time.process_time() - start) / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    if args.profile:
        cProfile.runctx("run(args.n)", globals(), {"args": args}, "/tmp/sansio.prof")
        pstats.Stats("/tmp/sansio.prof").sort_stats("tottime").print_stats(20)
        return 0
    best = min(run(args.n) for _ in range(7))
    print(f"RESULT sansio_us_per_request {best:.2f} <= 20")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
