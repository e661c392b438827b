"""Packing a built app directory into a slug: a gzipped tar of /app's content.

The tree was written by the build (the pushed code ran in it), so it is read
through tenantfs: no link is followed, no symlinked directory entered, every
file opened with O_NOFOLLOW and checked to be the regular file the walk saw.

Segments (what a warm build does not compress again): the slug is a gzip
stream of several members, which every gzip reader (tarfile, gzip -d)
decompresses as one tar. A big subtree (segments.py: `.paas/python`,
`node_modules`, ...) is a member of its own; its compressed bytes are kept in
the platform's segment store, named by a digest of the subtree's metadata, and
the next build whose subtree has the same metadata writes those bytes again
instead of reading and compressing every file. What the key covers and why a
build cannot use it against another app: segments.py.
"""

import gzip
import hashlib
import os
import shutil
import stat
import tarfile

from . import segments, tenantfs
from .errors import BuildError
from .sourcetree import human_size

# gzip level 1: a slug is written once per build and unpacked on every host,
# and level 1 packs several times faster than the default for ~10% more bytes.
COMPRESS_LEVEL = 1
# The tar's end: two zero blocks, a member of their own after the last segment.
_END_OF_ARCHIVE = b"\0" * (2 * tarfile.BLOCKSIZE)


def pack_slug(app_dir: str, dest: str, max_bytes: int, segments_dir: str | None = None) -> tuple[int, str]:
    """Write the slug for app_dir to dest and return (size in bytes, sha256 hex).

    Members are relative paths ("./app.py"), to be extracted into /app.
    Symlinks are stored as links and must point inside the tree (the rule
    the unpacking "data" filter applies); hard links inside a segment stay hard
    links (across segments each name gets the file's bytes). FIFOs, devices and
    sockets are refused: an unpack would refuse them. Owners are reset to root
    (0:0) so a slug does not carry the build host's user ids. Raises BuildError
    when the unpacked tree or the compressed slug is larger than max_bytes; no
    slug is left behind then.

    segments_dir: the app's segment store (the platform's directory, never one a
    build can write); unchanged big subtrees are copied from it compressed, and
    it is left holding the segments of this slug alone. None: everything is packed.
    """
    try:
        with open(dest, "wb") as raw:
            out = _Hashing(raw)
            _write(out, app_dir, max_bytes, segments_dir)
    except OSError as exc:
        _remove(dest)
        raise BuildError(f"could not write the slug: {exc.strerror or exc}") from None
    except BuildError:
        _remove(dest)
        raise
    if out.size > max_bytes:
        _remove(dest)
        raise BuildError(f"the slug is {human_size(out.size)}, over the size limit of {human_size(max_bytes)}")
    return out.size, out.sha.hexdigest()


class _Hashing:
    """A write-only file that hashes and counts what passes (the slug is not read again for its digest)."""

    def __init__(self, raw):
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def _write(out: _Hashing, app_dir: str, max_bytes: int, segments_dir: str | None) -> None:
    plan = segments.plan(app_dir, max_bytes)
    store = segments.Store(segments_dir) if segments_dir else None
    member = _Member(out)  # the small entries between big segments; the root first
    with tenantfs.root_fd(app_dir) as top:
        member.tar.addfile(_info(".", os.fstat(top), tarfile.DIRTYPE))
    current, skipping = None, False
    for entry in tenantfs.walk(app_dir):
        name = segments.segment_of(entry.rel)
        if name != current:
            current, skipping = name, False
            key = plan.keys.get(name)
            if member is not None and (member.key is not None or key is not None):
                member = member.close(store)  # a big segment is a member of its own
            if key is not None:
                skipping = _copy_kept(store, key, out)
                if not skipping:
                    member = _Member(out, key, store)
            if member is None and not skipping:
                member = _Member(out)
        if skipping:
            entry.prune = True  # its bytes are written: nothing below it is read
            continue
        _add_entry(member.tar, app_dir, entry, member.seen)
    if member is not None:
        member.close(store)
    out.write(gzip.compress(_END_OF_ARCHIVE, COMPRESS_LEVEL, mtime=0))
    if store is not None:
        store.keep(set(plan.keys.values()))


def _copy_kept(store, key: str, out) -> bool:
    """Write the kept segment `key` into the slug; False when the store does not have it."""
    kept = store.open(key) if store is not None else None
    if kept is None:
        return False
    with kept:
        shutil.copyfileobj(kept, out, 1 << 20)
    return True


class _Member:
    """One gzip member of the slug: tar entries without the archive's end (a member of its own has it).

    A big segment's member (`key`) is also written to the store, put in place once whole."""

    def __init__(self, out: _Hashing, key: str | None = None, store: "segments.Store | None" = None):
        self.key = key
        self.copy = store.writer(key) if key is not None and store is not None else None
        self.gz = gzip.GzipFile(fileobj=_Tee(out, self.copy), mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0)
        # Never closed: closing writes the end-of-archive blocks, which only the last member has.
        self.tar = tarfile.TarFile(fileobj=self.gz, mode="w", format=tarfile.PAX_FORMAT)
        self.seen: dict[tuple[int, int], str] = {}  # (dev, inode) -> member name, for hard links

    def close(self, store) -> None:
        """End the member (and keep a big segment's copy); returns None, for `member = member.close(store)`."""
        self.gz.close()
        if self.copy is not None:
            store.commit(self.copy, store.path(self.key))
        return None


class _Tee:
    """Passes writes on to the slug and, when given, to a segment's copy."""

    def __init__(self, out, copy):
        self.out, self.copy = out, copy

    def write(self, data) -> int:
        if self.copy is not None:
            self.copy.write(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()


def _add_entry(tar: tarfile.TarFile, app_dir: str, entry: tenantfs.Entry, seen: dict) -> None:
    name = "./" + entry.rel
    if entry.is_dir:
        tar.addfile(_info(name, entry.st, tarfile.DIRTYPE))
    elif entry.is_link:
        target = os.readlink(entry.name, dir_fd=entry.dir_fd)
        segments.check_link(app_dir, entry.rel, target)
        info = _info(name, entry.st, tarfile.SYMTYPE)
        info.linkname = target
        tar.addfile(info)
    elif entry.is_regular:
        key = (entry.st.st_dev, entry.st.st_ino)
        if entry.st.st_nlink > 1 and key in seen:
            info = _info(name, entry.st, tarfile.LNKTYPE)
            info.linkname = seen[key]
            tar.addfile(info)
            return
        fd, st = tenantfs.open_regular(entry.dir_fd, entry.name, f"the compiled app's {tenantfs.shown(entry.rel)}")
        with os.fdopen(fd, "rb") as f:
            info = _info(name, st, tarfile.REGTYPE)
            info.size = st.st_size
            # addfile copies exactly info.size bytes, failing if the file shrank meanwhile.
            tar.addfile(info, f)
        seen.setdefault(key, name)
    else:
        raise segments.special_file(entry)


def _info(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = st.st_mtime  # as tarfile.gettarinfo: PAX keeps the fraction
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
