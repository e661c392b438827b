"""The build container: runs buildpack steps in the runtime's containers.

It lives with the build layer, which uses the runtime (create, release,
identity, stacks), never the reverse.

Implements the executor contract of buildpacks/README.md: each step runs in a
fresh container on the app's stack with the step's mounts bound in, stdout and
stderr merged and handed over line by line, a time limit that kills the whole
step, and nothing left running afterwards (PID 1's exit ends the namespace).

Network: builds need the package registries (pip, npm) and nothing of the
platform, so each step runs in a network namespace of its own on the platform
bridge, like an instance: NAT egress to the outside, DNS through the bridge's
forwarder, and the host, its loopback, other containers and private and
link-local ranges refused (see runtime/firewall.py).

Identity: a step runs as an unprivileged host uid of the build range (the
app's build uid, identity.py), never as root, without any capability, with
no_new_privs and seccomp. The directories that are the build's (the sources
of read-write mounts, and every mount source under `build_dirs`: the app
dir, cache, env dir and tmp) are handed over to that uid before the first
step that mounts them; everything else of the host (the stack, the
buildpacks) it can only read where others may. After every step the
read-write sources are walked again and any setuid/setgid bit is cleared,
so nothing a build leaves (in the slug packed from /app, or in the cache)
carries one. Every bind is nosuid,nodev (runtime/init/paas-init.c).
"""

import errno
import os
import selectors
import signal
import subprocess
import time
from pathlib import Path

from paas.runtime import identity, stacks
from paas.runtime.container import create, release
from paas.runtime.errors import RuntimeLayerError, SpecError
from paas.runtime.spec import ContainerSpec, Limits, Mount

from .errors import BuildCancelled, BuildError, BuildTimeout
from .executor import MAX_LINE_BYTES

BUILD_PIDS = 4096
KILL_GRACE_S = 5.0


class ContainerExecutor:
    """An Executor (see paas.buildpacks.executor) that runs every step in a container."""

    def __init__(self, stack: str = "host", memory_mb: int = 2048, name: str = "build",
                 cpus: float | None = None, network: str = "bridge", uid: int | None = None,
                 build_dirs: tuple[str, ...] = (), nesting: bool = False):
        self.stack = stack
        self.nesting = nesting  # a Dockerfile build: buildah's own user namespace (runtime/spec.py)
        self.memory_mb = memory_mb
        self.name = name
        self.cpus = cpus
        self.network = network
        # uid: the app's build uid (identity.build_uid); none given, the build range's anonymous one.
        self.uid = identity.ANONYMOUS_BUILD_UID if uid is None else uid
        if self.uid not in identity.BUILD_UIDS:
            raise RuntimeLayerError(f"uid {self.uid} is not a build uid (PAAS_BUILD_UIDS)")
        self.build_dirs = tuple(os.path.realpath(d) for d in build_dirs)
        self.handed: set[str] = set()  # mount sources already the build's

    def _spec(self, stack, argv, env, cwd, mounts, network: bool = True) -> ContainerSpec:
        binds = tuple(stack.binds) + tuple(Mount(Path(m.source), m.target, m.read_only) for m in mounts)
        return ContainerSpec(
            command=tuple(argv), layers=stack.layers, binds=binds, env=tuple(env.items()), workdir=cwd,
            user=f"{self.uid}:{self.uid}", user_name="build", network=self.network if network else "none",
            limits=Limits(memory=self.memory_mb << 20, cpus=self.cpus, pids=BUILD_PIDS, tmp=1 << 30, disk=4 << 30),
            id=f"{self.name}-{os.urandom(4).hex()}"[:64].lower(), stop_grace=KILL_GRACE_S, nesting=self.nesting)

    def run(self, argv, *, env, cwd, mounts, timeout, on_line, cancel=None, network=True) -> int:
        """Run one step to completion and return its exit status (see the contract); network=False:
        in a network namespace of its own with loopback alone (no bridge link, no firewall rules to set)."""
        try:
            stack = stacks.get(self.stack)
        except RuntimeLayerError as exc:
            # The build layer's callers handle BuildError: the reason reaches the pushing developer.
            raise BuildError(f"the build container cannot start: {exc}") from None
        self._hand_over(mounts)
        spec = self._spec(stack, argv, env, cwd, mounts, network)
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
            # Also after a failed step: the cache outlives a failed build. Every process of the step
            # is gone with its cgroup, so the trees hold still while they are walked.
            self._hand_over([m for m in mounts if not m.read_only], again=True)

    def _build_owned(self, mount) -> bool:
        if not mount.read_only:
            return True
        source = os.path.realpath(mount.source)
        return any(source == d or source.startswith(d + os.sep) for d in self.build_dirs)

    def _hand_over(self, mounts, again: bool = False) -> None:
        """The build's directories become its uid's before the first step that mounts them;
        `again`: after a step, setuid/setgid bits it left are cleared."""
        for mount in mounts:
            if (mount.source in self.handed and not again) or not self._build_owned(mount):
                continue
            try:
                identity.hand_over(mount.source, self.uid)
            except (OSError, RuntimeLayerError) as exc:
                # strerror only: an OSError's filename would be a name the build chose.
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a directory"
                raise BuildError(f"the build directory {mount.target} cannot be handed over: {reason}") from None
            self.handed.add(mount.source)


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
