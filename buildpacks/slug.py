"""Packing a built app directory into a slug: a gzipped tar of /app's content."""

import hashlib
import os
import tarfile

from .errors import BuildError
from .sourcetree import human_size, tree_size

# gzip level 1: a slug is written once per build and unpacked on every host,
# and level 1 packs several times faster than the default for ~10% more bytes.
COMPRESS_LEVEL = 1


def pack_slug(app_dir: str, dest: str, max_bytes: int) -> tuple[int, str]:
    """Write the slug for app_dir to dest and return (size in bytes, sha256 hex).

    Members are relative paths ("./app.py"), to be extracted into /app.
    Symlinks are stored as links. Owners are reset to root (0:0) so a slug
    does not carry the build host's user ids. Raises BuildError when either
    the unpacked tree or the compressed slug is larger than max_bytes.
    """
    unpacked = tree_size(app_dir)
    if unpacked > max_bytes:
        raise BuildError(
            f"the compiled app is {human_size(unpacked)}, over the slug size limit of {human_size(max_bytes)}"
        )
    try:
        with tarfile.open(dest, "w:gz", compresslevel=COMPRESS_LEVEL, format=tarfile.PAX_FORMAT) as tar:
            tar.add(app_dir, arcname=".", filter=_reset_owner)
    except OSError as exc:
        raise BuildError(f"could not write the slug: {exc}") from None
    size = os.path.getsize(dest)
    if size > max_bytes:
        os.unlink(dest)
        raise BuildError(f"the slug is {human_size(size)}, over the size limit of {human_size(max_bytes)}")
    return size, _sha256(dest)


def _reset_owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
