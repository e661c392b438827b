"""CPU per proxied request: the router's worker against nginx's, and against another router's code.

    .venv/bin/python bench/router_cpu.py [--other REF] [--rounds 6] [--seconds 4] [--three] [--tls]

Throughput on this shared 2-core machine swings with whatever else runs; the CPU a proxy's
worker spends per request (utime + stime from /proc over a wrk run, divided by its requests)
is steadier. One backend nginx, one nginx proxy and one router (and, with ``--other``, a
second router running the code of that git ref) run side by side, 1 worker each; wrk
(-t2 -c64) runs against each in turn, the order reversed every round, and the medians are
reported. A round with a non-2xx answer or a socket error is invalid and left out.
``--three`` measures the route of three instances, ``--tls`` keep-alive requests over TLS.
Ends with ``RESULT cpu_per_request_vs_nginx <router µs / nginx µs> <= 2.0`` (about what
``rps_vs_nginx >= 0.5`` asks of the proxy's own share).
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import router as bench  # noqa: E402  (bench/router.py: nginx configs, wrk, Redis set-up)

TICK = os.sysconf("SC_CLK_TCK")
# The packages a router's code imports from the checkout (paas.<name>).
PACKAGES = ["router", "contracts", "logcenter", "pki"]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` so far."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(p) for p in f.read().split()]


def checkout(ref: str, d: str) -> str:
    """A directory holding ``paas/`` with the packages of ``ref``, for PYTHONPATH."""
    root = os.path.join(d, "paas")
    os.makedirs(root)
    archive = subprocess.run(["git", "-C", bench.ROOT, "archive", ref, *PACKAGES], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", root], input=archive.stdout, check=True)
    return d


def start_router(d: str, procs: list, name: str, redis_url: str, prefix: str, pythonpath: str | None,
                 tls: tuple | None) -> tuple[int, int]:
    """One router worker; (port it serves the measured traffic on, its supervisor's pid)."""
    port, tls_port, admin = bench.free_port(), bench.free_port(), bench.free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "PAAS_REDIS_PREFIX": prefix, "PAAS_ROUTER_HOST": "127.0.0.1",
           "PAAS_ROUTER_LOG_LEVEL": "WARNING", "PAAS_ROUTER_DRAIN_TIMEOUT": "2",
           "PAAS_ROUTER_TLS_PORT": str(tls_port) if tls else "off",
           "PAAS_ROUTER_TLS_CERT": tls[0] if tls else "", "PAAS_ROUTER_TLS_KEY": tls[1] if tls else ""}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.Popen([sys.executable, "-m", "paas.router.main", "--port", str(port), "--workers", "1",
                             "--admin-port", str(admin)], env=env, cwd=d)
    procs.append(proc)
    bench.wait_port(port)
    if tls:
        bench.wait_port(tls_port)
    return (tls_port if tls else port), proc.pid


def measure(port: int, pids: list[int], args) -> dict:
    before = cpu_seconds(pids)
    r = bench.wrk(port, args.seconds, args.connections, host=bench.THREE_HOST if args.three else bench.HOST,
                  scheme="https" if args.tls else "http")
    spent = cpu_seconds(pids) - before
    requests = r["rps"] * args.seconds
    return {**r, "us": spent / requests * 1e6 if requests else float("inf")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--other", help="a git ref whose router runs beside this one (e.g. HEAD~3)")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--three", action="store_true", help="the route of three instances")
    ap.add_argument("--tls", action="store_true", help="keep-alive requests over TLS")
    args = ap.parse_args()
    resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
    bench.ensure_tools()
    d = tempfile.mkdtemp(prefix="paas-bench-cpu-")
    procs = []
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    redis_url, redis_proc = bench.ensure_redis(d)
    if redis_proc:
        procs.append(redis_proc)
    try:
        runs = run_all(d, procs, args, redis_url, prefix)
    finally:
        bench.stop_all(procs)
        bench.cleanup_redis(redis_url, prefix)
        shutil.rmtree(d, ignore_errors=True)
    return report(runs)


def run_all(d: str, procs: list, args, redis_url: str, prefix: str) -> dict:
    backends = [bench.free_port() for _ in range(3)]
    nginx_port, nginx_tls = bench.free_port(), bench.free_port()
    tls = bench.bench_certificate(d) if args.tls else None
    procs.append(bench.start_nginx(d, "backend", bench.nginx_backend_conf(d, backends)))
    nginx = bench.start_nginx(d, "proxy", bench.nginx_proxy_conf(d, nginx_port, backends, 1,
                                                                 (nginx_tls, *tls) if tls else None))
    procs.append(nginx)
    bench.publish_routes(redis_url, prefix, backends)
    contenders = {"router": start_router(d, procs, "router", redis_url, prefix, None, tls)}
    if args.other:
        contenders["other"] = start_router(d, procs, "other", redis_url, prefix,
                                           checkout(args.other, os.path.join(d, "other")), tls)
    for port in (*backends, nginx_port):
        bench.wait_port(port)
    contenders["nginx"] = (nginx_tls if tls else nginx_port, nginx.pid)
    deadline = time.monotonic() + 20
    while not children(nginx.pid) and time.monotonic() < deadline:   # its worker forks after the master listens
        time.sleep(0.05)
    pids = {name: children(pid) for name, (_, pid) in contenders.items()}
    for name, (port, _) in contenders.items():   # warm up pools and caches
        measure(port, pids[name], argparse.Namespace(**{**vars(args), "seconds": 2}))
    runs = {name: [] for name in contenders}
    order = list(contenders)
    for i in range(args.rounds):
        for name in (order if i % 2 == 0 else order[::-1]):
            runs[name].append(measure(contenders[name][0], pids[name], args))
    return runs


def report(runs: dict) -> int:
    valid_rounds = [i for i in range(len(runs["nginx"])) if all(bench.valid(r[i]) for r in runs.values())]
    for i in sorted(set(range(len(runs["nginx"]))) - set(valid_rounds)):
        print(f"INVALID round {i + 1}: " + "; ".join(bench.line(n, r[i]) for n, r in runs.items()))
    if not valid_rounds:
        print("RESULT cpu_per_request_vs_nginx invalid <= 2.0")
        return 0
    med = {}
    for name, rs in runs.items():
        us = [rs[i]["us"] for i in valid_rounds]
        rps = statistics.median(rs[i]["rps"] for i in valid_rounds)
        med[name] = statistics.median(us)
        print(f"{name:<8} {rps:>8.0f} req/s   {med[name]:7.1f} µs CPU per request   rounds: "
              + " ".join(f"{u:.1f}" for u in us))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(f"RESULT cpu_per_request_vs_nginx {med['router'] / med['nginx']:.3f} <= 2.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
