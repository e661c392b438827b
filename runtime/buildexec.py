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

import errno
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from paas.buildpacks.executor import MAX_LINE_BYTES

from . import stacks
from .container import create, release
from .errors import RuntimeLayerError, SpecError
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

    def _spec(self, stack, argv, env, cwd, mounts) -> ContainerSpec:
        binds = tuple(stack.binds) + tuple(Mount(Path(m.source), m.target, m.read_only) for m in mounts)
        return ContainerSpec(
            command=tuple(argv), layers=stack.layers, binds=binds, env=tuple(env.items()), workdir=cwd,
            user="0:0", network=self.network,
            limits=Limits(memory=self.memory_mb << 20, cpus=self.cpus, pids=BUILD_PIDS, tmp=1 << 30, disk=4 << 30),
            id=f"{self.name}-{os.urandom(4).hex()}"[:64].lower(), stop_grace=KILL_GRACE_S)

    def run(self, argv, *, env, cwd, mounts, timeout, on_line, cancel=None) -> int:
        """Run one step to completion and return its exit status (see the contract)."""
        from paas.buildpacks.errors import BuildCancelled, BuildError, BuildTimeout

        try:
            stack = stacks.get(self.stack)
        except RuntimeLayerError as exc:
            # The build layer's callers handle BuildError: the reason reaches the pushing developer.
            raise BuildError(f"the build container cannot start: {exc}") from None
        spec = self._spec(stack, argv, env, cwd, mounts)
        try:
            container = create(spec)
        except SpecError as exc:
            # A script that cannot run (missing, not executable): the driver names the buildpack.
            raise OSError(errno.ENOEXEC, str(exc)) from None
        except RuntimeLayerError as exc:
            raise BuildError(f"the build container cannot start: {exc}") from None
        try:
            helper = container.start(detach=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
            stopped = _pump(helper, on_line, time.monotonic() + timeout, cancel)
            if stopped is not None:
                # The helper forwards SIGTERM to PID 1, which forwards it to the step.
                helper.send_signal(signal.SIGTERM)
                try:
                    helper.wait(KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    container.cgroup.kill_all()
                    helper.wait()
                if stopped == "cancelled":
                    raise BuildCancelled("the build was cancelled")
                raise BuildTimeout(f"{argv[0]} ran longer than {timeout:.0f} s and was stopped")
            return container.mark_stopped(helper_code=helper.wait()).exit_code
        finally:
            release(spec.id, spec.network)


CANCEL_POLL_S = 0.2  # the contract: a cancel request is noticed within 0.2 s


def _pump(helper: subprocess.Popen, on_line, deadline: float, cancel) -> str | None:
    """Hand each output line to on_line until EOF (None), the deadline ("timeout") or a cancel ("cancelled")."""
    stream = helper.stdout
    assert stream is not None
    selector = selectors.DefaultSelector()
    selector.register(stream, selectors.EVENT_READ)
    pending = b""
    try:
        while True:
            if cancel is not None and cancel.is_set():
                return "cancelled"
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            if not selector.select(timeout=min(left, CANCEL_POLL_S) if cancel is not None else left):
                continue
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                if pending:
                    on_line(_decode(pending))
                return None
            pending += chunk
            *lines, pending = pending.split(b"\n")
            # As LocalExecutor does: a step that never writes a newline must not grow the worker's memory.
            while len(pending) > MAX_LINE_BYTES:
                lines.append(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
            for line in lines:
                on_line(_decode(line))
    finally:
        selector.close()
        stream.close()


def _decode(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")
