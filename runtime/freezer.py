"""Freezing a container: its processes get no CPU and keep their memory, until thawed.

A frozen instance is an app asleep that wakes at once (runtime/sleep.py decides when).
cgroup v2 has ``cgroup.freeze`` in the container's own cgroup. cgroup v1 has a
``freezer`` hierarchy of its own, which containers do not join when they start (the
runner's controllers are memory, cpu, cpuacct and pids): the first freeze moves the
container's processes into ``freezer/<parent>/<name>``; children they fork later are
born there.

Thawing is one write and never waits: it is on the path of a request to a sleeping
app. Freezing waits (briefly) for the kernel to report the group frozen, so a caller
that saw ``freeze`` return knows the app is using no CPU.
"""

import time
from pathlib import Path

from . import cgroups, config
from .errors import CgroupError

V1_ROOT = Path("/sys/fs/cgroup/freezer")
FREEZE_TIMEOUT_S = 2.0   # a group with a task in uninterruptible sleep may take a moment to freeze
JOIN_ROUNDS = 20         # moving pids races with forks: repeat until every pid is in


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as exc:
        raise CgroupError(f"writing {value!r} to {path}: {exc.strerror}") from None


def v1_dir(name: str) -> Path:
    return V1_ROOT / config.CGROUP_PARENT / name


def _v2_path(cg: cgroups.Cgroup) -> Path | None:
    return cg.path if isinstance(cg, cgroups.V2Cgroup) else None


def freeze(name: str) -> None:
    """Freeze every process of container ``name``; returns once the kernel says it is frozen."""
    cg = cgroups.cgroup_for(name)
    if not cg.exists():
        raise CgroupError(f"{name}: no such container cgroup to freeze")
    path = _v2_path(cg)
    if path is not None:
        _write(path / "cgroup.freeze", "1")
        _wait(lambda: "frozen 1" in _read(path / "cgroup.events").splitlines(), name)
        return
    directory = v1_dir(name)
    directory.mkdir(parents=True, exist_ok=True)
    _join_v1(cg, directory)
    _write(directory / "freezer.state", "FROZEN")
    _wait(lambda: _read(directory / "freezer.state").strip() == "FROZEN", name)
    # A process forked while the others were moving is still outside: moved into a frozen
    # group, it freezes on arrival.
    _join_v1(cg, directory)


def _join_v1(cg: cgroups.Cgroup, directory: Path) -> None:
    procs = directory / "cgroup.procs"
    for _ in range(JOIN_ROUNDS):
        outside = cg.pids() - {int(p) for p in _read(procs).split()}
        if not outside:
            return
        for pid in outside:
            try:
                procs.write_text(str(pid))
            except OSError:
                pass  # it exited meanwhile; the next round looks again
    raise CgroupError(f"{cg.name}: processes kept appearing outside the freezer group")


def _wait(done, name: str) -> None:
    deadline = time.monotonic() + FREEZE_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            thaw(name)  # half frozen helps no one: leave it running
            raise CgroupError(f"{name}: not frozen after {FREEZE_TIMEOUT_S} s")
        time.sleep(0.001)


def thaw(name: str) -> None:
    """Let container ``name`` run again (nothing to do if it is not frozen)."""
    path = _v2_path(cgroups.cgroup_for(name))
    target = (path / "cgroup.freeze", "0") if path is not None else (v1_dir(name) / "freezer.state", "THAWED")
    if target[0].exists():
        _write(*target)


def is_frozen(name: str) -> bool:
    """True while container ``name`` is frozen (or on its way to frozen)."""
    path = _v2_path(cgroups.cgroup_for(name))
    if path is not None:
        return _read(path / "cgroup.freeze").strip() == "1"
    return _read(v1_dir(name) / "freezer.state").strip() in ("FROZEN", "FREEZING")


def remove(name: str) -> None:
    """Thaw (a frozen process cannot even die) and, on v1, remove the freezer group."""
    thaw(name)
    directory = v1_dir(name)
    if _v2_path(cgroups.cgroup_for(name)) is None and directory.is_dir():
        try:
            directory.rmdir()
        except OSError:
            pass  # processes still in it: the container's own removal kills them, the sweep retries
