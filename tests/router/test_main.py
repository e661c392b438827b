"""The paas-router process: workers on one port, admin /metrics, Redis snapshot, SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest

from router_backends import EchoBackend, free_port
from router_helpers import REDIS_URL, Client, backend, wait_until


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.fixture
def router_process(prefix):
    port, admin = free_port(), free_port()
    env = {**os.environ, "REDIS_URL": REDIS_URL, "PAAS_REDIS_PREFIX": prefix,
           "PAAS_ROUTER_METRICS_INTERVAL": "0.2", "PAAS_ROUTER_DRAIN_TIMEOUT": "2",
           "PAAS_ROUTER_HOST": "127.0.0.1", "PAAS_ROUTER_LOG_LEVEL": "WARNING",
           "PAAS_ROUTER_TLS_PORT": str(free_port())}  # never the default 8443 a make up may hold
    proc = subprocess.Popen([sys.executable, "-m", "paas.router.main", "--port", str(port),
                             "--workers", "2", "--admin-port", str(admin)], env=env)
    try:
        wait_until(lambda: _accepts(port) and _accepts(admin), timeout=20, what="router process")
        yield proc, port, admin
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_router_process_serves_reports_metrics_and_stops(router_process, routes, redis_client, prefix, cleanup):
    proc, port, admin = router_process
    echo = EchoBackend()
    cleanup(echo)
    routes.set_app("demo", [backend(echo.port, release=4)], wait=False)

    def ok() -> bool:
        c = Client(port)
        try:
            return c.request("GET", "/")[0] == 200
        finally:
            c.close()
    # Every worker applies the route on its own: ten answers in a row spread over both.
    wait_until(lambda: all(ok() for _ in range(10)), timeout=10, interval=0.05, what="route applied in the workers")
    for _ in range(20):
        assert ok()

    def scraped() -> str:
        text = urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=5).read().decode()
        return text if 'paas_router_requests_total{app="demo",release="4",code="2xx"}' in text else ""
    text = wait_until(scraped, timeout=10, interval=0.1, what="metrics from the workers")
    assert 'paas_router_latency_ms{app="demo",release="4",quantile="p95"}' in text
    def snapshot() -> dict:
        nodes = redis_client.hgetall(f"{prefix}router:metrics:demo")  # this router node's figures, as JSON
        figures = [json.loads(value) for value in nodes.values()]
        return figures[0] if len(figures) == 1 and figures[0]["requests"] >= 21 else {}
    snap = wait_until(snapshot, timeout=10, what="metrics snapshot in Redis")
    assert snap["rps"] > 0 and snap["p95_ms"] > 0 and "4" in snap["releases"]

    # A worker that dies is replaced; the port keeps serving meanwhile.
    workers = sorted(_children(proc.pid))
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    wait_until(lambda: len(_children(proc.pid) - {workers[0]}) == 2, timeout=10, what="worker respawn")
    wait_until(ok, timeout=10, interval=0.05, what="serving after respawn")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def _children(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return {int(p) for p in f.read().split()}
