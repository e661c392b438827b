"""API latency with log follows open: GET /api/apps with none, then with fifty `paas logs --tail` polls waiting.

The API server is the one `make up` runs (platform/api_server.py: uvicorn workers, Django's
ASGI handler, long polls on the event loop). For comparison, the same with the server it
replaced (gunicorn gthread, 2 workers x 4 threads), where each follow held a thread: there
the first GET /api/apps waits for follows to end (bounded here at 30 s).

    .venv/bin/python -P bench/api_follows.py
"""

import http.client
import importlib.util
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

BIN = Path(sys.executable).parent
FOLLOWS = 50
SAMPLES = 100
USERS = 7  # 8 follows each at most (PAAS_MAX_FOLLOWS_PER_USER)


def scratch_database():
    spec = importlib.util.spec_from_file_location("bench_scheduler", Path(__file__).with_name("scheduler.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.with_scratch_database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def request(port: int, token: str, path: str, timeout: float = 30) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def latencies_ms(port: int, token: str, count: int) -> list[float]:
    found = []
    for _ in range(count):
        started = time.perf_counter()
        assert request(port, token, "/api/apps") == 200
        found.append((time.perf_counter() - started) * 1000)
    return found


def wait_listening(port: int, child: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "the API server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("the API server did not listen")


def run(kind: str, users: list) -> dict:
    from django.conf import settings

    from paas.platform import api_server
    from paas.platform.logs import stream_key
    from paas.platform.redis_client import get_redis

    port = free_port()
    env = {**os.environ, "PAAS_REDIS_PREFIX": settings.PAAS_REDIS_PREFIX, "PAAS_MAX_FOLLOWS_PER_USER": "8",
           "PAAS_DATA_DIR": tempfile.mkdtemp(prefix="paas-bench-"), "PYTHONSAFEPATH": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if kind == "asgi":
        argv = api_server.argv("127.0.0.1", port, 2)
    else:
        argv = [str(BIN / "gunicorn"), "paas.platform.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--timeout", "120"]
    child = subprocess.Popen(argv, env=env, cwd=env["PAAS_DATA_DIR"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    follows = []
    try:
        wait_listening(port, child)
        token = users[0][1]
        latencies_ms(port, token, 10)  # warm up every worker
        before = latencies_ms(port, token, SAMPLES)
        for index in range(FOLLOWS):
            app, secret = users[index % len(users)]
            cursor = get_redis().xrevrange(stream_key(app), count=1)[0][0].decode()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", f"/api/apps/{app}/logs?after={cursor}&wait=25",
                         headers={"Authorization": f"Bearer {secret}"})
            follows.append(conn)
        time.sleep(1)  # let the follows reach the server
        started = time.perf_counter()
        try:
            request(port, token, "/api/apps", timeout=30)
            first = (time.perf_counter() - started) * 1000
            during = latencies_ms(port, token, SAMPLES if kind == "asgi" else 1)
        except TimeoutError:
            first, during = None, []
        return {"before": before, "first": first, "during": during}
    finally:
        for conn in follows:
            conn.close()
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:  # gunicorn waits for the follows it still holds
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()


def measure():
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from paas.platform.actions.apps import create_app
    from paas.platform.actions.tokens import issue_token

    settings.PAAS_REDIS_PREFIX = f"bench-{uuid.uuid4().hex[:8]}:"
    users = []
    for index in range(USERS):
        user = get_user_model().objects.create_user(f"follower{index}", password="bench-password-1")
        users.append((create_app(user, f"follow-{index}").name, issue_token(user)[1]))
    return {kind: run(kind, users) for kind in ("asgi", "wsgi")}


def describe(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no answer"
    ordered = sorted(values)
    return (f"{name}: median {statistics.median(ordered):.1f} ms, "
            f"p95 {ordered[int(len(ordered) * 0.95) - 1]:.1f} ms ({len(ordered)} requests)")


def main() -> int:
    results = scratch_database()(measure)
    for kind, label in (("asgi", "uvicorn + ASGI (make up)"), ("wsgi", "gunicorn gthread 2x4 (before)")):
        found = results[kind]
        print(f"{label}")
        print(f"  {describe('GET /api/apps, no follows', found['before'])}")
        first = found["first"]
        print(f"  first GET /api/apps with {FOLLOWS} follows open: "
              + (f"{first:.1f} ms" if first is not None else "no answer within 30 s"))
        if found["during"]:
            print(f"  {describe(f'GET /api/apps, {FOLLOWS} follows open', found['during'])}")
    asgi = results["asgi"]
    ratio = statistics.median(asgi["during"]) / statistics.median(asgi["before"])
    print(f"RESULT api_median_ratio_with_{FOLLOWS}_follows {ratio:.2f} <= 1.5")
    return 0


if __name__ == "__main__":
    sys.exit(main())
