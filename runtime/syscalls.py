"""The few host-side process and mount calls Python needs, raising OSError with context.

The in-container syscalls (unshare, pivot_root, mount, capabilities, seccomp)
live in init/paas-init.c; these are the ones the supervising side makes.
"""

import functools
import os
import select

MNT_DETACH = 2


@functools.cache
def _libc():
    # ctypes is loaded on first use only: a container without a network namespace of ours never needs it.
    import ctypes
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        import ctypes
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return result


def umount(path: str) -> None:
    """Lazily unmount `path` (the leftover sweep; a network namespace's file)."""
    _check(_libc().umount2(path.encode(), MNT_DETACH), f"umount2 {path}")


MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20


def mount(source: str, target: str, flags: int) -> None:
    """mount(2) without a file system type or data: binds and propagation changes."""
    _check(_libc().mount(source.encode(), target.encode(), b"none", flags, None), f"mount {target}")


def process_start_time(pid: int) -> int | None:
    """The process' start time in clock ticks since boot, or None if it is gone or a zombie.

    A pid plus its start time names one process for good: pids are reused, start times are not.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: fields start after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def is_alive(pid: int, start_time: int) -> bool:
    return process_start_time(pid) == start_time


def wait_exit(pid: int, start_time: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for a process (not necessarily our child) to exit."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not is_alive(pid, start_time):
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        poller.poll(max(0, int(timeout * 1000)))
        return not is_alive(pid, start_time)
    finally:
        os.close(fd)


FALLOC_FL_KEEP_SIZE = 0x01
FALLOC_FL_PUNCH_HOLE = 0x02


def punch_hole(path: str, length: int) -> None:
    """Free the disk blocks of the first `length` bytes of a file, keeping its size and offsets.

    Safe while another process appends: sizes and offsets do not move, so a
    writer and a reader holding offsets never notice.
    """
    import ctypes

    libc = _libc()
    libc.fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long)
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        _check(libc.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, length), f"punch hole in {path}")
    finally:
        os.close(fd)
