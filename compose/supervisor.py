"""Runs the platform's processes in the foreground and stops every one of them together."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass


@dataclass
class Program:
    name: str
    argv: list[str]
    #: The program's whole environment (not added to ours): a program gets only the credentials given here.
    env: dict | None = None
    cwd: str | None = None
    #: A one-shot job (building a stack): its end, even a failure, does not stop the platform.
    oneshot: bool = False


class Supervisor:
    """Start programs, prefix their output with their name, and stop all when one dies or on a signal."""

    def __init__(self, grace_seconds: float = 15.0):
        self.grace = grace_seconds
        self.children: dict[str, subprocess.Popen] = {}
        self.oneshots: set[str] = set()
        self.stopping = False

    def start(self, program: Program) -> None:
        # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
        self.children[program.name] = subprocess.Popen(
            program.argv, env=os.environ if program.env is None else program.env, cwd=program.cwd,
            start_new_session=True,
        )
        if program.oneshot:
            self.oneshots.add(program.name)

    def wait(self) -> int:
        """Block until a signal arrives or a program exits; return the exit status to use."""
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        while not self.stopping:
            for name, child in list(self.children.items()):
                if child.poll() is None:
                    continue
                if name in self.oneshots:
                    outcome = "finished" if child.returncode == 0 else f"failed with status {child.returncode}"
                    print(f"paas: {name} {outcome}", file=sys.stderr)
                    del self.children[name]
                    continue
                print(f"paas: {name} exited with status {child.returncode}; stopping everything", file=sys.stderr)
                return 1
            time.sleep(0.2)
        return 0

    def on_signal(self, signum, frame) -> None:
        self.stopping = True

    def stop_all(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + self.grace
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            # A program may leave helpers in its process group; none may outlive us.
            try:
                os.killpg(child.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
