"""A compiled /app tree made the image's layer on the build host, instead of unpacking its slug again.

The tree was written by a build: it is read here, in the build layer, with
tenantfs, and handed to the image store (runtime/images.py ``adopt``) only
once it is exactly what unpacking the slug would have made.
"""

import os
from pathlib import Path

from paas.runtime import images

from . import tenantfs


def adopt(digest: str, tree: Path, *, uid: int) -> bool:
    """Make `tree` the layer of `digest` for the app running as `uid`; False: left for an unpack on first use.

    Only a tree that unpacking the slug would reproduce is taken: links
    inside the tree, no device files or pipes; modes and owners are set as
    the unpack sets them.
    """
    try:
        if not as_unpacked(tree, uid):
            return False
    except OSError:  # e.g. not allowed to change owners: unpacking stays the way
        return False
    return images.adopt(digest, tree, uid=uid)


def as_unpacked(tree: Path, uid: int) -> bool:
    """Give `tree` the modes and owner (`uid`) an unpack would; False if unpacking would refuse it or differ.

    The tree was written by a build, so it is walked with tenantfs (no link
    followed, no symlinked directory entered) and every change is made
    through a descriptor opened without following links (fchmod/fchown), or
    to the link itself (lchown): a link swapped in mid-walk is never followed.
    """
    try:
        for entry in tenantfs.walk(str(tree)):
            if entry.is_link:
                if tenantfs.link_escapes(str(tree), entry.rel, os.readlink(entry.name, dir_fd=entry.dir_fd)):
                    return False
                os.chown(entry.name, uid, uid, dir_fd=entry.dir_fd, follow_symlinks=False)
            elif entry.is_regular:
                fd, info = tenantfs.open_regular(entry.dir_fd, entry.name, entry.rel)
                _own(fd, images.unpacked_mode(info.st_mode), uid)
            elif entry.is_dir:
                fd = os.open(entry.name, tenantfs.DIR_FLAGS, dir_fd=entry.dir_fd)
                opened = os.fstat(fd)
                if (opened.st_dev, opened.st_ino) != (entry.st.st_dev, entry.st.st_ino):
                    os.close(fd)
                    return False
                _own(fd, images.UNPACKED_DIR_MODE, uid)
            else:
                return False
        _own(tenantfs.open_root(str(tree)), images.UNPACKED_DIR_MODE, uid)
    except tenantfs.TreeError:
        return False
    return True


def _own(fd: int, mode: int, uid: int) -> None:
    """chmod and chown to the app's uid through fd, then close it."""
    try:
        os.fchmod(fd, mode)
        os.fchown(fd, uid, uid)
    finally:
        os.close(fd)
