"""Runs the platform's processes in the foreground, restarts the ones that die, and stops all together.

A process that exits on its own is a crash: it is reported and started again after a
backoff (Backoff below), while every other process keeps running, so one crash never takes
the platform down. A signal (Ctrl-C, SIGTERM, SIGHUP) stops everything.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Program:
    name: str
    argv: list[str]
    #: The program's whole environment (not added to ours): a program gets only the credentials given here.
    env: dict | None = None
    cwd: str | None = None
    #: A one-shot job (building a stack): its end, even a failure, is reported and not restarted.
    oneshot: bool = False


@dataclass
class Backoff:
    """When to restart a crashed program: the decision alone, no processes (plain tests in tests/compose).

    The first restart waits `first` seconds and each crash after a short run doubles the wait up
    to `limit`; a run that lasted `stable_after` seconds starts over from `first`. `loop_crashes`
    crashes within `loop_window` seconds is a crash loop: reported as such, and the wait stays long.
    """

    first: float = 1.0
    limit: float = 60.0
    stable_after: float = 60.0
    loop_crashes: int = 5
    loop_window: float = 300.0
    delay: float = 0.0
    crashes: list[float] = field(default_factory=list)

    def crashed(self, now: float, ran_for: float) -> tuple[float, bool]:
        """Record a crash at `now` after `ran_for` seconds; return (seconds to wait, in a crash loop)."""
        self.crashes = [t for t in self.crashes if now - t < self.loop_window] + [now]
        if ran_for >= self.stable_after or self.delay == 0.0:
            self.delay = self.first
        else:
            self.delay = min(self.limit, self.delay * 2)
        looping = len(self.crashes) >= self.loop_crashes
        if looping:
            self.delay = self.limit
        return self.delay, looping


CrashReport = Callable[[str, int, float, bool], None]


def describe_exit(code: int) -> str:
    """'status 3', or 'signal 9 (SIGKILL)' for a process a signal ended (Popen gives -9)."""
    if code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


class Supervisor:
    """Start programs, restart the ones that crash, and stop all on a signal."""

    def __init__(self, grace_seconds: float = 15.0, on_crash: CrashReport | None = None,
                 backoff: Callable[[], Backoff] = Backoff):
        self.grace = grace_seconds
        self.on_crash = on_crash
        self.make_backoff = backoff
        self.programs: dict[str, Program] = {}
        self.children: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}
        self.backoffs: dict[str, Backoff] = {}
        self.restart_at: dict[str, float] = {}
        self.stopping = False

    def start(self, program: Program) -> None:
        self.programs[program.name] = program
        self._spawn(program)

    def _spawn(self, program: Program) -> None:
        # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
        self.children[program.name] = subprocess.Popen(
            program.argv, env=os.environ if program.env is None else program.env, cwd=program.cwd,
            start_new_session=True,
        )
        self.started_at[program.name] = time.monotonic()

    def wait(self) -> int:
        """Keep the programs running until a signal arrives; return the exit status to use."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        while not self.stopping:
            self.check_once(time.monotonic())
            time.sleep(0.2)
        return 0

    def check_once(self, now: float) -> None:
        """Notice exits and start the programs whose backoff has passed."""
        for name, child in list(self.children.items()):
            if child.poll() is None:
                continue
            del self.children[name]
            self._reap_group(child)
            if self.programs[name].oneshot:
                outcome = "finished" if child.returncode == 0 else f"failed with {describe_exit(child.returncode)}"
                print(f"paas: {name} {outcome}", file=sys.stderr)
                continue
            self._crashed(name, child.returncode, now)
        for name, when in list(self.restart_at.items()):
            if now >= when and not self.stopping:
                del self.restart_at[name]
                print(f"paas: restarting {name}", file=sys.stderr)
                self._spawn(self.programs[name])

    def _crashed(self, name: str, code: int, now: float) -> None:
        backoff = self.backoffs.setdefault(name, self.make_backoff())
        delay, looping = backoff.crashed(now, now - self.started_at[name])
        self.restart_at[name] = now + delay
        what = "is crash-looping" if looping else "crashed"
        print(f"paas: {name} {what} (exited with {describe_exit(code)}); restarting in {delay:.0f} s; "
              "the rest keeps running", file=sys.stderr)
        if self.on_crash is not None:
            try:
                self.on_crash(name, code, delay, looping)
            except Exception as error:  # a report that fails must not stop the supervision
                print(f"paas: could not report the crash of {name}: {error}", file=sys.stderr)

    def on_signal(self, signum, frame) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        """SIGTERM every program, SIGKILL what is left after the grace; nothing is restarted after."""
        self.restart_at.clear()
        children = list(self.children.values())
        for child in children:
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            self._reap_group(child)

    @staticmethod
    def _reap_group(child: subprocess.Popen) -> None:
        # A program may leave helpers in its process group; none may outlive it.
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
