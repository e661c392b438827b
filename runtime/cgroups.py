"""cgroup v1 and v2 behind one small interface: create with limits, join, read, kill, remove.

The host decides the version: v2 when a cgroup2 mount offers the memory, cpu and
pids controllers, otherwise the v1 per-controller hierarchies. PAAS_CGROUP_VERSION
(1 or 2) overrides the choice.
"""

import abc
import errno
import os
import signal
import time
from pathlib import Path

from . import config
from .errors import CgroupError
from .spec import Limits

CFS_PERIOD_US = 100_000
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")


def _write(path: Path, value) -> None:
    try:
        path.write_text(str(value))
    except OSError as exc:
        raise CgroupError(f"writing {value!r} to {path}: {exc.strerror}") from None


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _keyed(text: str) -> dict[str, int]:
    """Parse 'key value' lines such as memory.events or memory.oom_control."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def _mounts() -> list[tuple[str, str, str]]:
    rows = []
    for line in _read(Path("/proc/self/mounts")).splitlines():
        fields = line.split()
        if len(fields) >= 4:
            rows.append((fields[1], fields[2], fields[3]))
    return rows


class Cgroup(abc.ABC):
    """One container's cgroup; subclasses know where the files are."""

    version = 0

    def __init__(self, name: str):
        self.name = name

    @abc.abstractmethod
    def dirs(self) -> list[Path]:
        """Every directory this cgroup has (one per v1 controller, one in v2)."""

    def procs_files(self) -> list[Path]:
        """The cgroup.procs files a process writes its pid to in order to join."""
        return [d / "cgroup.procs" for d in self.dirs()]

    def exists(self) -> bool:
        return any(d.is_dir() for d in self.dirs())

    def pids(self) -> set[int]:
        found: set[int] = set()
        for f in self.procs_files():
            found.update(int(p) for p in _read(f).split())
        return found

    def kill_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self, timeout: float = 5.0) -> None:
        """Kill what is left and remove the directories; waits for the kernel to let go."""
        deadline = time.monotonic() + timeout
        for d in self.dirs():
            while d.is_dir():
                self.kill_all()
                try:
                    d.rmdir()
                except OSError as exc:
                    if exc.errno == errno.ENOENT:
                        break
                    if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise CgroupError(f"removing {d}: {exc.strerror}") from None
                    time.sleep(0.01)


class V1Cgroup(Cgroup):
    """One directory per controller hierarchy (/sys/fs/cgroup/<controller>/paas/<name>)."""

    version = 1

    def __init__(self, name: str, root: Path = Path("/sys/fs/cgroup")):
        super().__init__(name)
        self.root = root

    def dir(self, controller: str) -> Path:
        return self.root / controller / config.CGROUP_PARENT / self.name

    def dirs(self) -> list[Path]:
        return [self.dir(c) for c in V1_CONTROLLERS if (self.root / c).is_dir()]

    def create(self, limits: Limits) -> None:
        for d in self.dirs():
            d.mkdir(parents=True, exist_ok=True)
        mem = self.dir("memory")
        _write(mem / "memory.limit_in_bytes", limits.memory)
        # memsw = memory + swap: setting it equal to the limit forbids swap.
        # It exists only when the kernel accounts swap.
        if (mem / "memory.memsw.limit_in_bytes").exists():
            _write(mem / "memory.memsw.limit_in_bytes", limits.memory)
        _write(mem / "memory.swappiness", 0)
        cpu = self.dir("cpu")
        _write(cpu / "cpu.shares", limits.cpu_shares)
        _write(cpu / "cpu.cfs_period_us", CFS_PERIOD_US)
        self.set_cpu_quota(limits.cpus)
        _write(self.dir("pids") / "pids.max", limits.pids)

    def set_cpu_quota(self, cpus: float | None) -> None:
        """The group's CPU cap in CPUs (None: none); changed while it runs by the agent's startup boost."""
        _write(self.dir("cpu") / "cpu.cfs_quota_us", int(cpus * CFS_PERIOD_US) if cpus else -1)

    def oom_killed(self) -> bool:
        # oom_kill counts kills (kernel >= 4.13); under_oom catches a group frozen mid-OOM.
        control = _keyed(_read(self.dir("memory") / "memory.oom_control"))
        return control.get("oom_kill", 0) > 0 or control.get("under_oom", 0) > 0

    def memory_usage(self) -> int:
        return int(_read(self.dir("memory") / "memory.usage_in_bytes") or 0)

    def cpu_usage_ns(self) -> int:
        return int(_read(self.dir("cpuacct") / "cpuacct.usage") or 0)


class V2Cgroup(Cgroup):
    """One directory in the unified hierarchy."""

    version = 2

    def __init__(self, name: str, root: Path):
        super().__init__(name)
        self.root = root

    @property
    def path(self) -> Path:
        return self.root / config.CGROUP_PARENT / self.name

    def dirs(self) -> list[Path]:
        return [self.path]

    def create(self, limits: Limits) -> None:
        parent = self.root / config.CGROUP_PARENT
        parent.mkdir(exist_ok=True)
        # Controllers must be enabled on every level above the leaf.
        wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        _write(self.root / "cgroup.subtree_control", wanted)
        _write(parent / "cgroup.subtree_control", wanted)
        self.path.mkdir(exist_ok=True)
        _write(self.path / "memory.max", limits.memory)
        if (self.path / "memory.swap.max").exists():
            _write(self.path / "memory.swap.max", 0)
        self.set_cpu_quota(limits.cpus)
        # The documented shares -> weight mapping (runc's ConvertCPUSharesToCgroupV2Value).
        _write(self.path / "cpu.weight", 1 + ((limits.cpu_shares - 2) * 9999) // 262142)
        _write(self.path / "pids.max", limits.pids)

    def set_cpu_quota(self, cpus: float | None) -> None:
        """The group's CPU cap in CPUs (None: none); changed while it runs by the agent's startup boost."""
        quota = int(cpus * CFS_PERIOD_US) if cpus else "max"
        _write(self.path / "cpu.max", f"{quota} {CFS_PERIOD_US}")

    def kill_all(self) -> None:
        kill = self.path / "cgroup.kill"
        if kill.exists():
            try:
                kill.write_text("1")
                return
            except OSError:
                pass
        super().kill_all()

    def oom_killed(self) -> bool:
        return _keyed(_read(self.path / "memory.events")).get("oom_kill", 0) > 0

    def memory_usage(self) -> int:
        return int(_read(self.path / "memory.current") or 0)

    def cpu_usage_ns(self) -> int:
        return _keyed(_read(self.path / "cpu.stat")).get("usage_usec", 0) * 1000


_V2_ROOT: list = []  # the answer of _v2_root, once found: mounts do not change under a running runtime


def _v2_root() -> Path | None:
    if _V2_ROOT:
        return _V2_ROOT[0]
    root = _find_v2_root()
    _V2_ROOT.append(root)
    return root


def _find_v2_root() -> Path | None:
    for target, fstype, _ in _mounts():
        if fstype == "cgroup2":
            controllers = _read(Path(target) / "cgroup.controllers").split()
            if all(c in controllers for c in V2_CONTROLLERS):
                return Path(target)
    return None


def version() -> int:
    forced = config.cgroup_version()
    if forced is not None:
        return forced
    if _v2_root() is not None:
        return 2
    if os.path.exists("/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        return 1
    raise CgroupError("no usable cgroup hierarchy: need cgroup v2 with memory,cpu,pids or the v1 controllers")


def cgroup_for(name: str) -> Cgroup:
    """The cgroup of the container `name`, for the host's cgroup version."""
    if version() == 2:
        root = _v2_root()
        if root is None:
            raise CgroupError("cgroup v2 was asked for but no cgroup2 mount has memory, cpu and pids")
        return V2Cgroup(name, root)
    return V1Cgroup(name)

