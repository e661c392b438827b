"""Benchmark: the paas router against nginx proxy_pass, same backend, same run.

    .venv/bin/python bench/router.py [--workers 2] [--seconds 6] [--rounds 3]

Installs nginx and wrk with apt-get when missing. The backend is an nginx worker
returning a small static body (fast enough that neither proxy waits on it). Both
proxies get the same number of worker processes and keep-alive connections to the
backend. Each measurement is the median of alternating rounds (the machine is
shared). Prints req/s and p50/p99 for each, then RESULT lines:

- rps_vs_nginx: router req/s over nginx req/s at saturation (wrk, 64 connections);
- added_p50_ms: router p50 minus nginx p50 at the same paced load (each of 16
  connections waits 10 ms between requests, so neither proxy is saturated);
- slowloris_rps_ratio: router req/s with 1,000 slow clients holding connections open
  (each trickles one header line every --trickle seconds, 5 by default, like the
  classic slowloris tool, and reconnects when the router closes it at the head
  deadline) over the baseline run;
- stream_rps_vs_nginx: the same for a streamed response (1 MB, chunked: the backend
  nginx sends a file through its SSI filter, which drops the length);
- three_instances_rps_vs_nginx: the tiny response from a route of three instances
  (three backend ports; nginx gets an upstream of the same three).

With ``--tls`` it measures HTTPS instead (both proxies serve the same certificate, from a
platform CA made for the run): ``tls_rps_vs_nginx`` (keep-alive requests over TLS, 64
connections), ``tls_handshakes_vs_nginx`` (a new connection and full handshake per request,
16 connections), ``tls_added_p50_ms`` (paced, as added_p50_ms).

A round in which either side of a comparison got a non-2xx answer or a socket error
is invalid: it is reported and left out of that comparison's median; a comparison
with no valid round prints ``invalid`` as its value.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from paas.contracts import redis_keys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench.localhost"
THREE_HOST = "three.localhost"
STREAM_PATH = "/stream"
STREAM_BYTES = 1 << 20


def ensure_tools() -> None:
    missing = [pkg for cmd, pkg in (("nginx", "nginx"), ("wrk", "wrk")) if not shutil.which(cmd)
               and not os.path.exists(f"/usr/sbin/{cmd}")]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, env=env)


def nginx_bin() -> str:
    return shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


_NGINX_COMMON = """daemon off;
master_process on;
pid {dir}/{name}.pid;
error_log {dir}/{name}-error.log warn;
worker_rlimit_nofile 20000;
events {{ worker_connections 8192; }}
"""
_TEMP_PATHS = """client_body_temp_path {dir}/{name}-body; proxy_temp_path {dir}/{name}-proxy;
    fastcgi_temp_path {dir}/{name}-fcgi; uwsgi_temp_path {dir}/{name}-uwsgi; scgi_temp_path {dir}/{name}-scgi;"""


def nginx_backend_conf(d: str, ports: list[int]) -> str:
    """One nginx worker serving the tiny body and the streamed 1 MB on each of ``ports``."""
    name = "backend"
    big = os.path.join(d, "stream.txt")
    with open(big, "w") as f:
        f.write(("x" * 99 + "\n") * (STREAM_BYTES // 100) + "y" * (STREAM_BYTES % 100))
    # nginx's workers run as nobody when started by root: they must reach the file.
    os.chmod(d, 0o755)
    os.chmod(big, 0o644)
    listens = "".join(f"        listen 127.0.0.1:{port} reuseport backlog=4096;\n" for port in ports)
    return (_NGINX_COMMON.format(dir=d, name=name) + "worker_processes 1;\n"
            "http {\n    access_log off;\n    " + _TEMP_PATHS.format(dir=d, name=name) + "\n"
            "    keepalive_requests 1000000;\n"
            "    server {\n" + listens +
            '        location / { default_type text/plain; return 200 "hello from the backend\\n"; }\n'
            # SSI drops the file's length: the body goes out chunked.
            f"        location = {STREAM_PATH} {{ default_type text/plain; ssi on; ssi_types text/plain;\n"
            f"            alias {big}; }} }}\n}}\n")


def nginx_proxy_conf(d: str, port: int, backends: list[int], workers: int, tls: tuple | None = None) -> str:
    """nginx proxy_pass: HOST to the first backend, THREE_HOST to all three; with ``tls``
    (port, certificate file, key file) HOST over TLS too, with the router's settings."""
    name = "proxy"
    location = ("        location / {{ proxy_pass http://{up}; proxy_http_version 1.1;\n"
                '            proxy_set_header Connection ""; proxy_set_header Host $host;\n'
                "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                "            proxy_set_header X-Request-Id $request_id; }}\n")
    three = " ".join(f"server 127.0.0.1:{b};" for b in backends)
    # An access line per request, as the router writes one to the Log Center (nginx's default
    # combined format, to a file): the same work on both sides.
    return (_NGINX_COMMON.format(dir=d, name=name) + f"worker_processes {workers};\n"
            f"http {{\n    access_log {d}/{name}-access.log;\n    " + _TEMP_PATHS.format(dir=d, name=name) + "\n"
            "    keepalive_requests 1000000;\n"
            f"    upstream app {{ server 127.0.0.1:{backends[0]}; keepalive 64; }}\n"
            f"    upstream three {{ {three} keepalive 64; }}\n"
            f"    server {{ listen 127.0.0.1:{port} reuseport backlog=4096 default_server;\n"
            + location.format(up="app") + "    }\n"
            f"    server {{ listen 127.0.0.1:{port}; server_name {THREE_HOST};\n"
            + location.format(up="three") + "    }\n" + (_tls_server(tls) + location.format(up="app") + "    }\n"
                                                      if tls else "") + "}\n")


def _tls_server(tls: tuple) -> str:
    port, cert, key = tls
    return (f"    server {{ listen 127.0.0.1:{port} ssl reuseport backlog=4096;\n"
            f"        ssl_certificate {cert}; ssl_certificate_key {key};\n"
            "        ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers ECDHE+AESGCM:ECDHE+CHACHA20;\n"
            "        ssl_session_tickets on; ssl_session_cache shared:bench:10m;\n")


def start_nginx(d: str, name: str, conf: str) -> subprocess.Popen:
    path = os.path.join(d, f"{name}.conf")
    with open(path, "w") as f:
        f.write(conf)
    return subprocess.Popen([nginx_bin(), "-p", d, "-c", path], stderr=subprocess.DEVNULL)


def ensure_redis(d: str):
    """REDIS_URL if it answers, else a throwaway redis-server; (url, process or None)."""
    import redis
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
        return url, None
    except redis.RedisError:
        port = free_port()
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                 "--dir", d], stdout=subprocess.DEVNULL)
        wait_port(port)
        return f"redis://127.0.0.1:{port}/0", proc


def publish_routes(url: str, prefix: str, backends: list[int]) -> None:
    """App ``bench`` on the first backend (HOST), app ``three`` on all three (THREE_HOST)."""
    import redis
    r = redis.Redis.from_url(url)
    for app, host, ports in (("bench", HOST, backends[:1]), ("three", THREE_HOST, backends)):
        entry = {"app": app, "maintenance": False, "scaled_to_zero": False,
                 "backends": [{"id": f"{app}-web-{i + 1}", "address": "127.0.0.1", "port": port,
                               "release": 1, "weight": 100} for i, port in enumerate(ports)]}
        r.set(redis_keys.route_app(prefix, app), json.dumps(entry))
        r.hset(redis_keys.route_hosts(prefix), host, app)
    r.set(redis_keys.route_published(prefix), "1")
    r.publish(redis_keys.route_changes(prefix), "*")
    r.close()


def cleanup_redis(url: str, prefix: str) -> None:
    import redis
    r = redis.Redis.from_url(url)
    keys = list(r.scan_iter(match=prefix + "*", count=1000))
    if keys:
        r.delete(*keys)
    r.close()


_PACED = """function delay() return 10 end
"""


def wrk(port: int, seconds: int, connections: int, threads: int = 2, script: str | None = None,
        host: str = HOST, path: str = "/", scheme: str = "http", close: bool = False) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-H", f"Host: {host}", f"{scheme}://127.0.0.1:{port}{path}"]
    if close:   # a new connection (a full TLS handshake) per request
        cmd[1:1] = ["-H", "Connection: close"]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    # wrk counts 3xx with 2xx; nothing here answers 3xx, so any is an error too.
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


def valid(r: dict) -> bool:
    """A run without a non-2xx answer or a socket error."""
    return r["non2xx"] == 0 and not r["socket_errors"]


def _ms(out: str, pct: str) -> float:
    value, unit = re.search(rf"^\s+{re.escape(pct)}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


class Slowloris:
    """N clients that hold connections open with a never-finished request head."""

    def __init__(self, port: int, n: int, trickle: float):
        self.port, self.n, self.trickle = port, n, trickle
        self.stop = threading.Event()
        self.reconnects = 0
        self.started = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _open(self):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", self.port))
        except BlockingIOError:
            pass
        return [s, False]

    def _run(self):
        conns = [self._open() for _ in range(self.n)]
        # The first request line goes out once the connects complete, so the
        # router's head deadline runs (and closes them) during the measurement.
        while not self.stop.wait(self.trickle if self.started else 0.5):
            self.started = True
            for i, entry in enumerate(conns):
                s, started = entry
                try:
                    s.send(b"X-Slow: 1\r\n" if started else f"GET / HTTP/1.1\r\nHost: {HOST}\r\n".encode())
                    entry[1] = True
                    try:
                        if s.recv(65536) == b"":
                            raise ConnectionError
                    except BlockingIOError:
                        pass
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    s.close()
                    conns[i] = self._open()
                    self.reconnects += 1
        for s, _ in conns:
            s.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(10)


def median_run(results: list[dict]) -> dict:
    """Per figure, the median over rounds."""
    return {key: statistics.median(r[key] for r in results) if key in ("rps", "p50", "p99")
            else results[-1][key] for key in results[0]}


def line(name: str, r: dict) -> str:
    extra = f" non2xx={r['non2xx']}" if r["non2xx"] else ""
    extra += f" socket_errors=({r['socket_errors']})" if r["socket_errors"] else ""
    return f"{name:<28} {r['rps']:>10.0f} req/s   p50 {r['p50']:.3f} ms   p99 {r['p99']:.3f} ms{extra}"


# Comparisons: (name, the two runs compared, figure, how the RESULT is made, goal).
COMPARISONS = [
    ("rps_vs_nginx", ("nginx", "router"), "rps", "ratio", ">= 0.5"),
    ("added_p50_ms", ("nginx_paced", "router_paced"), "p50", "difference", "<= 1.0"),
    ("slowloris_rps_ratio", ("base", "slow"), "rps", "ratio", ">= 0.9"),
    ("stream_rps_vs_nginx", ("nginx_stream", "router_stream"), "rps", "ratio", ">= 0.5"),
    ("three_instances_rps_vs_nginx", ("nginx_three", "router_three"), "rps", "ratio", ">= 0.5"),
]
LABELS = {"nginx": "nginx proxy_pass", "router": "paas router", "nginx_paced": "nginx, paced 16x(10 ms)",
          "router_paced": "router, paced 16x(10 ms)", "base": "router, baseline", "slow": "router + slowloris",
          "nginx_stream": "nginx, 1 MB chunked", "router_stream": "router, 1 MB chunked",
          "nginx_three": "nginx, 3 instances", "router_three": "router, 3 instances"}


# With --tls: the same certificate (the platform CA's, for HOST) in both, over TLS 1.3.
TLS_COMPARISONS = [
    ("tls_rps_vs_nginx", ("nginx_tls", "router_tls"), "rps", "ratio", ">= 0.5"),
    ("tls_handshakes_vs_nginx", ("nginx_handshakes", "router_handshakes"), "rps", "ratio", ">= 0.5"),
    ("tls_added_p50_ms", ("nginx_tls_paced", "router_tls_paced"), "p50", "difference", "<= 1.0"),
]
TLS_LABELS = {"nginx_tls": "nginx, TLS keep-alive", "router_tls": "router, TLS keep-alive",
              "nginx_handshakes": "nginx, TLS handshake/req", "router_handshakes": "router, TLS handshake/req",
              "nginx_tls_paced": "nginx, TLS paced 16x(10 ms)", "router_tls_paced": "router, TLS paced 16x(10 ms)"}


def score(runs: dict, comparisons=COMPARISONS, labels=LABELS) -> list[str]:
    """The RESULT lines, each from the rounds where both of its runs were clean."""
    out = []
    for name, (a, b), figure, how, goal in comparisons:
        rounds = [(ra, rb) for ra, rb in zip(runs[a], runs[b]) if valid(ra) and valid(rb)]
        for i, (ra, rb) in enumerate(zip(runs[a], runs[b])):
            if not (valid(ra) and valid(rb)):
                print(f"INVALID round {i + 1} of {name}: " + "; ".join(line(labels[k], r) for k, r in ((a, ra), (b, rb))))
        if not rounds:
            out.append(f"RESULT {name} invalid {goal}")
            continue
        ma = statistics.median(r[figure] for r, _ in rounds)
        mb = statistics.median(r[figure] for _, r in rounds)
        value = mb / ma if how == "ratio" else mb - ma
        out.append(f"RESULT {name} {value:.3f} {goal}")
    return out


def one_round(runs: dict, ports: dict, args, paced: str, index: int) -> int:
    """Every run once; the slow clients' reconnects.

    Within each pair the contender that goes first changes every round, so neither side
    always runs right after the heavy runs (1 MB bodies, 1,000 slow clients) of the other.
    """
    n, r = ports["nginx"], ports["router"]
    s, c = args.seconds, args.connections
    pairs = [(("nginx", n), ("router", r), dict(connections=c)),
             (("nginx_paced", n), ("router_paced", r), dict(connections=16, script=paced)),
             (("nginx_stream", n), ("router_stream", r), dict(connections=args.stream_connections,
                                                               path=STREAM_PATH)),
             (("nginx_three", n), ("router_three", r), dict(connections=c, host=THREE_HOST))]
    for first, second, how in pairs:
        for name, port in ((first, second) if index % 2 == 0 else (second, first)):
            runs[name].append(wrk(port, s, **how))
    runs["base"].append(wrk(r, s, c))
    with Slowloris(r, args.slow_clients, args.trickle) as slow:
        time.sleep(2.0)   # let the slow clients connect and send their first line
        runs["slow"].append(wrk(r, s, c))
    return slow.reconnects


def tls_round(runs: dict, ports: dict, args, paced: str, index: int) -> None:
    """Every TLS run once, the contender going first alternating by round."""
    n, r = ports["nginx_tls"], ports["router_tls"]
    pairs = [(("nginx_tls", n), ("router_tls", r), dict(connections=args.connections)),
             (("nginx_handshakes", n), ("router_handshakes", r), dict(connections=16, close=True)),
             (("nginx_tls_paced", n), ("router_tls_paced", r), dict(connections=16, script=paced))]
    for first, second, how in pairs:
        for name, port in ((first, second) if index % 2 == 0 else (second, first)):
            runs[name].append(wrk(port, args.seconds, scheme="https", **how))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--stream-connections", type=int, default=16)
    ap.add_argument("--slow-clients", type=int, default=1000)
    ap.add_argument("--trickle", type=float, default=5.0)
    ap.add_argument("--tls", action="store_true", help="measure HTTPS instead: the router's TLS port against nginx's")
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    ensure_tools()
    d = tempfile.mkdtemp(prefix="paas-bench-router-")
    procs = []
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    redis_url, redis_proc = ensure_redis(d)
    if redis_proc:
        procs.append(redis_proc)
    try:
        ports = start_contenders(d, procs, args, redis_url, prefix)
        paced = os.path.join(d, "paced.lua")
        with open(paced, "w") as f:
            f.write(_PACED)
        print(f"workers: {args.workers} each; wrk -t2 -c{args.connections} -d{args.seconds}s "
              f"(1 MB chunked: -c{args.stream_connections}); backend: nginx, 1 worker, 3 ports; "
              f"median of {args.rounds} alternating rounds")
        if args.tls:
            return report_tls(ports, args, paced)
        runs = {name: [] for name in LABELS}
        reconnects = sum(one_round(runs, ports, args, paced, i) for i in range(args.rounds))
        for name, label in LABELS.items():
            label = f"router + {args.slow_clients} slowloris" if name == "slow" else label
            print(line(label, median_run(runs[name])) + (f" (reconnects {reconnects})" if name == "slow" else ""))
        for result in score(runs):
            print(result)
        return 0
    finally:
        stop_all(procs)
        try:
            cleanup_redis(redis_url, prefix)
        except Exception as exc:   # the bench result stands without the clean-up
            print(f"(could not clean Redis keys: {exc})", file=sys.stderr)
        shutil.rmtree(d, ignore_errors=True)


def report_tls(ports: dict, args, paced: str) -> int:
    runs = {name: [] for name in TLS_LABELS}
    for i in range(args.rounds):
        tls_round(runs, ports, args, paced, i)
    for name, label in TLS_LABELS.items():
        print(line(label, median_run(runs[name])))
    for result in score(runs, TLS_COMPARISONS, TLS_LABELS):
        print(result)
    return 0


def bench_certificate(d: str) -> tuple[str, str]:
    """A certificate for HOST from a platform CA of this run's own (in ``d``), for both proxies."""
    os.environ["PAAS_DATA_DIR"] = os.path.join(d, "data")
    from paas.pki import authority
    cert, key = authority.ensure_server_files(Path(d) / "tls", HOST, [THREE_HOST])
    return str(cert), str(key)


def start_contenders(d: str, procs: list, args, redis_url: str, prefix: str) -> dict:
    """The backend (three ports), the nginx proxy and the router, warmed up; their ports."""
    backends = [free_port() for _ in range(3)]
    nginx_port, router_port, admin = free_port(), free_port(), free_port()
    nginx_tls, router_tls = free_port(), free_port()
    cert, key = bench_certificate(d) if args.tls else ("", "")
    procs.append(start_nginx(d, "backend", nginx_backend_conf(d, backends)))
    procs.append(start_nginx(d, "proxy", nginx_proxy_conf(d, nginx_port, backends, args.workers,
                                                          (nginx_tls, cert, key) if args.tls else None)))
    publish_routes(redis_url, prefix, backends)
    env = {**os.environ, "REDIS_URL": redis_url, "PAAS_REDIS_PREFIX": prefix,
           "PAAS_ROUTER_HOST": "127.0.0.1", "PAAS_ROUTER_LOG_LEVEL": "WARNING",
           "PAAS_ROUTER_DRAIN_TIMEOUT": "2", "PAAS_ROUTER_TLS_PORT": str(router_tls) if args.tls else "off",
           "PAAS_ROUTER_TLS_CERT": cert, "PAAS_ROUTER_TLS_KEY": key}
    procs.append(subprocess.Popen([sys.executable, "-m", "paas.router.main", "--port", str(router_port),
                                   "--workers", str(args.workers), "--admin-port", str(admin)],
                                  env=env, cwd=ROOT))
    for port in (*backends, nginx_port, router_port) + ((nginx_tls, router_tls) if args.tls else ()):
        wait_port(port)
    for port in (router_port, nginx_port):   # warm up pools and caches
        wrk(port, 2, args.connections)
        wrk(port, 2, args.connections, host=THREE_HOST)
    for port in ((router_tls, nginx_tls) if args.tls else ()):
        wrk(port, 2, args.connections, scheme="https")
    return {"nginx": nginx_port, "router": router_port, "nginx_tls": nginx_tls, "router_tls": router_tls}


def stop_all(procs: list) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM if p.args[0] != nginx_bin() else signal.SIGQUIT)
    for p in procs:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


if __name__ == "__main__":
    sys.exit(main())
