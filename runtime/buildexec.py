"""The build container: runs buildpack steps for the build layer (paas.buildpacks).

Implements the executor contract of buildpacks/README.md: each step runs in a
fresh container on the app's stack with the step's mounts bound in, stdout and
stderr merged and handed over line by line, a time limit that kills the whole
step, and nothing left running afterwards (PID 1's exit ends the namespace).

Builds need the package registries (pip, npm), so they use the host network,
and they run as uid 0 *without any capability* (plus no_new_privs and seccomp):
the build directories are the driver's, owned by root, and owner rights on them
are all a step gets.
"""

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from . import stacks
from .container import create, release
from .errors import RuntimeLayerError
from .spec import ContainerSpec, Limits, Mount

BUILD_PIDS = 4096
KILL_GRACE_S = 5.0


class ContainerExecutor:
    """An Executor (see paas.buildpacks.executor) that runs every step in a container."""

    def __init__(self, stack: str = "host", memory_mb: int = 2048, name: str = "build",
                 cpus: float | None = None, network: str = "host"):
        self.stack = stack
        self.memory_mb = memory_mb
        self.name = name
        self.cpus = cpus
        self.network = network

    def _spec(self, argv, env, cwd, mounts) -> ContainerSpec:
        stack = stacks.get(self.stack)
        binds = tuple(stack.binds) + tuple(Mount(Path(m.source), m.target, m.read_only) for m in mounts)
        return ContainerSpec(
            command=tuple(argv), layers=stack.layers, binds=binds, env=tuple(env.items()), workdir=cwd,
            user="0:0", network=self.network,
            limits=Limits(memory=self.memory_mb << 20, cpus=self.cpus, pids=BUILD_PIDS, tmp=1 << 30, disk=4 << 30),
            id=f"{self.name}-{os.urandom(4).hex()}"[:64].lower(), stop_grace=KILL_GRACE_S)

    def run(self, argv, *, env, cwd, mounts, timeout, on_line) -> int:
        """Run one step to completion and return its exit status (see the contract)."""
        from paas.buildpacks.errors import BuildError, BuildTimeout

        try:
            spec = self._spec(argv, env, cwd, mounts)
            container = create(spec)
        except RuntimeLayerError as exc:
            # The build layer's callers handle BuildError: the reason reaches the pushing developer.
            raise BuildError(f"the build container cannot start: {exc}") from None
        try:
            helper = container.start(detach=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
            if not _pump(helper, on_line, time.monotonic() + timeout):
                # The helper forwards SIGTERM to PID 1, which forwards it to the step.
                helper.send_signal(signal.SIGTERM)
                try:
                    helper.wait(KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    container.cgroup.kill_all()
                    helper.wait()
                raise BuildTimeout(f"{argv[0]} ran longer than {timeout:.0f} s and was stopped")
            return container.mark_stopped(helper_code=helper.wait()).exit_code
        finally:
            release(spec.id, spec.network)


def _pump(helper: subprocess.Popen, on_line, deadline: float) -> bool:
    """Hand each output line to on_line until EOF (True) or the deadline (False)."""
    stream = helper.stdout
    assert stream is not None
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    pending = b""
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if not selector.select(timeout=left):
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                if pending:
                    on_line(_decode(pending))
                return True
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                on_line(_decode(line))
    finally:
        selector.close()
        stream.close()


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")
