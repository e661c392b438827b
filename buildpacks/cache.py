"""The per-app build cache directory: one build at a time, and emptying it.

Buildpacks keep installed dependencies in CACHE_DIR and replace them in
several steps; two builds of one app sharing it at once would leave a
mixed tree. A flock on CACHE_DIR/.lock serialises them on one host.
"""

import contextlib
import fcntl
import os
import shutil

LOCK_NAME = ".lock"


@contextlib.contextmanager
def locked(cache_dir: str, on_wait=lambda: None):
    """Hold the cache's lock for the body; on_wait() is called once if another build holds it."""
    fd = os.open(os.path.join(cache_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def clear(cache_dir: str) -> None:
    """Empty an app's build cache (`paas builds:cache:clear`), waiting for a running build."""
    with locked(cache_dir):
        for entry in os.scandir(cache_dir):
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
