"""The relay started ahead of an attached run (runtime/warmrelay.py), with a real container and Redis:
handed a created container it starts it and relays its output; a waiting one whose agent is gone exits."""

import base64
import os
import signal
import subprocess
import sys

import redis as redis_lib

from paas.runtime import attach, config, container
from paas.runtime.warmrelay import WarmRelay

from .conftest import wait_for

PREFIX = os.environ.get("PAAS_REDIS_PREFIX", "paas:")


def _output(client, key) -> tuple[bytes, bool]:
    data, ended = b"", False
    for _, fields in client.xrange(key):
        if b"data" in fields:
            data += base64.b64decode(fields[b"data"])
        ended = ended or b"eof" in fields
    return data, ended


def created_run(cid, host_stack):
    """A created container that prints one line, and its run's output stream key."""
    from paas.runtime.spec import ContainerSpec

    spec = ContainerSpec(command=("/bin/sh", "-c", "echo hi from the run"), layers=host_stack.layers,
                         binds=host_stack.binds, id=cid(), network="none")
    c = container.create(spec)
    return c, attach.keys(PREFIX, c.id)[1]


def test_a_waiting_relay_runs_the_container_it_is_handed(cid, host_stack):
    client = redis_lib.Redis.from_url(config.redis_url())
    c, out_key = created_run(cid, host_stack)
    relays = WarmRelay()
    try:
        relays.prepare()
        waiting = relays.waiting
        relays.hand(c.id, tty=False)
        assert relays.waiting is not None and relays.waiting is not waiting  # the next one warms up
        data, _ = wait_for(lambda: (r := _output(client, out_key))[1] and r, timeout=30, what="the run's output")
        assert data == b"hi from the run\n"
        assert waiting.wait(10) == 0
    finally:
        client.delete(*attach.keys(PREFIX, c.id))
        if relays.waiting is not None:
            relays.waiting.stdin.close()


def test_a_waiting_relay_without_an_agent_exits_and_starts_nothing():
    relay = subprocess.Popen([sys.executable, "-P", "-m", "paas.runtime.warmrelay"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    relay.stdin.write(b"not a line the agent writes\n")
    relay.stdin.close()
    assert relay.wait(30) == 0
    assert relay.stderr.read() == b""


def test_a_relay_waiting_with_other_settings_is_not_handed_a_run(cid, host_stack, monkeypatch):
    """A relay takes its settings (data dir, Redis, prefix) from the environment it started in: a process that
    runs agents under other settings in turn (the tests do) must not hand a run to one holding the old ones."""
    client = redis_lib.Redis.from_url(config.redis_url())
    c, out_key = created_run(cid, host_stack)
    relays = WarmRelay()
    in_force = os.environ.get("PAAS_DATA_DIR")
    monkeypatch.setenv("PAAS_DATA_DIR", "/nonexistent/another-agents-data")
    try:
        relays.prepare()
        stale = relays.waiting
        # The settings in force again: the stale relay would not find the container.
        if in_force is None:
            monkeypatch.delenv("PAAS_DATA_DIR")
        else:
            monkeypatch.setenv("PAAS_DATA_DIR", in_force)
        relays.hand(c.id, tty=False)
        assert stale.wait(10) == -signal.SIGKILL  # ended, not handed the run
        data, _ = wait_for(lambda: (r := _output(client, out_key))[1] and r, timeout=30, what="the run's output")
        assert data == b"hi from the run\n"
    finally:
        client.delete(*attach.keys(PREFIX, c.id))
        if relays.waiting is not None:
            relays.waiting.stdin.close()
