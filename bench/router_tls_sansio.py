"""The router's TLS handshake without sockets: server CPU per handshake in Python's ssl.

The router's own listening context (``paas.router.serving.tls.Certificates``, its SNI
callback included) and a client talk through memory BIOs; only the server side's calls
are timed (CPU time, best of 5 runs). ``resumed`` is what ``bench/router.py --tls``'s
handshake-per-request load does: wrk offers the TLS 1.3 ticket it got on its previous
connection, so each "handshake" there is a resumption (with a fresh X25519 exchange).
This is OpenSSL's share of a new connection, the same library nginx uses: what the
router spends per connection above it is Python and uvloop.

    .venv/bin/python bench/router_tls_sansio.py [-n 300]
"""

import argparse
import os
import ssl
import tempfile
import time
from pathlib import Path

SNI = "127.0.0.1"   # what wrk sends: an address, taken as no name


def _server_context(d: str) -> ssl.SSLContext:
    os.environ["PAAS_DATA_DIR"] = os.path.join(d, "data")
    from paas.pki import authority
    from paas.router.serving.tls import Certificates
    cert, key = authority.ensure_server_files(Path(d) / "tls", "bench.localhost", [])
    return Certificates("localhost", str(cert), str(key)).context


def _client_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE   # the bench measures the server; the client trusts anything
    return ctx


def _timed(call) -> float:
    start = time.process_time()
    try:
        call()
    except ssl.SSLWantReadError:
        pass
    return time.process_time() - start


def handshake(server_ctx, client_ctx, session):
    """One handshake and one application record each way; (client session, server CPU seconds)."""
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(c_in, c_out, server_hostname=SNI, session=session)
    start = time.process_time()
    server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
    spent = time.process_time() - start
    client_done = server_done = False
    while not (client_done and server_done):
        if not client_done:
            client_done = _step(client.do_handshake)
        s_in.write(c_out.read())
        if not server_done:
            start = time.process_time()
            server_done = _step(server.do_handshake)
            spent += time.process_time() - start
        c_in.write(s_out.read())
    client.write(b"GET / HTTP/1.1\r\n\r\n")
    s_in.write(c_out.read())
    spent += _timed(lambda: server.read(65536))
    spent += _timed(lambda: server.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"))
    c_in.write(s_out.read())
    try:
        client.read(65536)   # takes the session tickets too
    except ssl.SSLWantReadError:
        pass
    return client.session, spent


def _step(do_handshake) -> bool:
    """One handshake step; True once it is complete."""
    try:
        do_handshake()
    except ssl.SSLWantReadError:
        return False
    return True


def run(server_ctx, client_ctx, n: int, resume: bool) -> float:
    session, total = None, 0.0
    for _ in range(n):
        got, spent = handshake(server_ctx, client_ctx, session if resume else None)
        session = got
        total += spent
    return total / n * 1e6


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=300)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="paas-bench-tls-") as d:
        server_ctx, client_ctx = _server_context(d), _client_context()
        run(server_ctx, client_ctx, 50, True)   # warm up
        full = min(run(server_ctx, client_ctx, args.n, False) for _ in range(5))
        resumed = min(run(server_ctx, client_ctx, args.n, True) for _ in range(5))
    print(f"RESULT tls_full_handshake_server_us {full:.1f}")
    print(f"RESULT tls_resumed_handshake_server_us {resumed:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
