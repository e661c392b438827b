"""Slug segments: the big subtrees of a compiled app, packed once and reused while unchanged.

A warm build (same lock file, one changed line) reinstalls nothing, but its
dependency tree is a fresh copy from the build cache: reading and compressing
it again cost most of such a build. So the slug packer (slug.py) writes each
big subtree as a gzip member of its own and keeps those compressed bytes in the
app's segment store; the next build whose subtree has the same metadata copies
them instead.

Which subtrees: `segment_of` (a top-level entry, or one level further inside a
top-level dot-directory: `.paas/python`, `.heroku/python`, `.apt/usr`,
`node_modules`), when it is a dependency tree (`reusable`) and its files hold at
least SEGMENT_MIN_BYTES. The app's own top-level folders never are: a build
script may write them with a pinned time (SOURCE_DATE_EPOCH) and the same size.

The key is the digest of the subtree's metadata, read without following links:
every name, kind, mode, size, modification time (ns), link target and which
names are hard links of one another. It does not cover the bytes (that is the
saving): a build that rewrote a file with the same size and time keeps the
earlier bytes in its slug. Only the app's own earlier bytes: each app has a
store of its own (the platform's directory, out of every build's reach,
platform/builds/cachedir.py), filled only by the packer from that app's trees,
so no build can name or place another app's segment.
"""

import errno
import hashlib
import os
import stat
from dataclasses import dataclass, field

from . import tenantfs
from .errors import BuildError
from .sourcetree import human_size

#: A subtree smaller than this is packed with the small files (keeping it costs more than packing it).
SEGMENT_MIN_BYTES = 1 << 20
#: Part of every key: a change of the packing (format, level) makes earlier segments unusable.
KEY_VERSION = "paas-slug-segment 1 gzip-1 pax"
_SUFFIX = ".gz"


def segment_of(rel: str) -> str:
    """The segment of a path of the tree (``.paas/python/flask/app.py`` -> ``.paas/python``)."""
    parts = rel.split("/", 2)
    if parts[0].startswith(".") and len(parts) > 1:
        return f"{parts[0]}/{parts[1]}"
    return parts[0]


def reusable(name: str) -> bool:
    """Whether a segment is a tree the buildpacks install dependencies into (kept across builds)."""
    return name == "node_modules" or (name.startswith(".") and "/" in name)


@dataclass
class Plan:
    """The tree's big segments: name -> key, in walk order."""

    keys: dict[str, str] = field(default_factory=dict)
    unpacked: int = 0


def plan(app_dir: str, max_bytes: int) -> Plan:
    """Walk the tree once (metadata only): the key of each big segment; BuildError for what no slug
    may hold (a link leaving /app, a FIFO, device or socket) or a tree over max_bytes."""
    result = Plan()
    digests: dict[str, "hashlib._Hash"] = {}
    sizes: dict[str, int] = {}
    seen: dict[str, dict[tuple[int, int], str]] = {}
    for entry in tenantfs.walk(app_dir):
        name = segment_of(entry.rel)
        if name not in digests:
            digests[name] = hashlib.sha256(f"{KEY_VERSION}\n{name}\n".encode())
            sizes[name], seen[name] = 0, {}
        digests[name].update(_line(app_dir, entry, seen[name]))
        if entry.is_regular:
            sizes[name] += entry.st.st_size
            result.unpacked += entry.st.st_size
            if result.unpacked > max_bytes:
                raise BuildError(f"the compiled app is at least {human_size(result.unpacked)}, over the slug "
                                 f"size limit of {human_size(max_bytes)}")
    result.keys = {name: digests[name].hexdigest() for name in digests if sizes[name] >= SEGMENT_MIN_BYTES and reusable(name)}
    return result


def _line(app_dir: str, entry: tenantfs.Entry, seen: dict) -> bytes:
    """One entry's metadata as the key covers it (the mode and time the tar member gets)."""
    st = entry.st
    if entry.is_dir:
        extra = ""
    elif entry.is_link:
        target = os.readlink(entry.name, dir_fd=entry.dir_fd)
        check_link(app_dir, entry.rel, target)
        extra = target
    elif entry.is_regular:
        first = seen.setdefault((st.st_dev, st.st_ino), entry.rel) if st.st_nlink > 1 else entry.rel
        extra = f"{st.st_size} {'=' + first if first != entry.rel else ''}"
    else:
        raise special_file(entry)
    kind = "d" if entry.is_dir else "l" if entry.is_link else "f"
    # repr: a name or link target with a newline cannot pass for two entries.
    return f"{kind} {entry.rel!r} {stat.S_IMODE(st.st_mode):o} {st.st_mtime_ns} {extra!r}\n".encode()


def check_link(app_dir: str, rel: str, target: str) -> None:
    """BuildError for a link that points outside /app (a slug keeps links inside the app)."""
    if tenantfs.link_escapes(app_dir, rel, target):
        raise BuildError(f"the compiled app has a symlink {tenantfs.shown(rel)} that points outside /app; "
                         "a slug keeps links inside the app")


def special_file(entry: tenantfs.Entry) -> BuildError:
    return BuildError(f"the compiled app holds {tenantfs.kind(entry.st.st_mode)} at {tenantfs.shown(entry.rel)}; "
                      "a slug holds only regular files, directories and symlinks")


class Store:
    """An app's kept segments: ``<key>.gz``, each one gzip member as the packer wrote it."""

    def __init__(self, root: str):
        self.root = root
        os.makedirs(root, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        if len(key) != 64 or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a segment key: {key!r}")
        return os.path.join(self.root, key + _SUFFIX)

    def open(self, key: str):
        """The kept segment's bytes as a file, or None."""
        try:
            fd = os.open(self._path(key), os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ELOOP):  # a link is never followed: packed again
                return None
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")

    def writer(self, key: str):
        """A new file for the segment `key`; commit(file) puts it in place once it is whole."""
        path = self._path(key)
        tmp = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        return open(tmp, "xb")

    @staticmethod
    def commit(file, key_path: str) -> None:
        file.close()
        os.replace(file.name, key_path)

    def path(self, key: str) -> str:
        return self._path(key)

    def keep(self, keys: set[str]) -> None:
        """Remove every segment (and leftover temporary file) but `keys`: the store holds one slug's worth."""
        wanted = {key + _SUFFIX for key in keys}
        for name in os.listdir(self.root):
            if name not in wanted:
                try:
                    os.unlink(os.path.join(self.root, name))
                except (FileNotFoundError, IsADirectoryError, PermissionError):
                    pass
