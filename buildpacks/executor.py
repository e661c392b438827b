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
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, Sequence

from .errors import BuildCancelled, BuildTimeout

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
        cancel: threading.Event | None = None,
        network: bool = True,
    ) -> int:
        """Run argv to completion and return its exit status.

        Each line the step writes to stdout or stderr (one merged stream) is
        passed to `on_line` without its line ending, as it is produced. Past
        `timeout` seconds the whole step is killed and BuildTimeout is
        raised; once `cancel` is set it is killed and BuildCancelled raised.
        network=False: the step needs no network (detect, release); an executor
        that isolates steps gives it none (and saves setting one up).
        """
        ...


class LocalExecutor:
    """Runs steps as plain subprocesses of this machine: the `host` stack.

    There is no isolation: use it for development and tests. Paths in argv,
    env values and cwd that start with a mount's target are rewritten to its
    source, so the same step description works here and in a container.
    """

    def run(self, argv, *, env, cwd, mounts, timeout, on_line, cancel=None, network=True):
        """Run argv locally; see `Executor.run` (there is no network to withhold here)."""
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
        limits = _Limits(time.monotonic() + timeout, cancel)
        try:
            stopped = _pump_lines(proc, limits, on_line) or _wait_exit(proc, limits)
            if stopped == "cancelled":
                raise BuildCancelled("the build was cancelled")
            if stopped == "timeout":
                raise BuildTimeout(f"{os.path.basename(argv[0])} ran longer than {timeout:g} s and was killed")
            return proc.returncode
        finally:
            # Also reaps background children a step left behind in its group.
            _kill_group(proc)
            proc.stdout.close()


class _Limits:
    """The deadline and the cancel flag of one step, checked in short slices."""

    # How often a cancel request is noticed while a step is quiet.
    CANCEL_POLL_S = 0.2

    def __init__(self, deadline: float, cancel: threading.Event | None):
        self.deadline = deadline
        self.cancel = cancel

    def stopped(self) -> str | None:
        """'cancelled' or 'timeout' once the step must stop, else None."""
        if self.cancel is not None and self.cancel.is_set():
            return "cancelled"
        if time.monotonic() >= self.deadline:
            return "timeout"
        return None

    def slice(self) -> float:
        """Seconds to block before checking again."""
        remaining = max(0.0, self.deadline - time.monotonic())
        return remaining if self.cancel is None else min(remaining, self.CANCEL_POLL_S)


def _to_source(value: str, mounts: Sequence[Mount]) -> str:
    for mount in mounts:
        if value == mount.target:
            return mount.source
        if value.startswith(mount.target + "/"):
            return mount.source + value[len(mount.target):]
    return value


def _pump_lines(proc, limits: _Limits, on_line) -> str | None:
    """Forward output lines until EOF (None) or the step must stop (the reason)."""
    fd = proc.stdout.fileno()
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            stopped = limits.stopped()
            if stopped:
                return stopped
            if not selector.select(limits.slice()):
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
    return None


def _wait_exit(proc, limits: _Limits) -> str | None:
    """Wait for the step to exit after closing its output (None), or the reason to stop."""
    while True:
        stopped = limits.stopped()
        if stopped:
            return stopped
        try:
            proc.wait(limits.slice())
            return None
        except subprocess.TimeoutExpired:
            continue


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

