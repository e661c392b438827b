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
  deadline) over the baseline run.
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOST = "bench.localhost"


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


def nginx_backend_conf(d: str, port: int) -> str:
    name = "backend"
    return (_NGINX_COMMON.format(dir=d, name=name) + "worker_processes 1;\n"
            "http {\n    access_log off;\n    " + _TEMP_PATHS.format(dir=d, name=name) + "\n"
            "    keepalive_requests 1000000;\n"
            f"    server {{ listen 127.0.0.1:{port} reuseport backlog=4096;\n"
            '        location / { default_type text/plain; return 200 "hello from the backend\\n"; } }\n}\n')


def nginx_proxy_conf(d: str, port: int, backend: int, workers: int) -> str:
    name = "proxy"
    return (_NGINX_COMMON.format(dir=d, name=name) + f"worker_processes {workers};\n"
            "http {\n    access_log off;\n    " + _TEMP_PATHS.format(dir=d, name=name) + "\n"
            "    keepalive_requests 1000000;\n"
            f"    upstream app {{ server 127.0.0.1:{backend}; keepalive 64; }}\n"
            f"    server {{ listen 127.0.0.1:{port} reuseport backlog=4096;\n"
            "        location / { proxy_pass http://app; proxy_http_version 1.1;\n"
            '            proxy_set_header Connection ""; proxy_set_header Host $host;\n'
            "            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "            proxy_set_header X-Request-Id $request_id; } }\n}\n")


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


def publish_route(url: str, prefix: str, backend: int) -> None:
    import redis
    r = redis.Redis.from_url(url)
    entry = {"app": "bench", "maintenance": False, "scaled_to_zero": False,
             "backends": [{"id": "bench-web-1", "address": "127.0.0.1", "port": backend,
                           "release": 1, "weight": 100}]}
    r.set(f"{prefix}router:app:bench", json.dumps(entry))
    r.hset(f"{prefix}router:hosts", HOST, "bench")
    r.set(f"{prefix}router:published", "1")
    r.publish(f"{prefix}router:changes", "bench")
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


def wrk(port: int, seconds: int, connections: int, threads: int = 2, script: str | None = None) -> dict:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
           "-H", f"Host: {HOST}", f"http://127.0.0.1:{port}/"]
    if script:
        cmd[1:1] = ["-s", script]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {"rps": rps, "p50": _ms(out, "50%"), "p99": _ms(out, "99%"),
            "non2xx": int(errors.group(1)) if errors else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else ""}


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--slow-clients", type=int, default=1000)
    ap.add_argument("--trickle", type=float, default=5.0)
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
        backend, nginx_port, router_port, admin = free_port(), free_port(), free_port(), free_port()
        procs.append(start_nginx(d, "backend", nginx_backend_conf(d, backend)))
        procs.append(start_nginx(d, "proxy", nginx_proxy_conf(d, nginx_port, backend, args.workers)))
        publish_route(redis_url, prefix, backend)
        env = {**os.environ, "REDIS_URL": redis_url, "PAAS_REDIS_PREFIX": prefix,
               "PAAS_ROUTER_HOST": "127.0.0.1", "PAAS_ROUTER_LOG_LEVEL": "WARNING",
               "PAAS_ROUTER_DRAIN_TIMEOUT": "2"}
        procs.append(subprocess.Popen([sys.executable, "-m", "paas.router.main", "--port", str(router_port),
                                       "--workers", str(args.workers), "--admin-port", str(admin)],
                                      env=env, cwd=ROOT))
        for port in (backend, nginx_port, router_port):
            wait_port(port)
        paced = os.path.join(d, "paced.lua")
        with open(paced, "w") as f:
            f.write(_PACED)
        wrk(router_port, 2, args.connections)   # warm up pools and caches
        wrk(nginx_port, 2, args.connections)
        print(f"workers: {args.workers} each; wrk -t2 -c{args.connections} -d{args.seconds}s; "
              f"backend: nginx static, 1 worker; median of {args.rounds} alternating rounds")
        runs = {name: [] for name in ("nginx", "router", "nginx_paced", "router_paced", "base", "slow")}
        reconnects = 0
        for _ in range(args.rounds):
            # Alternating the contenders spreads the noise of a shared machine
            # over both instead of over whichever ran during a spike.
            runs["nginx"].append(wrk(nginx_port, args.seconds, args.connections))
            runs["router"].append(wrk(router_port, args.seconds, args.connections))
            runs["nginx_paced"].append(wrk(nginx_port, args.seconds, 16, script=paced))
            runs["router_paced"].append(wrk(router_port, args.seconds, 16, script=paced))
            runs["base"].append(wrk(router_port, args.seconds, args.connections))
            with Slowloris(router_port, args.slow_clients, args.trickle) as slow:
                time.sleep(2.0)   # let the slow clients connect and send their first line
                runs["slow"].append(wrk(router_port, args.seconds, args.connections))
            reconnects += slow.reconnects
        m = {name: median_run(r) for name, r in runs.items()}
        print(line("nginx proxy_pass", m["nginx"]))
        print(line("paas router", m["router"]))
        print(line("nginx, paced 16x(10 ms)", m["nginx_paced"]))
        print(line("router, paced 16x(10 ms)", m["router_paced"]))
        print(line("router, baseline", m["base"]))
        print(line(f"router + {args.slow_clients} slowloris", m["slow"]) + f" (reconnects {reconnects})")
        print(f"RESULT rps_vs_nginx {m['router']['rps'] / m['nginx']['rps']:.3f} >= 0.5")
        print(f"RESULT added_p50_ms {m['router_paced']['p50'] - m['nginx_paced']['p50']:.3f} <= 1.0")
        print(f"RESULT slowloris_rps_ratio {m['slow']['rps'] / m['base']['rps']:.3f} >= 0.9")
        return 0
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM if p.args[0] != nginx_bin() else signal.SIGQUIT)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        try:
            cleanup_redis(redis_url, prefix)
        except Exception as exc:   # the bench result stands without the clean-up
            print(f"(could not clean Redis keys: {exc})", file=sys.stderr)
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
