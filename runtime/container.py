"""Starting, watching, stopping and removing one container.

``create`` prepares the host side in one straight order and ``Container.start``
hands over to the static helper (init/paas-init.c), which does the namespace
work and becomes PID 1. No process of ours stays behind per container: a
detached container is found again from its directory (state.json, status file)
and its cgroup.
"""

import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, config, freezer, identity, network
from .errors import CgroupError, RuntimeLayerError, SpecError, StateError
from .initbin import init_binary
from .rootview import resolve_user
from .spec import MASKED_PATHS, READONLY_PATHS, ContainerSpec
from .state import Record, State
from .syscalls import is_alive, process_start_time, wait_exit
from .validate import DEFAULT_PATH, validate


@dataclass
class Outcome:
    """How a container ended."""

    exit_code: int
    oom_killed: bool = False
    error: str = ""


def instance_dir(container_id: str) -> Path:
    return config.instances_dir() / container_id


def new_instance_dir(container_id: str) -> Path:
    """The instance's directory, made now; SpecError when one of that name is on this host already."""
    directory = instance_dir(container_id)
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()
    except FileExistsError:
        raise SpecError(f"a container named {container_id} already exists on this host") from None
    return directory


def _etc_files(spec: ContainerSpec, att: network.Attachment) -> dict[str, str]:
    """The per-instance /etc files, generated rather than taken from the host."""
    hostname = spec.hostname or spec.id
    hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    hosts += f"{att.address or '127.0.1.1'}\t{hostname}\n"
    if spec.network == "none":
        resolv = "# no network: loopback only\n"
    elif att.mode == "bridge":
        # The bridge's DNS forwarder (dns.py): the host's own resolver is out of reach.
        resolv = f"nameserver {att.gateway}\noptions timeout:2 attempts:2\n"
    else:
        try:
            resolv = Path("/etc/resolv.conf").read_text()
        except OSError:
            resolv = ""
    return {"hosts": hosts, "hostname": hostname + "\n", "resolv.conf": resolv}


def _account_files(spec: ContainerSpec, view, uid: int) -> dict[str, str]:
    """/etc/passwd and /etc/group naming the container's user (spec.user_name) with its uid."""
    # The home field is the workdir (checked by validate.check_user), never $HOME: a config var must not
    # write lines into /etc/passwd.
    return identity.account_files(view.read_text("/etc/passwd") or "", view.read_text("/etc/group") or "",
                                  spec.user_name, uid, spec.workdir)


def _mount_tokens(spec: ContainerSpec) -> list[str]:
    tokens: list[str] = []
    for mount in spec.binds:
        tokens += ["bind", str(mount.source), mount.destination, "ro" if mount.readonly else "rw"]
    tokens += ["tmpfs", "/tmp", str(spec.limits.tmp), "1777"]
    if spec.nesting:
        # The OCI runtime of a nested build (crun, under buildah) reads the cgroup mount's type before
        # anything else: an empty tmpfs reads as cgroup v1 with nothing to join (it manages none).
        tokens += ["tmpfs", "/sys/fs/cgroup", "65536", "755"]
    return tokens


def _spec_tokens(spec, directory, layers, uid, gid, att, detach) -> list[str]:
    """The record list paas-init reads (see load_spec in paas-init.c)."""
    cg = cgroups.cgroup_for(spec.id)
    tokens: list[str] = []
    for procs in cg.procs_files():
        tokens += ["cgroup", str(procs)]
    if att.mode == "bridge":
        tokens += ["netns", att.netns]
    elif att.mode == "none":
        tokens += ["newnet"]
    tokens += ["hostname", spec.hostname or spec.id]
    tokens += ["scratch", str(directory / "scratch"), str(spec.limits.disk)]
    for layer in layers:
        tokens += ["lower", str(layer)]
    tokens += _mount_tokens(spec)
    for path in MASKED_PATHS:
        tokens += ["mask", path]
    for path in READONLY_PATHS:
        tokens += ["ro", path]
    tokens += ["uid", str(uid), "gid", str(gid), "cwd", spec.workdir]
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": spec.hostname or spec.id, "HOME": "/"}
    env.update(spec.env_dict())
    for name, value in env.items():
        tokens += ["env", f"{name}={value}"]
    for arg in spec.command:
        tokens += ["arg", arg]
    tokens += ["status", str(directory / "status")]
    if detach:
        tokens += ["pidfile", str(directory / "pid")]
    if spec.seccomp:
        tokens += ["seccomp-nesting" if spec.nesting else "seccomp"]
    return tokens


class Container:
    """A container on this host, by id; every method re-reads what it needs from disk."""

    def __init__(self, record: Record):
        self.record = record

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def dir(self) -> Path:
        return instance_dir(self.id)

    @property
    def cgroup(self) -> cgroups.Cgroup:
        return cgroups.cgroup_for(self.id)

    @classmethod
    def load(cls, container_id: str) -> "Container":
        try:
            return cls(Record.load(instance_dir(container_id)))
        except FileNotFoundError:
            raise StateError(f"no container {container_id} on this host") from None

    def save(self) -> None:
        self.record.save(self.dir)

    # -- start ---------------------------------------------------------------

    def _helper_argv(self, detach: bool) -> list[str]:
        if self.record.state is not State.CREATED:
            raise StateError(f"container {self.id} is {self.record.state.value}, not created")
        return [str(init_binary()), str(self.dir / ("spec.detach" if detach else "spec.fg"))]

    def _mark_running(self, pid: int) -> None:
        self.record.move(State.RUNNING)
        self.record.pid = pid
        self.record.pid_start = process_start_time(pid) or 0
        self.record.started_at = time.time()
        self.save()

    def start(self, *, detach: bool = True, stdin=None, stdout=None, stderr=None):
        """Launch the helper. Detached: returns None once PID 1 runs. Foreground: the helper's Popen to wait on."""
        argv = self._helper_argv(detach)
        if not detach:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=stdout, stderr=stderr, close_fds=True)
            # The helper stays in the foreground; its pid marks the container as alive.
            self._mark_running(proc.pid)
            return proc
        # Detached output goes to the log files unless the caller (an attach relay) gives its own.
        opened = []
        if stdout is None:
            stdout = open(self.dir / "stdout.log", "ab")
            opened.append(stdout)
        if stderr is None:
            stderr = open(self.dir / "stderr.log", "ab")
            opened.append(stderr)
        try:
            # A new session: the container must not get the agent's terminal signals.
            result = subprocess.run(argv, stdin=subprocess.DEVNULL if stdin is None else stdin, stdout=stdout,
                                    stderr=stderr, start_new_session=True, check=False)
        finally:
            for handle in opened:
                handle.close()
        if result.returncode != 0:
            message = self.status_error() or f"paas-init exited with {result.returncode}"
            self.record.move(State.STOPPED)
            self.record.error = message
            self.record.exit_code = 125
            self.save()
            raise RuntimeLayerError(f"container {self.id} failed to start: {message}")
        self._mark_running(int((self.dir / "pid").read_text()))
        return None

    # -- watch ---------------------------------------------------------------

    def status_lines(self) -> list[str]:
        try:
            return (self.dir / "status").read_text().splitlines()
        except OSError:
            return []

    def status_error(self) -> str:
        for line in self.status_lines():
            if line.startswith("error "):
                return line[len("error "):]
        return ""

    def is_running(self) -> bool:
        if self.record.state is not State.RUNNING or not self.record.pid:
            return False
        return is_alive(self.record.pid, self.record.pid_start)

    def wait(self, timeout: float) -> bool:
        """True once PID 1 has exited (waits at most `timeout` seconds)."""
        if not self.record.pid:
            return True
        return wait_exit(self.record.pid, self.record.pid_start, timeout)

    def outcome(self, helper_code: int | None = None) -> Outcome:
        """Exit code and OOM verdict from the status file and the cgroup."""
        error = self.status_error()
        code = helper_code if helper_code is not None else 137  # PID 1 killed: nothing written
        for line in self.status_lines():
            kind, _, value = line.partition(" ")
            if kind == "exit" and value.isdigit():
                code = int(value)
            elif kind == "signal" and value.isdigit():
                code = 128 + int(value)
        if error:
            code = 125
        oom = self.cgroup.oom_killed()
        if oom and code in (128 + signal.SIGKILL, 125):
            code = 128 + signal.SIGKILL
        return Outcome(exit_code=code, oom_killed=oom, error=error)

    def stats(self) -> dict:
        cg = self.cgroup
        return {"memory_bytes": cg.memory_usage(), "cpu_ns": cg.cpu_usage_ns()}

    # -- stop ----------------------------------------------------------------

    def signal(self, sig: int) -> None:
        if self.is_running():
            try:
                os.kill(self.record.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace: float | None = None) -> Outcome:
        """SIGTERM (forwarded by PID 1 to the app), then SIGKILL after `grace` seconds."""
        if grace is None:
            grace = self.record.stop_grace if self.record.stop_grace is not None else config.STOP_GRACE_SECONDS
        if self.record.state is State.RUNNING:
            freezer.thaw(self.id)  # a frozen app would get SIGTERM only at its grace's end
            self.signal(signal.SIGTERM)
            if not self.wait(grace):
                # Killing PID 1 makes the kernel kill every process of the namespace.
                self.signal(signal.SIGKILL)
                self.wait(5.0)
                self.cgroup.kill_all()
        return self.mark_stopped()

    def mark_stopped(self, helper_code: int | None = None) -> Outcome:
        """Record the outcome of a container whose PID 1 is gone."""
        if self.record.state is State.STOPPED:
            return Outcome(self.record.exit_code or 0, self.record.oom_killed, self.record.error)
        result = self.outcome(helper_code)
        self.record.move(State.STOPPED)
        self.record.exit_code = result.exit_code
        self.record.oom_killed = result.oom_killed
        self.record.error = result.error
        self.record.finished_at = time.time()
        self.save()
        return result

    def remove(self) -> None:
        """Release everything on the host: processes, cgroup, network, files."""
        if self.record.state is State.RUNNING:
            raise StateError(f"container {self.id} is running; stop it first")
        release(self.id, self.record.network.get("mode"))


def release(container_id: str, network_mode: str | None = None) -> None:
    """Remove whatever a container left on this host; safe to call for a half-made or unknown one.

    `network_mode`, when known, spares looking for network leftovers a mode cannot have.
    """
    _remove_cgroup(container_id, cgroups.cgroup_for(container_id))
    network.detach(container_id, network.Attachment(mode=network_mode) if network_mode else None)
    _remove_tree(str(instance_dir(container_id)))


def _remove_cgroup(container_id: str, cg: cgroups.Cgroup) -> None:
    """Kill what is left and remove the cgroup. On cgroup v1 a frozen process does not die of
    SIGKILL until thawed, and another agent may freeze it again meanwhile: each try thaws first."""
    for attempt in range(3):
        freezer.thaw(container_id)
        cg.kill_all()
        try:
            cg.remove(timeout=2.0)
            break
        except CgroupError:
            if attempt == 2:
                raise
    freezer.remove(container_id)


def _remove_tree(path: str) -> None:
    """``rm -rf`` of an instance directory, errors ignored; symlinks are removed, never followed.

    The directory holds only what create wrote (the container's writable layer
    is a tmpfs in its own mount namespace, so the host sees `scratch` empty);
    rmtree's descriptor-based walk does not follow a link planted there.
    """
    shutil.rmtree(path, ignore_errors=True)


def create(spec: ContainerSpec) -> Container:
    """Validate and prepare a container on the host; it is CREATED, nothing of it runs yet."""
    # 1. Bad input is refused before anything exists on the host.
    view = validate(spec)
    uid, gid = resolve_user(view, spec.user)
    directory = new_instance_dir(spec.id)
    record = Record(id=spec.id, labels=spec.labels(), stop_grace=spec.stop_grace)
    try:
        (directory / "scratch").mkdir()
        # 2. The cgroup exists with its limits before any process does; the
        #    helper joins it first thing, so user code never runs unlimited.
        cgroups.cgroup_for(spec.id).create(spec.limits)
        # 3. The network namespace is complete before the helper setns()es into it.
        att = network.attach(spec.id, spec.network, spec.publish)
        record.network = att.to_dict()
        # 4. Generated /etc files form the topmost read-only layer.
        etc = directory / "etclayer" / "etc"
        etc.mkdir(parents=True)
        files = _etc_files(spec, att)
        if spec.user_name:
            files.update(_account_files(spec, view, uid))  # validate made sure gid == uid
        for name, text in files.items():
            (etc / name).write_text(text)
            os.chmod(etc / name, 0o644)
        # Readable by the app whatever our umask (the agent's or an operator's).
        os.chmod(etc, 0o755)
        os.chmod(etc.parent, 0o755)
        layers = [directory / "etclayer", *spec.layers]
        for detach in (True, False):
            tokens = _spec_tokens(spec, directory, layers, uid, gid, att, detach)
            (directory / ("spec.detach" if detach else "spec.fg")).write_bytes(
                b"".join(t.encode() + b"\0" for t in tokens))
        record.save(directory)
    except BaseException:
        release(spec.id)
        raise
    return Container(record)


def run(spec: ContainerSpec, *, stdin=None, stdout=None, stderr=None) -> Outcome:
    """Run a container in the foreground (stdio attached) and remove it; like ``runc run``."""
    container = create(spec)
    try:
        helper = container.start(detach=False, stdin=stdin, stdout=stdout, stderr=stderr)
        # Ctrl-C reaches the whole foreground process group, the app included;
        # we stay to clean up, and relay a SIGTERM sent to us alone.
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
        previous[signal.SIGTERM] = signal.signal(signal.SIGTERM, lambda s, f: helper.send_signal(s))
        try:
            # The exit code, or -N after signal N.
            code = helper.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return container.mark_stopped(helper_code=code)
    finally:
        release(spec.id, spec.network)
