"""Where buildpack scripts run: the executor interface and its local implementation.

The driver never starts processes itself. It describes each step as an argv, an
environment, a working directory and a list of mounts, all in the paths the
*build container* sees (see `layout.py`), and hands that to an executor. The
container-backed executor (from `paas.runtime`) bind-mounts each `Mount.source`
at `Mount.target`; `LocalExecutor` runs on this machine without a container and
maps the targets back to their sources instead. The contract is written out in
buildpacks/README.md.
"""

import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from .errors import BuildTimeout

# Seconds a killed process group gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 5.0
# A "line" longer than this is passed on in pieces, so a step that never
# writes a newline cannot grow the buffer without bound.
MAX_LINE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Mount:
    """A host directory (`source`) that the step sees at `target`."""

    source: str
    target: str
    read_only: bool = True


class Executor(Protocol):
    """Runs one build step; see buildpacks/README.md for the full contract."""

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: str,
        mounts: Sequence[Mount],
        timeout: float,
        on_line: Callable[[str], None],
    ) -> int:
        """Run argv to completion and return its exit status.

        Each line the step writes to stdout or stderr (one merged stream) is
        passed to `on_line` without its line ending, as it is produced. Past
        `timeout` seconds the whole process group is killed and BuildTimeout
        is raised.
        """
        ...


class LocalExecutor:
    """Runs steps as plain subprocesses of this machine: the `host` stack.

    There is no isolation: use it for development and tests. Paths in argv,
    env values and cwd that start with a mount's target are rewritten to its
    source, so the same step description works here and in a container.
    """

    def run(self, argv, *, env, cwd, mounts, timeout, on_line):
        """Run argv locally; see `Executor.run`."""
        by_depth = sorted(mounts, key=lambda m: len(m.target), reverse=True)
        local = lambda value: _to_source(value, by_depth)  # noqa: E731
        proc = subprocess.Popen(
            [local(a) for a in argv],
            env={k: local(v) for k, v in env.items()},
            cwd=local(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Its own session, so a time limit can kill every descendant at once.
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        try:
            finished = _pump_lines(proc, deadline, on_line)
            if finished:
                try:
                    proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    finished = False
            if not finished:
                raise BuildTimeout(f"{os.path.basename(argv[0])} ran longer than {timeout:g} s and was killed")
            return proc.returncode
        finally:
            # Also reaps background children a step left behind in its group.
            _kill_group(proc)
            proc.stdout.close()


def _to_source(value: str, mounts: Sequence[Mount]) -> str:
    for mount in mounts:
        if value == mount.target:
            return mount.source
        if value.startswith(mount.target + "/"):
            return mount.source + value[len(mount.target):]
    return value


def _pump_lines(proc, deadline, on_line) -> bool:
    """Forward output lines until EOF (True) or the deadline passes (False)."""
    fd = proc.stdout.fileno()
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if not selector.select(remaining):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            while len(pending) > MAX_LINE_BYTES:
                lines.append(pending[:MAX_LINE_BYTES])
                pending = pending[MAX_LINE_BYTES:]
            for line in lines:
                on_line(_decode(line))
    if pending:
        on_line(_decode(pending))
    return True


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\r").decode("utf-8", errors="replace")


def _kill_group(proc) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()

