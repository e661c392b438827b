"""Packing a built app directory into a slug: a gzipped tar of /app's content.

The tree was written by the build (the pushed code ran in it), so it is read
through tenantfs: no link is followed, no symlinked directory entered, every
file opened with O_NOFOLLOW and checked to be the regular file the walk saw.
"""

import hashlib
import os
import stat
import tarfile

from . import tenantfs
from .errors import BuildError
from .sourcetree import human_size

# gzip level 1: a slug is written once per build and unpacked on every host,
# and level 1 packs several times faster than the default for ~10% more bytes.
COMPRESS_LEVEL = 1


def pack_slug(app_dir: str, dest: str, max_bytes: int) -> tuple[int, str]:
    """Write the slug for app_dir to dest and return (size in bytes, sha256 hex).

    Members are relative paths ("./app.py"), to be extracted into /app.
    Symlinks are stored as links and must point inside the tree (the rule
    the unpacking "data" filter applies); hard links inside the tree stay hard
    links. FIFOs, devices and sockets are refused: an unpack would refuse
    them. Owners are reset to root (0:0) so a slug does not carry the build
    host's user ids. Raises BuildError when the unpacked tree or the
    compressed slug is larger than max_bytes; no slug is left behind then.
    """
    try:
        with tarfile.open(dest, "w:gz", compresslevel=COMPRESS_LEVEL, format=tarfile.PAX_FORMAT) as tar:
            _add_tree(tar, app_dir, max_bytes)
    except OSError as exc:
        _remove(dest)
        raise BuildError(f"could not write the slug: {exc.strerror or exc}") from None
    except BuildError:
        _remove(dest)
        raise
    size = os.path.getsize(dest)
    if size > max_bytes:
        _remove(dest)
        raise BuildError(f"the slug is {human_size(size)}, over the size limit of {human_size(max_bytes)}")
    return size, _sha256(dest)


def _add_tree(tar: tarfile.TarFile, app_dir: str, max_bytes: int) -> None:
    with tenantfs.root_fd(app_dir) as top:
        tar.addfile(_info(".", os.fstat(top), tarfile.DIRTYPE))
    unpacked = 0
    seen: dict[tuple[int, int], str] = {}  # (dev, inode) -> member name, for hard links
    for entry in tenantfs.walk(app_dir):
        name = "./" + entry.rel
        if entry.is_dir:
            tar.addfile(_info(name, entry.st, tarfile.DIRTYPE))
        elif entry.is_link:
            target = os.readlink(entry.name, dir_fd=entry.dir_fd)
            if tenantfs.link_escapes(app_dir, entry.rel, target):
                raise BuildError(
                    f"the compiled app has a symlink {tenantfs.shown(entry.rel)} that points outside /app; "
                    "a slug keeps links inside the app"
                )
            info = _info(name, entry.st, tarfile.SYMTYPE)
            info.linkname = target
            tar.addfile(info)
        elif entry.is_regular:
            key = (entry.st.st_dev, entry.st.st_ino)
            if entry.st.st_nlink > 1 and key in seen:
                info = _info(name, entry.st, tarfile.LNKTYPE)
                info.linkname = seen[key]
                tar.addfile(info)
                continue
            fd, st = tenantfs.open_regular(entry.dir_fd, entry.name, f"the compiled app's {tenantfs.shown(entry.rel)}")
            with os.fdopen(fd, "rb") as f:
                unpacked += st.st_size
                if unpacked > max_bytes:
                    raise BuildError(
                        f"the compiled app is at least {human_size(unpacked)}, over the slug size limit of "
                        f"{human_size(max_bytes)}"
                    )
                info = _info(name, st, tarfile.REGTYPE)
                info.size = st.st_size
                # addfile copies exactly info.size bytes, failing if the file shrank meanwhile.
                tar.addfile(info, f)
            seen.setdefault(key, name)
        else:
            raise BuildError(
                f"the compiled app holds {tenantfs.kind(entry.st.st_mode)} at {tenantfs.shown(entry.rel)}; "
                "a slug holds only regular files, directories and symlinks"
            )


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


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
