"""Freezing a container: its processes get no CPU and keep their memory, until thawed.

A frozen instance is an app asleep that wakes at once (runtime/sleep.py decides when).
cgroup v2 has ``cgroup.freeze`` in the container's own cgroup. cgroup v1 has a
``freezer`` hierarchy of its own, which containers do not join when they start (the
runner's controllers are memory, cpu, cpuacct and pids): the first freeze moves the
container's processes into ``freezer/<parent>/<name>/``; children they fork later are
born where their parent is.

Workers thaw before their supervisors (v1). The clock runs on while an app is frozen, so
a supervisor that watches its workers' heartbeats (gunicorn's arbiter, unicorn's master)
would, thawed together with them, find every worker silent for the whole sleep and kill
it, and the request that woke the app would wait for a new worker to boot. So processes
with children (supervisors) go into ``supervisors/``, the others into ``workers/``; a thaw
lets the workers run first (until each has run and is waiting again, its heartbeat sent, at
most ``HEAD_START_S``), then the supervisors. With v2's single ``cgroup.freeze`` the whole container thaws at once.

Thawing never waits for anything but that head start: it is on the path of a request to a
sleeping app. Freezing waits (briefly) for the kernel to report the group frozen, so a
caller that saw ``freeze`` return knows the app is using no CPU.
"""

import time
from pathlib import Path

from . import cgroups, config
from .errors import CgroupError

V1_ROOT = Path("/sys/fs/cgroup/freezer")
FREEZE_TIMEOUT_S = 2.0   # a group with a task in uninterruptible sleep may take a moment to freeze
JOIN_ROUNDS = 20         # moving pids races with forks: repeat until every pid is in
HEAD_START_S = 0.03      # the most the supervisors wait for their workers to have run and settled
GROUPS = ("supervisors", "workers")   # the freezing order; thawing is the reverse


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
    for group in GROUPS:
        (directory / group).mkdir(parents=True, exist_ok=True)
    _join_v1(cg, directory)
    for group in GROUPS:
        _write(directory / group / "freezer.state", "FROZEN")
    _wait(lambda: all(_read(directory / g / "freezer.state").strip() == "FROZEN" for g in GROUPS), name)
    # A process forked while the others were moving is still outside: moved into a frozen
    # group, it freezes on arrival.
    _join_v1(cg, directory)


def _has_children(pid: int) -> bool:
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        return any(_read(task / "children").strip() for task in tasks)
    except OSError:
        return False


def _join_v1(cg: cgroups.Cgroup, directory: Path) -> None:
    for _ in range(JOIN_ROUNDS):
        inside = set()
        for group in GROUPS:
            inside |= {int(p) for p in _read(directory / group / "cgroup.procs").split()}
        outside = cg.pids() - inside
        if not outside:
            return
        for pid in outside:
            group = "supervisors" if _has_children(pid) else "workers"
            try:
                (directory / group / "cgroup.procs").write_text(str(pid))
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


def _run_ns(pid: str) -> int:
    """Nanoseconds pid has run on a CPU (schedstat); -1 once it is gone."""
    text = _read(Path(f"/proc/{pid}/schedstat")).split()
    return int(text[0]) if text else -1


def _settled(pid: str, ran_before: int) -> bool:
    """Has the worker run since the thaw and gone back to waiting (its heartbeat done)? Or is it gone?"""
    ran = _run_ns(pid)
    if ran < 0:
        return True
    state = _read(Path(f"/proc/{pid}/stat")).rpartition(")")[2].split()[:1]
    return ran > ran_before and state != ["R"]


def thaw(name: str) -> None:
    """Let container ``name`` run again, workers first (nothing to do if it is not frozen)."""
    path = _v2_path(cgroups.cgroup_for(name))
    if path is not None:
        if (path / "cgroup.freeze").exists():
            _write(path / "cgroup.freeze", "0")
        return
    directory = v1_dir(name)
    workers, supervisors = directory / "workers", directory / "supervisors"
    if not workers.is_dir():
        return
    pids = _read(workers / "cgroup.procs").split()
    before = {pid: _run_ns(pid) for pid in pids}
    _write(workers / "freezer.state", "THAWED")
    if _read(supervisors / "freezer.state").strip() == "THAWED":
        return
    deadline = time.monotonic() + HEAD_START_S
    while time.monotonic() < deadline and not all(_settled(pid, ran) for pid, ran in before.items()):
        time.sleep(0.0005)
    _write(supervisors / "freezer.state", "THAWED")


def is_frozen(name: str) -> bool:
    """True while container ``name`` is frozen (or on its way to frozen)."""
    path = _v2_path(cgroups.cgroup_for(name))
    if path is not None:
        return _read(path / "cgroup.freeze").strip() == "1"
    return any(_read(v1_dir(name) / g / "freezer.state").strip() in ("FROZEN", "FREEZING") for g in GROUPS)


def remove(name: str) -> None:
    """Thaw (a frozen process cannot even die) and, on v1, remove the freezer groups."""
    thaw(name)
    directory = v1_dir(name)
    if _v2_path(cgroups.cgroup_for(name)) is not None or not directory.is_dir():
        return
    for path in (directory / "workers", directory / "supervisors", directory):
        try:
            path.rmdir()
        except OSError:
            pass  # processes still in it: the container's own removal kills them, the sweep retries
