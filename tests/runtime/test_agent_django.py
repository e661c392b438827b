"""The agent against the real control plane models in PostgreSQL (Host, Instance, Release, Build)."""

import io
import tarfile
import uuid

import pytest
import redis as redis_lib
from django.contrib.auth import get_user_model

from paas.runtime import config, images, logs, stacks
from paas.platform.hostagent import DjangoControlPlane
from paas.runtime.agent import Agent, HostInfo
from paas.runtime.container import release

from .conftest import wait_for


@pytest.fixture
def slug_image(tmp_path):
    path = tmp_path / "slug.tar"
    with tarfile.open(path, "w") as tar:
        data = b"#!/bin/sh\necho \"hello $GREETING\"\nexec sleep 600\n"
        info = tarfile.TarInfo("worker.sh")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return images.put(path, stack="host", process_types={"worker": "./worker.sh"})


@pytest.fixture
def placed(db, slug_image):
    from paas.platform.models import App, Build, Config, Host, Instance, Release

    suffix = uuid.uuid4().hex[:8]
    owner = get_user_model().objects.create_user(f"agent-{suffix}", f"a-{suffix}@example.com", "pw-pw-pw-pw")
    app = App.objects.create(name=f"agent-{suffix}", owner=owner, stack="host")
    build = Build.objects.create(app=app, status=Build.SUCCEEDED, stack="host", slug_digest=slug_image.digest,
                                 process_types={"worker": "./worker.sh"})
    cfg = Config.objects.create(app=app, values={"GREETING": "from config"})
    rel = Release.objects.create(app=app, version=1, build=build, config=cfg, summary="first")
    host = Host.objects.create(name=f"host-{suffix}", address="127.0.0.1", memory_mb=1024, cpus=2)
    inst = Instance.objects.create(name=f"{app.name}.worker.1", app=app, release=rel, process_type="worker",
                                   number=1, size="standard", memory_mb=128, cpus=1.0, host=host)
    client = redis_lib.Redis.from_url(config.redis_url())
    yield host, inst, client
    release(inst.name)
    logs.forget(client, inst.name)
    client.delete(logs.stream_key(app.name))


def test_agent_runs_what_the_control_plane_assigns(placed):
    host, inst, client = placed
    info = HostInfo(name=host.name, address="127.0.0.1", memory_mb=1024, cpus=2)
    agent = Agent(DjangoControlPlane(), info, client, stop_grace=0.5)
    agent.start_up()
    agent.reconcile_once()

    def state():
        agent.reconcile_once()
        inst.refresh_from_db()
        return inst.state == "up"

    wait_for(state, what="instance up in the database")
    host.refresh_from_db()
    assert host.last_heartbeat is not None
    # The host reports what placement may send it: the stacks built here, and the host stack.
    assert host.stacks == sorted(stacks.available()) and "host" in host.stacks
    assert inst.memory_bytes and inst.memory_bytes > 0
    wait_for(lambda: (agent.ship_logs(), client.xlen(logs.stream_key(inst.app.name)))[1], what="log line")
    first = client.xrange(logs.stream_key(inst.app.name))[0][1]
    assert first[b"line"] == b"hello from config" and first[b"release"] == b"v1"

    inst.desired_state = inst.STOP
    inst.save(update_fields=["desired_state"])
    agent.reconcile_once()
    inst.refresh_from_db()
    assert inst.state == "stopped"
    assert not (config.instances_dir() / inst.name).exists()


def test_only_states_a_control_pass_acts_on_wake_the_control_loop(placed):
    """"starting" changes no route and no rollout step: a control pass for it would only compete
    with the start itself. "up" names the app as a state change: its fast pass publishes the
    routes first (platform/control/loop.py)."""
    from paas.contracts import redis_keys

    host, inst, client = placed
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(redis_keys.control_wake(redis_keys.prefix()))
    try:
        control = DjangoControlPlane()
        control.host_name = host.name
        control.report(inst.name, state="starting")
        control.report(inst.name, state="up")
        control.report(inst.name, state="up")  # no change: no wake
        # get_message returns None for the (ignored) subscribe confirmation too: read a few times.
        seen = [m["data"] for m in (pubsub.get_message(timeout=0.3) for _ in range(5)) if m]
        assert seen == [f"state:{inst.app_id}".encode()]
    finally:
        pubsub.close()
