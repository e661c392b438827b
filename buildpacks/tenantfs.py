"""Reading a tree a build wrote: the one way the platform opens what a tenant produced.

A build's compile step runs the pushed code, and the build worker (root, on
the host) reads the result afterwards: the Procfile, `.slugignore`,
`.buildpacks`, the whole tree for the slug. Inside the build container a
symlink resolves against the container's root; on the host it resolves
against the host's, so `ln -s /root/.paas/admin-token Procfile` would make
the worker open a host file. Every reader here therefore:

- walks the path one component at a time from a directory descriptor, each
  component opened with O_NOFOLLOW (a directory also with O_DIRECTORY), so a
  link at any component fails instead of being followed;
- checks the kind with lstat before opening (a FIFO or device is never
  opened, so it cannot block or have side effects), opens with O_NONBLOCK
  anyway and checks again with fstat that the same regular file was opened
  (a swap between the two fails);
- caps the size before reading and while reading;
- raises TreeError naming the file and the rule it broke, never its content.

Hard links need no rule of their own: link() resolves both paths inside the
build container, so a hard link only reaches a file the build could read there.
"""

import errno
import os
import stat
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from .errors import BuildError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO that appeared after the lstat must not wait for a writer.
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# Deeper than any real app tree (PATH_MAX is 4096 bytes); a deeper one is a
# build trying to exhaust the worker's file descriptors or stack.
MAX_DEPTH = 128


class TreeError(BuildError):
    """Something in a build's tree broke a reading rule; str() names the file and the rule."""


def kind(mode: int) -> str:
    """'a symbolic link', 'a FIFO', ... for a st_mode; the words errors use."""
    for test, words in (
        (stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"), (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return words
    return "a file of unknown kind"


def shown(rel: str) -> str:
    """A tenant-chosen path as errors print it: quoted, escaped, at most 200 characters."""
    text = repr(rel)
    return text if len(text) <= 200 else text[:197] + "..."


def _components(rel: str) -> list[str]:
    parts = rel.split("/")
    if not parts or any(p in ("", ".", "..") for p in parts):
        # rel comes from the platform's own constants; this guards against misuse.
        raise ValueError(f"not a plain relative path: {rel!r}")
    return parts


def open_root(path: str) -> int:
    """A descriptor of the tree's root directory (path made by the platform; its last component no link)."""
    try:
        return os.open(path, DIR_FLAGS)
    except OSError as exc:
        raise TreeError(f"the build directory {path} cannot be opened as a directory: {exc.strerror}") from None


@contextmanager
def root_fd(path: str) -> Iterator[int]:
    """open_root as a context manager that closes the descriptor."""
    fd = open_root(path)
    try:
        yield fd
    finally:
        os.close(fd)


def _open_dir_at(dir_fd: int, name: str, shown_as: str) -> int | None:
    """Open subdirectory name of dir_fd without following a link; None when missing."""
    try:
        fd = os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            raise TreeError(f"{shown_as} must be a directory, not {kind(st.st_mode)}") from None
        raise TreeError(f"{shown_as} cannot be opened: {exc.strerror}") from None
    return fd


def open_regular(dir_fd: int, name: str, label: str) -> tuple[int, os.stat_result]:
    """Open the regular file `name` in dir_fd for reading: (fd, fstat); TreeError for any other kind."""
    st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if not stat.S_ISREG(st.st_mode):
        raise TreeError(f"{label} must be a regular file, not {kind(st.st_mode)}")
    try:
        fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # replaced by a link since the lstat
            raise TreeError(f"{label} must be a regular file, not a symbolic link") from None
        raise TreeError(f"{label} cannot be opened: {exc.strerror}") from None
    opened = os.fstat(fd)
    if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
        os.close(fd)
        raise TreeError(f"{label} changed while it was being opened; it must stay a regular file")
    return fd, opened


def open_file(root: str, rel: str, label: str | None = None) -> tuple[int, os.stat_result] | None:
    """root/rel opened for reading, a regular file: (fd, fstat), or None when it does not exist.

    No component of rel may be a link; root itself is a directory the platform
    made. label names the file in errors (default: rel). The caller closes fd.
    """
    label = label or rel
    *dirs, name = _components(rel)
    with root_fd(root) as top:
        fd = os.dup(top)
        try:
            for i, part in enumerate(dirs):
                sub = _open_dir_at(fd, part, "/".join(dirs[: i + 1]) + f" (on the way to {label})")
                os.close(fd)
                fd = -1
                if sub is None:
                    return None
                fd = sub
            try:
                return open_regular(fd, name, label)
            except FileNotFoundError:
                return None
        finally:
            if fd >= 0:
                os.close(fd)


def read_file(root: str, rel: str, max_bytes: int, label: str | None = None) -> bytes | None:
    """The content of root/rel, a regular file of at most max_bytes; None when it does not exist.

    No component of rel may be a link; root itself is a directory the platform
    made. label names the file in errors (default: rel).
    """
    label = label or rel
    opened = open_file(root, rel, label)
    if opened is None:
        return None
    file_fd, st = opened
    with os.fdopen(file_fd, "rb") as f:
        if st.st_size > max_bytes:
            raise TreeError(f"{label} is {st.st_size} bytes, over its limit of {max_bytes} bytes")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew after the fstat
        raise TreeError(f"{label} is over its limit of {max_bytes} bytes")
    return data


@dataclass
class Entry:
    """One thing found by walk(): its path relative to the root, and where to reach it.

    dir_fd is the open directory holding it, valid only until the walk moves
    on; use it with `name` (openat-style) and never rebuild a path string.
    Setting prune on a directory entry stops the walk from descending into it.
    """

    rel: str
    name: str
    dir_fd: int
    st: os.stat_result
    prune: bool = False

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.st.st_mode)

    @property
    def is_link(self) -> bool:
        return stat.S_ISLNK(self.st.st_mode)

    @property
    def is_regular(self) -> bool:
        return stat.S_ISREG(self.st.st_mode)


def walk(root: str, skip_top: frozenset[str] = frozenset()) -> Iterator[Entry]:
    """Every entry below root, parents before children, names sorted; links are yielded, never followed.

    A directory is descended into only through a descriptor opened with
    O_NOFOLLOW|O_DIRECTORY and checked to be the directory lstat saw, so a
    symlinked directory (or one swapped for a link mid-walk) is never entered.
    skip_top: names at the top level to leave out entirely (e.g. ".git").
    """
    with root_fd(root) as top:
        yield from _walk_fd(top, "", skip_top, 0)


def _walk_fd(dir_fd: int, prefix: str, skip: frozenset[str], depth: int) -> Iterator[Entry]:
    if depth > MAX_DEPTH:
        raise TreeError(f"{shown(prefix.rstrip('/'))} is nested more than {MAX_DEPTH} directories deep")
    with os.scandir(dir_fd) as it:
        names = sorted(e.name for e in it if e.name not in skip)
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed meanwhile (e.g. by the caller, as .slugignore does)
        entry = Entry(rel=prefix + name, name=name, dir_fd=dir_fd, st=st)
        yield entry
        if not entry.is_dir or entry.prune:
            continue
        sub = _open_dir_at(dir_fd, name, shown(entry.rel))
        if sub is None:
            continue
        try:
            opened = os.fstat(sub)
            if (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
                raise TreeError(f"{shown(entry.rel)} changed while the tree was being read")
            yield from _walk_fd(sub, entry.rel + "/", frozenset(), depth + 1)
        finally:
            os.close(sub)


def link_escapes(root: str, rel: str, target: str) -> bool:
    """True when the link at root/rel with this target points outside the tree at root.

    The rule of tarfile's "data" filter, which unpacks slugs: an absolute
    target is outside; so is one whose path, resolved from the link's
    directory, climbs above the root, whether by its own ".." (checked
    lexically) or through other links of the tree (checked as the filter
    does, with realpath: it reads link targets only, never a file).
    """
    if os.path.isabs(target):
        return True
    inside = os.path.normpath(os.path.join("root", os.path.dirname(rel), target))
    if inside != "root" and not inside.startswith("root" + os.sep):
        return True
    real_root = os.path.realpath(root)
    resolved = os.path.realpath(os.path.join(real_root, os.path.dirname(rel), target))
    return os.path.commonpath([resolved, real_root]) != real_root
