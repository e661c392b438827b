"""Removing what crashed containers and killed runners left behind on this host.

A container is left over when its directory or address lease exists but no live
PID 1 (or foreground helper) belongs to it. Only this runtime's own directories
and leases name candidates: cgroups and network namespaces are host-wide, and
another data directory's (a second agent, a test run) must never be swept. That
loses nothing, because a container's directory is made before its cgroup and
network and removed after them, and its lease outlives its namespace.
Containers still being created are given a moment before they count as left over.
"""

import time

from . import config, ipam, ports
from .container import release
from .state import Record, State
from .syscalls import is_alive

CREATE_GRACE_SECONDS = 60.0


def _live(container_id: str) -> bool:
    try:
        record = Record.load(config.instances_dir() / container_id)
    except (OSError, ValueError):
        return False
    if record.state is State.RUNNING:
        return bool(record.pid) and is_alive(record.pid, record.pid_start)
    if record.state is State.CREATED:
        return time.time() - record.created_at < CREATE_GRACE_SECONDS
    return False


def _young_dir(container_id: str) -> bool:
    """A directory without state.json yet is a container being created right now."""
    path = config.instances_dir() / container_id
    try:
        return not (path / "state.json").exists() and time.time() - path.stat().st_mtime < CREATE_GRACE_SECONDS
    except OSError:
        return False


def leftovers(keep: set[str] = frozenset()) -> set[str]:
    """Ids of containers with something left on the host and nothing running."""
    root = config.instances_dir()
    ids = {p.name for p in root.iterdir()} if root.is_dir() else set()
    ids |= ipam.owners() | ports.owners()
    return {i for i in ids if i not in keep and not _live(i) and not _young_dir(i)}


def sweep(keep: set[str] = frozenset(), stopped_too: bool = True) -> list[str]:
    """Release every leftover; returns one line per container removed."""
    removed = []
    for container_id in sorted(leftovers(keep)):
        path = config.instances_dir() / container_id
        if not stopped_too and (path / "state.json").exists():
            continue
        release(container_id)
        removed.append(f"removed leftovers of {container_id}")
    return removed
