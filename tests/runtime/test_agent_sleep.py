"""Apps asleep on the agent's side (runtime/sleep.py), with real containers and real Redis: an instance
marked frozen is frozen and stays "up" (not down for not answering); the router's wake message
thaws it at once and the waiting request is answered; memory pressure is reported. Both backends:
the docker backend's instances are paused by the engine."""

import io
import os
import socket
import tarfile
import threading
import uuid
from dataclasses import replace

import pytest
import redis as redis_lib

from paas.runtime import config, images, logs
from paas.runtime.agent import UNHEALTHY_AFTER, Agent
from paas.runtime.reconcile import Desired
from paas.runtime.sleep import Sleeper, available_mb, pressure_key

from .conftest import wait_for
from .test_agent import BOTH, HOST, MemoryControlPlane

PREFIX = os.environ.get("PAAS_REDIS_PREFIX", "paas:")
SERVER = "exec python3 -m http.server $PORT"


@pytest.fixture
def asleep(tmp_path, backend):
    buf = tmp_path / "slug.tar"
    with tarfile.open(buf, "w") as tar:
        info = tarfile.TarInfo("index.html")
        data = b"awake\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    image = images.put(buf, stack="host", process_types={"web": SERVER})
    control = MemoryControlPlane()
    client = redis_lib.Redis.from_url(config.redis_url())
    agent = Agent(control, HOST, client, stop_grace=0.5, backend=backend)
    app = f"sleepy-{uuid.uuid4().hex[:8]}"
    name = f"{app}.web.1.{uuid.uuid4().hex[:4]}"
    control.instances[name] = Desired(name=name, app=app, release="v1", process="web.1", command="",
                                      image=image.digest, memory_mb=128, cpus=1.0, app_id=12)
    yield control, agent, client, app, name
    agent.stopping.set()
    backend.release(name)
    logs.forget(client, name)
    client.delete(logs.stream_key(app))


def _up(control, agent, name):
    wait_for(lambda: (agent.reconcile_once(), control.reports[name]["state"] == "up")[1], timeout=30,
             what="the web instance up")


@BOTH
def test_an_instance_asleep_is_frozen_not_down_and_a_request_wakes_it(asleep):
    control, agent, client, app, name = asleep
    frozen = agent.backend.is_frozen
    _up(control, agent, name)
    control.instances[name] = replace(control.instances[name], frozen=True)
    agent.reconcile_once()
    assert frozen(name)
    cpu = agent.backend.load(name).stats()["cpu_ns"]
    # Frozen, it answers no health check: it stays up all the same, and uses no CPU.
    for _ in range(UNHEALTHY_AFTER + 2):
        agent.reconcile_once()
    assert control.reports[name]["state"] == "up"
    assert frozen(name) and agent.backend.load(name).is_running()
    assert agent.backend.load(name).stats()["cpu_ns"] - cpu < 5_000_000

    listener = threading.Thread(target=agent.listen_for_wake, daemon=True)
    listener.start()
    channel = f"{PREFIX}router:wake"
    wait_for(lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1, timeout=10,
             what="the agent to follow router:wake")
    address = agent.backend.load(name).record.network["address"]
    with socket.create_connection((address, 5000), timeout=10) as s:
        s.sendall(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        # What the router does on a request for an app asleep: publish its name, forward at once.
        client.publish(channel, app)
        s.settimeout(20)
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.0 200") and answer.endswith(b"awake\n")
    # The app answered as soon as it (a worker) thawed; its supervisor (PID 1) follows a moment later.
    wait_for(lambda: not frozen(name), timeout=5, what="the whole instance thawed")
    # The database may still say frozen for a moment: a pass right after the wake keeps it awake.
    agent.reconcile_once()
    assert not frozen(name)


@BOTH
def test_only_an_instance_that_is_up_is_frozen_and_stop_thaws_it(asleep):
    control, agent, client, app, name = asleep
    frozen = agent.backend.is_frozen
    control.instances[name] = replace(control.instances[name], frozen=True)
    agent.reconcile_once()
    assert not frozen(name)  # still starting: it must answer once before it may sleep
    wait_for(lambda: (agent.reconcile_once(), frozen(name))[1], timeout=30, what="frozen once up")
    del control.instances[name]
    agent.reconcile_once()  # stopped: thawed first, so SIGTERM reached it
    # 143: SIGTERM, not the SIGKILL after the grace (which a frozen v1 group would not even die of).
    assert control.reports[name]["state"] == "stopped" and control.reports[name]["exit_code"] == 143


def test_memory_pressure_is_reported_for_platform_control(asleep):
    _, _, client, _, _ = asleep
    host = f"pressed-{uuid.uuid4().hex[:6]}"
    key = pressure_key(PREFIX, host)
    try:
        assert not Sleeper().report_pressure(client, PREFIX, host, min_available_mb=0)
        assert client.get(key) is None
        assert Sleeper().report_pressure(client, PREFIX, host, min_available_mb=1 << 40)
        assert client.get(key) == b"1" and 0 < client.ttl(key) <= 15
    finally:
        client.delete(key)


def test_available_memory_is_read_from_meminfo():
    assert available_mb("MemTotal: 100 kB\nMemAvailable:    2048000 kB\n") == 2000
    assert available_mb("MemTotal: 100 kB\n") == 0  # unknown: counted as short
