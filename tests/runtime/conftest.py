"""Fixtures for the runtime tests: real containers, real cgroups, real Redis.

All runtime tests share one data directory, bridge and address pool of their own
(never the platform's), so they cannot disturb a running agent; each test uses
unique container ids and releases them in a finalizer, even when it fails.
"""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

# The runtime's sandbox settings (PAAS_RUNTIME_DIR, PAAS_CGROUP_PARENT, PAAS_BRIDGE,
# PAAS_ADDRESS_POOL) are set by tests/conftest.py, before anything imports paas.runtime.
import pytest

from paas.runtime import container, stacks
from paas.runtime.spec import ContainerSpec

RUNNER = [sys.executable, "-m", "paas.runtime.cli"]
# Run inside a container: try a TCP connection to argv[1]:argv[2] and say how it went.
CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(1.0)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("connected")
except OSError as e:
    print("refused", type(e).__name__)
"""
SERVER = ["python3", "-m", "http.server", "--bind", "0.0.0.0", "8080"]


def wait_for(predicate, timeout=10.0, interval=0.02, what="condition"):
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def cid(request):
    """A unique container id, released after the test whatever happened."""
    ids = []

    def make(prefix="t"):
        name = f"{prefix}{uuid.uuid4().hex[:10]}"
        ids.append(name)
        return name

    yield make
    for name in ids:
        container.release(name)


@pytest.fixture(scope="session")
def host_stack():
    return stacks.get("host")


@pytest.fixture
def runner(cid):
    """Run paas-runner in a subprocess; the container id is unique and cleaned up."""

    def run(args, *, name=None, input=None, timeout=60):
        name = name or cid()
        cmd = RUNNER + ["run", "--name", name] + list(args)
        return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                              env=os.environ.copy())

    return run


@pytest.fixture
def detached(cid, host_stack):
    """Start detached containers on the host stack; stopped and removed afterwards."""
    started = []

    def start(command, **kwargs):
        kwargs.setdefault("network", "none")
        kwargs.setdefault("stop_grace", 1.0)
        spec = ContainerSpec(command=tuple(command), layers=host_stack.layers, binds=host_stack.binds,
                             id=kwargs.pop("id", None) or cid(), **kwargs)
        c = container.create(spec)
        started.append(c)
        c.start()
        return c

    yield start
    for c in started:
        try:
            current = container.Container.load(c.id)
            if current.record.state.value == "running":
                current.stop(grace=0.5)
        except Exception:
            pass
        container.release(c.id)


def mounts_mentioning(text: str) -> list[str]:
    return [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if text in line]


@pytest.fixture
def backend(request):
    """The agent's runner: the native one, or (tests marked test_agent.BOTH) the docker backend on the
    session's engine."""
    if getattr(request, "param", "native") == "docker":
        from paas.runtime.dockerbackend import DockerBackend

        return DockerBackend(base_url=request.getfixturevalue("dockerd"))
    from paas.runtime.nativebackend import NativeBackend

    return NativeBackend()
