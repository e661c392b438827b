"""Dependency trees taken over from the app's previous slug by hard links, not copies.

A buildpack whose dependencies are unchanged (same lock file, same interpreter)
may leave the tree as a symbolic link to the same path under $PAAS_PREVIOUS_APP
(``/app/.paas/python -> /build/previous/.paas/python``) instead of copying it:
on this machine's disk creating a file costs 0.3-3 ms (ext4 inode allocation),
so copying a Flask app's ~540 entries was most of a warm build. Once every
build step has run, `materialize` replaces each such link with the previous
tree: directories made anew, every file a hard link to the previous one.

Why sharing the files is safe: the previous tree is the layer of the app's
last slug on this host (runtime/images.py), owned by the app's uid and only
ever read (an instance sees it as an overlay lower layer; nothing writes a
layer after it is made); the links are made after the last build step, so no
step of the (hostile) build ever sees the shared files, let alone writes,
chmods or chowns them; the new layer is adopted by the same uid with the modes
it already has (slugtree.as_unpacked). Where the previous tree is on another
file system, its files are copied.

Only what the slug could have held anyway is taken: a link named like a
dependency segment (segments.reusable: ``node_modules``, ``.paas/python``,
...) whose target is exactly that path under the previous slug. Any other
link stays a link, and the packer refuses it if it leaves /app.
"""

import errno
import os
import shutil
import stat

from . import layout, segments, tenantfs
from .errors import BuildError


def materialize(app_dir: str, previous_dir: str | None) -> list[str]:
    """Replace each dependency link into the previous slug with that tree; returns the paths taken over."""
    if not previous_dir:
        return []
    taken = []
    with tenantfs.root_fd(app_dir) as root:
        for parent, name in _candidates(root):
            rel = f"{parent}/{name}" if parent else name
            try:
                parent_fd = os.open(parent, tenantfs.DIR_FLAGS, dir_fd=root) if parent else os.dup(root)
            except OSError:
                continue  # not a plain directory: nothing of ours to take over there
            try:
                if _points_at_previous(parent_fd, name, rel, previous_dir):
                    _take_over(previous_dir, parent_fd, name, rel)
                    taken.append(rel)
            finally:
                os.close(parent_fd)
    return taken


def wanted_target(rel: str, previous_dir: str) -> tuple[str, ...]:
    """The link targets that name `rel` of the previous slug: as a build container sees it, and as
    the local executor (which runs steps on the host, previous_dir unmoved) does."""
    return (f"{layout.PREVIOUS_DIR}/{rel}", os.path.join(previous_dir, rel))


def _candidates(root: int):
    """(parent, name) of every entry that may be a dependency segment: top-level names and names
    one level inside a top-level dot-directory (segments.segment_of)."""
    # Listed first: taking one over changes the directory being read.
    for entry in list(os.scandir(root)):
        if segments.reusable(entry.name):
            yield "", entry.name
        if entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
            try:
                inner = os.open(entry.name, tenantfs.DIR_FLAGS, dir_fd=root)
            except OSError:
                continue
            try:
                names = [e.name for e in os.scandir(inner)]
            finally:
                os.close(inner)
            yield from ((entry.name, n) for n in names if segments.reusable(f"{entry.name}/{n}"))


def _points_at_previous(parent_fd: int, name: str, rel: str, previous_dir: str) -> bool:
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return stat.S_ISLNK(st.st_mode) and os.readlink(name, dir_fd=parent_fd) in wanted_target(rel, previous_dir)


def _open_previous(previous_dir: str, rel: str) -> int | None:
    """The directory `rel` of the previous slug, each component opened without following a link
    (a slug may hold links inside itself; the tree taken over is the one at that very path)."""
    fd = os.open(previous_dir, tenantfs.DIR_FLAGS)
    for part in rel.split("/"):
        try:
            inner = os.open(part, tenantfs.DIR_FLAGS, dir_fd=fd)
        except OSError:
            inner = None
        os.close(fd)
        if inner is None:
            return None
        fd = inner
    return fd


def _take_over(previous_dir: str, parent_fd: int, name: str, rel: str) -> None:
    """The link `name` in parent_fd becomes a directory holding the tree `rel` of the previous slug."""
    src = _open_previous(previous_dir, rel)
    if src is None:
        raise BuildError(f"the buildpack left {tenantfs.shown(rel)} as a link to the previous slug, "
                         "which has no such directory")
    try:
        os.unlink(name, dir_fd=parent_fd)
        _make_dir(src, parent_fd, name)
    finally:
        os.close(src)


def _make_dir(src: int, parent_fd: int, name: str) -> None:
    """Directory `name` in parent_fd with src's entries, then src's mode and times (after its
    entries: adding them changes a directory's time; the segment key covers it)."""
    st = os.fstat(src)
    os.mkdir(name, 0o700, dir_fd=parent_fd)
    dst = os.open(name, tenantfs.DIR_FLAGS, dir_fd=parent_fd)
    try:
        for entry in os.scandir(src):
            _take_entry(src, dst, entry.name)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    finally:
        os.close(dst)


def _take_entry(src: int, dst: int, name: str) -> None:
    st = os.stat(name, dir_fd=src, follow_symlinks=False)
    if stat.S_ISDIR(st.st_mode):
        inner = os.open(name, tenantfs.DIR_FLAGS, dir_fd=src)
        try:
            _make_dir(inner, dst, name)
        finally:
            os.close(inner)
    elif stat.S_ISREG(st.st_mode):
        _link_file(src, dst, name)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)
    # Nothing else is in a layer (an unpack and an adopt take only these three kinds).


def _link_file(src: int, dst: int, name: str) -> None:
    try:
        os.link(name, name, src_dir_fd=src, dst_dir_fd=dst, follow_symlinks=False)
        return
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK):
            raise
    # Another file system (or a link count at its limit): the file's bytes, mode and times.
    fd, st = tenantfs.open_regular(src, name, name)
    with os.fdopen(fd, "rb") as reader:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                      stat.S_IMODE(st.st_mode), dir_fd=dst)
        with os.fdopen(out, "wb") as writer:
            shutil.copyfileobj(reader, writer)
            writer.flush()  # before the times: a later write would change them
            os.chmod(writer.fileno(), stat.S_IMODE(st.st_mode))
            os.utime(writer.fileno(), ns=(st.st_atime_ns, st.st_mtime_ns))
