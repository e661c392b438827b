"""The per-app build cache directory: one build at a time, and emptying it.

Buildpacks keep installed dependencies in CACHE_DIR and replace them in
several steps; two builds of one app sharing it at once would leave a
mixed tree. A flock serialises them on one host.

The lock is taken on the cache directory itself, opened with
O_DIRECTORY|O_NOFOLLOW, not on a file inside it: the build writes in that
directory (it is CACHE_DIR), so any name in it may be a link the build
planted, and opening one with O_CREAT would create or truncate a file
wherever it points, as root. Locking the directory creates nothing.
"""

import contextlib
import fcntl
import os
import shutil
import stat

from .errors import BuildError
from .tenantfs import DIR_FLAGS


@contextlib.contextmanager
def locked(cache_dir: str, on_wait=lambda: None):
    """Hold the cache's lock for the body; on_wait() is called once if another build holds it.

    cache_dir is made by the platform; it must be a directory, not a link to one.
    """
    try:
        fd = os.open(cache_dir, DIR_FLAGS)
    except OSError as exc:
        raise BuildError(f"the build cache {cache_dir} cannot be opened as a directory: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def clear(cache_dir: str) -> None:
    """Empty an app's build cache (`paas builds:cache:clear`), waiting for a running build.

    Entries are removed relative to the locked directory's descriptor and
    links are removed, never followed, whatever the build left there.
    """
    with locked(cache_dir) as fd:
        for name in os.listdir(fd):
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(name, dir_fd=fd)
            else:
                os.unlink(name, dir_fd=fd)
