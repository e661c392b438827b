"""Runs the platform's processes in the foreground, restarts the ones that die, and stops all together.

A process that exits on its own is a crash: it is reported and started again after a
backoff (Backoff below), while every other process keeps running, so one crash never takes
the platform down. Ctrl-C or SIGTERM stops everything.

SIGHUP is an upgrade (after a ``git pull``): a check runs first (``before_upgrade``: the
database migrations), then every program is restarted one at a time, each the way its
``upgrade`` says (Program below), so that no app request is dropped: the router's listening
sockets belong to this supervisor, which hands them to each router it starts (see
router/handover.py), so a new router serves beside the old one before the old one drains.
"""

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable

# How an upgrade restarts a program (Program.upgrade).
RESTART = "restart"    # SIGTERM, wait for the exit (up to the grace), start the new code
OVERLAP = "overlap"    # start the new code beside the old one; once it is ready, SIGTERM the old one
RELOAD = "reload"      # SIGHUP: the program reloads its code itself (gunicorn's new workers)

#: How long an upgrade waits for a program started beside the old one to report READY=1.
READY_TIMEOUT_S = 60.0


@dataclass
class Listen:
    """A listening socket the supervisor opens once and hands to every start of a program,
    naming its descriptor in the program's environment variable ``variable``."""

    variable: str
    host: str
    port: int


@dataclass
class Program:
    name: str
    argv: list[str]
    #: The program's whole environment (not added to ours): a program gets only the credentials given here.
    env: dict | None = None
    cwd: str | None = None
    #: A one-shot job (building a stack): its end, even a failure, is reported and not restarted.
    oneshot: bool = False
    #: How an upgrade (SIGHUP) restarts it: RESTART, OVERLAP or RELOAD.
    upgrade: str = RESTART
    #: Sockets held by the supervisor and handed on (Listen).
    listen: list = field(default_factory=list)
    #: It reports READY=1 on NOTIFY_SOCKET (systemd's protocol): an overlapping start waits for it.
    notify: bool = False
    #: Seconds before the first restart after a crash, instead of the Backoff's own ``first``.
    restart_first_s: float | None = None


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
                 backoff: Callable[[], Backoff] = Backoff, before_upgrade: Callable[[], None] | None = None):
        self.grace = grace_seconds
        self.on_crash = on_crash
        self.make_backoff = backoff
        #: Runs before an upgrade restarts anything; an exception stops the upgrade (nothing restarted).
        self.before_upgrade = before_upgrade
        self.programs: dict[str, Program] = {}
        self.children: dict[str, subprocess.Popen] = {}
        self.started_at: dict[str, float] = {}
        self.backoffs: dict[str, Backoff] = {}
        self.restart_at: dict[str, float] = {}
        #: Old processes an upgrade replaced, draining; their exit is no crash.
        self.retiring: list[subprocess.Popen] = []
        self.sockets: dict[str, list[socket.socket]] = {}
        self.stopping = False
        self.upgrade_requested = False

    def start(self, program: Program) -> None:
        self.programs[program.name] = program
        # Opened here, once: a port taken by someone else stops the start with its reason.
        self.sockets[program.name] = [listen_socket(spec.host, spec.port) for spec in program.listen]
        self._spawn(program)

    def _spawn(self, program: Program, notify_path: str | None = None) -> subprocess.Popen:
        env = dict(os.environ if program.env is None else program.env)
        handed = self.sockets.get(program.name, [])
        for spec, sock in zip(program.listen, handed):
            env[spec.variable] = str(sock.fileno())
        env.pop("NOTIFY_SOCKET", None)
        if notify_path is not None:
            env["NOTIFY_SOCKET"] = notify_path
        # Own session: a terminal's Ctrl-C reaches only us, and we stop children in order.
        child = subprocess.Popen(program.argv, env=env, cwd=program.cwd, start_new_session=True,
                                 pass_fds=[sock.fileno() for sock in handed])
        self.children[program.name] = child
        self.started_at[program.name] = time.monotonic()
        return child

    def wait(self) -> int:
        """Keep the programs running until Ctrl-C or SIGTERM; SIGHUP upgrades. Return the exit status to use."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.on_signal)
        signal.signal(signal.SIGHUP, self.on_upgrade_signal)
        while not self.stopping:
            self.check_once(time.monotonic())
            if self.upgrade_requested:
                self.upgrade_requested = False
                self.upgrade()
            time.sleep(0.2)
        return 0

    def on_upgrade_signal(self, signum, frame) -> None:
        self.upgrade_requested = True

    def upgrade(self) -> bool:
        """Run ``before_upgrade``, then restart every program, one at a time; True when all were.

        A program that does not come up (an overlapping start that exits or never reports
        ready) leaves the old process serving, and the upgrade stops there, reported.
        """
        print("paas: upgrading: restarting every process, one at a time", file=sys.stderr, flush=True)
        if self.before_upgrade is not None:
            try:
                self.before_upgrade()
            except Exception as error:
                print(f"paas: upgrade stopped before any restart: {error}", file=sys.stderr, flush=True)
                return False
        for name, program in list(self.programs.items()):
            if program.oneshot or self.stopping:
                continue
            if name not in self.children:
                continue   # crashed and waiting for its backoff: its restart runs the new code
            if not self._upgrade_one(program):
                print(f"paas: upgrade stopped at {name}; the rest runs the code it ran", file=sys.stderr, flush=True)
                return False
            print(f"paas: upgraded {name}", file=sys.stderr, flush=True)
        print("paas: upgrade done", file=sys.stderr, flush=True)
        return True

    def _upgrade_one(self, program: Program) -> bool:
        old = self.children[program.name]
        if program.upgrade == RELOAD:
            os.kill(old.pid, signal.SIGHUP)
            return True
        if program.upgrade == OVERLAP:
            return self._overlap(program, old)
        self._terminate([old])
        del self.children[program.name]
        self._spawn(program)
        return True

    def _overlap(self, program: Program, old: subprocess.Popen) -> bool:
        """Start the new process beside ``old``; once it is ready, ``old`` is told to drain and stop."""
        with tempfile.TemporaryDirectory(prefix="paas-notify-") as directory:
            path = os.path.join(directory, "notify")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as notify:
                notify.bind(path)
                new = self._spawn(program, path if program.notify else None)
                ready = not program.notify or wait_ready(notify, new, READY_TIMEOUT_S)
        if not ready:
            # Back to the old process: it never stopped serving.
            self._terminate([new])
            self.children[program.name] = old
            print(f"paas: the new {program.name} did not become ready; the old one keeps serving",
                  file=sys.stderr, flush=True)
            return False
        try:
            os.killpg(old.pid, signal.SIGTERM)   # it drains in the background, while the rest goes on
        except ProcessLookupError:
            pass
        self.retiring.append(old)
        return True

    def check_once(self, now: float) -> None:
        """Notice exits and start the programs whose backoff has passed."""
        for old in list(self.retiring):
            if old.poll() is not None:
                self.retiring.remove(old)
                self._reap_group(old)
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
        if name not in self.backoffs:
            self.backoffs[name] = self.make_backoff()
            if self.programs[name].restart_first_s is not None:
                self.backoffs[name].first = self.programs[name].restart_first_s
        backoff = self.backoffs[name]
        delay, looping = backoff.crashed(now, now - self.started_at[name])
        self.restart_at[name] = now + delay
        what = "is crash-looping" if looping else "crashed"
        print(f"paas: {name} {what} (exited with {describe_exit(code)}); restarting in {delay:g} s; "
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
        self._terminate(list(self.children.values()) + self.retiring)
        self.retiring.clear()
        for held in self.sockets.values():
            for sock in held:
                sock.close()

    def _terminate(self, children: list[subprocess.Popen]) -> None:
        """SIGTERM each child's group, SIGKILL what is left after the grace."""
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


def listen_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket to hand to a program; its descriptor stays open across the program's restarts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        # Which port: make up opens several, each from a setting the message can point to.
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise OSError(error.errno, f"{error.strerror}: {where}") from None
    # A long queue: it holds the new connections that arrive while no router accepts (a crash).
    sock.listen(4096)
    return sock


def wait_ready(notify: socket.socket, child: subprocess.Popen, timeout: float) -> bool:
    """Wait for READY=1 from ``child`` on ``notify`` (systemd's notify protocol); False if it exits first
    or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        notify.settimeout(min(0.2, max(0.01, deadline - time.monotonic())))
        try:
            message = notify.recv(4096)
        except TimeoutError:
            continue
        if b"READY=1" in message.split(b"\n"):
            return True
    return False
