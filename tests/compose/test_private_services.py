"""Each component does its whole job with its own Redis user and nothing more: the real
router, the agent's log shipper and run relay, and a Celery round trip, against make up's
private servers; afterwards Redis's ACL log holds no refused command."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from celery import Celery
from paas.runtime import logs, sleep
from paas.runtime.attach import Relay
from paas.runtime.sleep import Sleeper

from tests.compose.private import free_port, private_services
from tests.waiting import wait_for

PREFIX = "paas:"


@pytest.fixture(scope="module")
def services():
    with private_services(PREFIX) as found:
        yield found


@pytest.fixture
def acl_log_empty(services):
    """Fails the test if Redis refused any command of any user while it ran."""
    admin = services.redis_client("admin")
    admin.acl_log_reset()
    yield
    refused = [(entry["username"], entry["object"], entry["reason"]) for entry in admin.acl_log()]
    assert refused == []


class Hello(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, host: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def test_router_serves_logs_and_reports_with_its_own_user(services, backend, acl_log_empty, tmp_path):
    admin = services.redis_client("admin")
    entry = {"app": "demo", "maintenance": False, "scaled_to_zero": False,
             "backends": [{"id": "demo-web-1", "address": "127.0.0.1", "port": backend, "release": 1}]}
    admin.set(f"{PREFIX}router:app:demo", json.dumps(entry))
    admin.hset(f"{PREFIX}router:hosts", "demo.localhost", "demo")
    admin.set(f"{PREFIX}router:published", "1")
    admin.set(f"{PREFIX}router:app:sleepy", json.dumps({"app": "sleepy", "scaled_to_zero": True, "backends": []}))
    wakes = admin.pubsub(ignore_subscribe_messages=True)
    wakes.subscribe(f"{PREFIX}router:wake")
    port, admin_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(REDIS_URL=services.redis.url("router"), PAAS_REDIS_PREFIX=PREFIX, PAAS_ROUTER_HOST="127.0.0.1",
               PAAS_ROUTER_METRICS_INTERVAL="0.2", PAAS_ROUTER_WAKE_TIMEOUT="1", PAAS_ROUTER_DRAIN_TIMEOUT="2",
               PAAS_ROUTER_TLS_PORT=str(free_port()))
    with open(tmp_path / "router.log", "w") as log:
        router = subprocess.Popen([sys.executable, "-m", "paas.router.main", "--port", str(port), "--workers", "1",
                                   "--admin-port", str(admin_port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: get(port, "demo.localhost") == 200, 20, "the route read with the router's user")
        # A change published by the control plane reaches it.
        admin.hset(f"{PREFIX}router:hosts", "www.example.test", "demo")
        admin.publish(f"{PREFIX}router:changes", "demo")
        wait_for(lambda: get(port, "www.example.test") == 200, 20, "a published change")
        # A request for a sleeping app publishes a wake.
        get(port, "sleepy.localhost")
        wait_for(lambda: wakes.get_message(timeout=0.2), 10, "the wake published with the router's user")
        lines = wait_for(lambda: admin.xrange(f"{PREFIX}logs:demo"), 10, "access log lines")
        assert lines[0][1][b"source"] == b"router"
        wait_for(lambda: admin.hgetall(f"{PREFIX}router:metrics:demo"), 10, "the metrics snapshot")
    finally:
        wakes.close()
        stop(router, 20)
    assert "NOPERM" not in (tmp_path / "router.log").read_text()


def test_agent_ships_logs_and_relays_runs_with_its_own_user(services, acl_log_empty, tmp_path):
    agent = services.redis_client("agent")
    platform = services.redis_client("platform")
    (tmp_path / "stdout.log").write_bytes(b"one\ntwo\n")
    (tmp_path / "stderr.log").write_bytes(b"oops\n")
    labels = {"app": "shipped", "release": "v1", "process": "web.1"}
    assert logs.ship(agent, "c1", tmp_path, labels) == 3
    assert logs.ship(agent, "c1", tmp_path, labels, final=True) == 0
    assert platform.xlen(f"{PREFIX}logs:shipped") == 3
    logs.forget(agent, "c1")
    assert platform.hgetall(f"{PREFIX}logs:offsets") == {}

    relay = Relay(SimpleNamespace(id="c1"), agent, PREFIX, tty=False)
    out_read, out_write = os.pipe()
    os.write(out_write, b"output")
    os.close(out_write)
    relay.pump_output(out_read)
    os.close(out_read)
    in_read, in_write = os.pipe()
    pump = threading.Thread(target=relay.pump_input, args=(in_write,), daemon=True)
    pump.start()
    platform.xadd(relay.in_key, {"data": "aW5wdXQ="})  # what `paas run` sends: "input", then the end
    platform.xadd(relay.in_key, {"eof": "1"})
    assert os.read(in_read, 100) == b"input"
    wait_for(lambda: os.read(in_read, 100) == b"", 10, "the end of input")
    relay.finished.set()
    pump.join(5)
    os.close(in_read)
    assert not pump.is_alive()
    assert [fields for _, fields in platform.xrange(relay.out_key)] == [{b"data": b"b3V0cHV0"}]

    wake = agent.pubsub()
    wake.subscribe(f"{PREFIX}agent:wake", f"{PREFIX}router:wake")  # the router's: thawing apps asleep
    # Publish only once the subscriptions are in force.
    for _ in range(2):
        wait_for(lambda: (message := wake.get_message(timeout=0.2)) and message["type"] == "subscribe", 10,
                 "the subscriptions to agent:wake and router:wake")
    platform.publish(f"{PREFIX}agent:wake", "1")
    message = wait_for(lambda: wake.get_message(timeout=0.2), 10, "agent:wake with the agent's user")
    assert message["type"] == "message" and message["data"] == b"1"
    services.redis_client("router").publish(f"{PREFIX}router:wake", "sleepy")
    message = wait_for(lambda: wake.get_message(timeout=0.2), 10, "router:wake with the agent's user")
    assert message["type"] == "message" and message["data"] == b"sleepy"
    wake.close()
    agent.publish(f"{PREFIX}control:wake", "1")
    # Memory pressure on its host, for Platform Control to stop the apps frozen there.
    assert Sleeper().report_pressure(agent, PREFIX, "host-a", min_available_mb=1 << 40)
    assert platform.get(sleep.pressure_key(PREFIX, "host-a")) == b"1"


def test_logcenter_ingests_with_its_own_user(services, acl_log_empty, tmp_path):
    from paas.logcenter import schema
    from paas.logcenter.ingest import Ingest
    from paas.logcenter.intake import Intake
    from paas.logcenter.store import Store

    agent = services.redis_client("agent")
    logcenter = services.redis_client("logcenter")
    agent.xadd(f"{PREFIX}logs:ingested", schema.entry(app="ingested", source="app", line="through the group"))
    store = Store(tmp_path / "store")
    try:
        intake = Intake(store, 5000)
        ingest = Ingest(logcenter, intake.accept, PREFIX, "acl-test")
        mine = "SELECT line FROM logcenter.lines WHERE app = 'ingested'"   # other tests' streams are read too
        wait_for(lambda: ingest.run_once(block_ms=50) and False or store.query(mine), 20, "the line stored")
        assert [r["line"] for r in store.query(mine)] == ["through the group"]
        assert logcenter.xpending(f"{PREFIX}logs:ingested", "logcenter")["pending"] == 0
        # A dead consumer's entry taken over (XPENDING IDLE, XCLAIM) with this user's rights alone.
        agent.xadd(f"{PREFIX}logs:ingested", schema.entry(app="ingested", source="app", line="left by the dead"))
        logcenter.xreadgroup("logcenter", "dead-host", {f"{PREFIX}logs:ingested": ">"})
        taker = Ingest(logcenter, intake.accept, PREFIX, "acl-taker", claim_idle_s=0)
        wait_for(lambda: taker.run_once(block_ms=50) and False or len(store.query(mine)) == 2, 20, "the line claimed")
        assert taker.claimed >= 1
    finally:
        store.close()
    # The drains, alerts and retentions the API published: read, never written.
    assert logcenter.hgetall(f"{PREFIX}logcenter:drains") == {} and logcenter.hgetall(f"{PREFIX}logcenter:alerts") == {}
    assert logcenter.hgetall(f"{PREFIX}logcenter:retention") == {}
    with pytest.raises(redis.exceptions.NoPermissionError):
        logcenter.hset(f"{PREFIX}logcenter:drains", "app", "[]")
    with pytest.raises(redis.exceptions.NoPermissionError):
        logcenter.hset(f"{PREFIX}logcenter:retention", "app", "365")
    with pytest.raises(redis.exceptions.NoPermissionError):
        logcenter.xadd(f"{PREFIX}logs:ingested", {"line": "forged"})
    with pytest.raises(redis.exceptions.NoPermissionError):
        logcenter.hgetall(f"{PREFIX}logs:offsets")
    services.redis_client("admin").acl_log_reset()   # the refusals above were the point


def test_celery_round_trip_with_the_platform_user(services, acl_log_empty, tmp_path):
    url = services.redis.url("platform")
    queue = f"acl-test-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(REDIS_URL=url, DATABASE_URL=services.postgres.url(), PAAS_DATA_DIR=str(tmp_path))
    celery = Path(sys.executable).with_name("celery")
    with open(tmp_path / "worker.log", "w") as log:
        worker = subprocess.Popen([str(celery), "-A", "paas.platform.celery", "worker", "-Q", queue, "--pool", "solo",
                                   "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    client = Celery(broker=url, backend=url)
    try:
        result = client.send_task("celery.accumulate", args=(1, 2), queue=queue)
        assert result.get(timeout=60) == [1, 2]
    finally:
        client.close()
        stop(worker, 30)
    assert "NOPERM" not in (tmp_path / "worker.log").read_text()


def stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
