"""One image layer (an uncompressed tar) unpacked safely as an overlay lower directory.

A layer comes from a tenant (an uploaded archive, a Dockerfile build): it is data,
unpacked without ever following one of its links on the host.

- Every member's path, resolved on the host after the members before it, stays
  inside the layer's directory (a member under a symlinked directory that points
  out, or written through a symlink that points out, is refused). Symlinks themselves
  are kept as written, absolute ones too: they are resolved inside the container's
  root, never here.
- Hard links must name a member inside the layer.
- Device nodes, pipes and sockets are refused: a layer with one is not stored.
- Owners are not taken from the archive: every file is root's. The unpacked layer
  is shared read-only by every app whose image has it (overlay writes go to each
  instance's own throwaway layer), so no tenant's uid may own it; an app sees it as
  Docker shows a non-root user an image's root-owned files.
- setuid and setgid bits are cleared (mounts are nosuid too).
- Whiteouts become what overlayfs reads: ``.wh.<name>`` an overlay whiteout (a 0/0
  character device, made here, never taken from the archive) hiding ``<name>`` of
  the layers below; ``.wh..wh..opq`` marks its directory opaque
  (``trusted.overlay.opaque``), so nothing of the layers below shows through it.
- At most ``max_bytes`` of file contents and ``max_members`` members.
"""

import os
import posixpath
import stat
import tarfile
from pathlib import Path

from .errors import ImageError

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
# A member's own mode bits we keep: setuid and setgid go, the sticky bit stays (a world-writable
# directory of a lower layer is harmless: writes land in each instance's own layer).
KEPT_MODE = 0o1777


class LayerError(ImageError):
    """A layer that cannot be unpacked safely; the message names the member."""


class _Reader:
    """The filter tarfile calls for each member: checks, caps, and whiteouts set aside."""

    def __init__(self, dest: Path, max_bytes: int, max_members: int):
        self.dest = os.path.realpath(dest)
        self.max_bytes, self.max_members = max_bytes, max_members
        self.total = self.members = 0
        self.whiteouts: list[tuple[str, str]] = []  # (directory, name) to hide
        self.opaque: list[str] = []                 # directories to mark opaque

    def __call__(self, member: tarfile.TarInfo, _path: str) -> tarfile.TarInfo | None:
        name = member_path(member.name)
        self.members += 1
        if self.members > self.max_members:
            raise LayerError(f"layer has more than {self.max_members} members")
        directory, base = posixpath.split(name)
        if base == OPAQUE:
            self.opaque.append(directory)
            return None
        if base.startswith(WHITEOUT):
            hidden = base[len(WHITEOUT):]
            if hidden.startswith(WHITEOUT) or hidden in ("", ".", ".."):
                return None  # aufs' own bookkeeping (.wh..wh.plnk): nothing to hide
            self.whiteouts.append((directory, hidden))
            return None
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise LayerError(f"layer member {name!r} is a device node, pipe or socket: refused")
        self._inside(name, name)
        linkname = member.linkname
        if member.islnk():
            # Relative to the layer's root: tarfile joins it to the destination, where an absolute one would win.
            linkname = member_path(member.linkname)
            self._inside(linkname, name)
        if member.isreg():
            self.total += member.size
            if self.total > self.max_bytes:
                raise LayerError(f"layer unpacks to more than {self.max_bytes} bytes")
        mode = None if member.issym() else member.mode & KEPT_MODE
        return member.replace(name=name, linkname=linkname, mode=mode, uid=None, gid=None, uname=None, gname=None, deep=False)

    def _inside(self, name: str, member: str) -> None:
        target = os.path.realpath(os.path.join(self.dest, name))
        if os.path.commonpath([target, self.dest]) != self.dest:
            raise LayerError(f"layer member {member!r} leads out of the image's root: refused")


def member_path(name: str) -> str:
    """A member's path relative to the layer's root; LayerError if it climbs out or is empty."""
    path = posixpath.normpath("/" + name).lstrip("/")
    parts = name.replace("\\", "/").split("/")
    if ".." in parts or not path or path == ".":
        raise LayerError(f"layer member {name[:200]!r} is not a path inside the image's root: refused")
    return path


def unpack(layer_tar: Path, dest: Path, *, max_bytes: int, max_members: int) -> int:
    """Unpack `layer_tar` into the empty directory `dest` as an overlay lower layer; returns the bytes unpacked."""
    reader = _Reader(dest, max_bytes, max_members)
    try:
        with tarfile.open(layer_tar, "r:") as tar:
            tar.extractall(dest, filter=reader)
    except LayerError:
        raise
    except (tarfile.TarError, EOFError, OSError, KeyError) as exc:  # KeyError: a hard link to no member
        raise LayerError(f"layer cannot be unpacked: {exc}") from None
    for directory, name in reader.whiteouts:
        _whiteout(dest, directory, name)
    for directory in reader.opaque:
        fd = _open_dir(dest, directory)
        try:
            os.setxattr(fd, OPAQUE_XATTR, b"y")
        finally:
            os.close(fd)
    return reader.total


def _open_dir(root: Path, rel: str) -> int:
    """A descriptor of `rel` under `root`, made if missing, never through a symlink."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for part in [p for p in rel.split("/") if p]:
        try:
            os.mkdir(part, 0o755, dir_fd=fd)
        except FileExistsError:
            pass
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        except OSError:
            os.close(fd)
            raise LayerError(f"layer path {rel!r} goes through something that is not a directory: refused") from None
        os.close(fd)
        fd = child
    return fd


def _whiteout(root: Path, directory: str, name: str) -> None:
    fd = _open_dir(root, directory)
    try:
        try:
            os.mknod(name, stat.S_IFCHR | 0o600, os.makedev(0, 0), dir_fd=fd)
        except FileExistsError:
            raise LayerError(f"layer both has and hides {posixpath.join(directory, name)!r}: refused") from None
    finally:
        os.close(fd)
