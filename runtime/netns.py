"""Named network namespaces, kept as ``ip netns`` keeps them.

A namespace is a file under /run/netns bind-mounted over it, so it outlives the
process that made it (and an agent restart), and ``ip netns`` tools see ours.

Namespaces are made and entered from a thread started for it: in Linux a
network namespace belongs to a thread, so the one that unshares or setns()es
carries it and ends, while the caller and the agent's other threads stay in
theirs whatever goes wrong. What that thread opens (a netlink socket) or starts
(a process) belongs to the namespace.
"""

import errno
import os
import threading
from pathlib import Path

from . import syscalls
from .errors import NetworkError


def _in_thread(fn):
    """fn() in a new thread; its result, or its exception raised here."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def _share(directory: Path) -> None:
    """Make the namespaces' directory a shared mount (bound over itself first when it is none, as
    iproute2 does), so a namespace mounted later shows in mount namespaces made before."""
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    try:
        syscalls.mount("", str(directory), syscalls.MS_SHARED | syscalls.MS_REC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: not a mount point yet
            raise
        syscalls.mount(str(directory), str(directory), syscalls.MS_BIND | syscalls.MS_REC)
        syscalls.mount("", str(directory), syscalls.MS_SHARED | syscalls.MS_REC)


def create(path: Path) -> None:
    """A new, empty network namespace, kept at `path` (loopback only, down)."""
    try:
        _share(path.parent)
        os.close(os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0))
    except OSError as exc:
        raise NetworkError(f"making network namespace {path.name}: {exc.strerror}") from None

    def unshared() -> None:
        os.unshare(os.CLONE_NEWNET)
        syscalls.mount("/proc/thread-self/ns/net", str(path), syscalls.MS_BIND)

    try:
        _in_thread(unshared)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise NetworkError(f"making network namespace {path.name}: {exc.strerror}") from None


def remove(path: Path) -> bool:
    """Take the namespace's file away (the namespace goes with its last user); False if there was none."""
    if not os.path.lexists(path):
        return False
    try:
        syscalls.umount(str(path))
    except OSError:
        pass  # not mounted (a half-made one): the file alone is left
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def run_in(path: Path | str, fn):
    """fn() in the network namespace at `path`, from a thread of its own; its result."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise NetworkError(f"entering network namespace {Path(path).name}: {exc.strerror}") from None

    def inside():
        try:
            os.setns(fd, os.CLONE_NEWNET)
        finally:
            os.close(fd)
        return fn()

    return _in_thread(inside)
