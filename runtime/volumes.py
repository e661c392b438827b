"""Persistent volumes: a directory per volume on the host, kept across restarts, size-limited.

An add-on server (a PostgreSQL or Redis of services/) keeps its data here: the
container is thrown away at every restart and release, the volume is not; it
goes only with the add-on (``remove``).

Why a loop-mounted ext4 image and not a plain directory: the size limit must
hold whatever the server writes, and a filesystem of its own is the one limit
every host has (no project quotas needed). A full volume is ENOSPC inside the
container, never the host's disk filling up. The image is sparse: a volume
costs what it holds. It is mounted ``nosuid,nodev,noexec`` (data only) under
``<runtime dir>/volumes/<name>``, its root owned by the server's uid (and
nothing else's: mode 0700), and bound read-write into the container by the
agent (``Desired.volumes``).
"""

import os
import re
import subprocess
from pathlib import Path

from . import config
from .errors import RuntimeLayerError, SpecError

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
MIN_SIZE = 16 << 20     # ext4 wants room for its own metadata
MAX_SIZE = 1 << 40


class VolumeError(RuntimeLayerError):
    """A volume could not be made, mounted or removed."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise SpecError(f"volume name {name!r} must be lowercase letters, digits and '-', at most 63")
    return name


def root() -> Path:
    return config.runtime_dir() / "volumes"


def path(name: str) -> Path:
    """Where the volume is mounted on the host (the source of the container's bind)."""
    return root() / check_name(name)


def _image(name: str) -> Path:
    return root() / f"{check_name(name)}.img"


def _run(*argv: str) -> None:
    result = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"})
    if result.returncode != 0:
        raise VolumeError(f"{argv[0]} failed: {(result.stderr or result.stdout).strip()[:300]}")


def is_mounted(name: str) -> bool:
    return os.path.ismount(path(name))


def exists(name: str) -> bool:
    return _image(name).is_file()


def ensure(name: str, size: int, uid: int) -> Path:
    """Make the volume if it does not exist yet, mount it if it is not mounted; its host path.

    Idempotent: the agent calls it before every start of the server, so a
    reboot (mounts gone, images kept) costs only the mount.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SpecError(f"volume size {size} must be between {MIN_SIZE} and {MAX_SIZE} bytes")
    image, mountpoint = _image(name), path(name)
    root().mkdir(parents=True, exist_ok=True)
    os.chmod(root(), 0o711)  # servers reach their own mount point, never list the others
    if not image.is_file():
        _create(image, size, uid)
    mountpoint.mkdir(mode=0o700, exist_ok=True)
    if not os.path.ismount(mountpoint):
        _run("mount", "-t", "ext4", "-o", "loop,nosuid,nodev,noexec", str(image), str(mountpoint))
    os.chown(mountpoint, uid, uid)
    os.chmod(mountpoint, 0o700)
    return mountpoint


def _create(image: Path, size: int, uid: int) -> None:
    tmp = image.with_suffix(".tmp")
    # Sparse: only written blocks take host disk.
    with open(tmp, "wb") as handle:
        handle.truncate(size)
    try:
        _run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", f"root_owner={uid}:{uid}", str(tmp))
        os.replace(tmp, image)  # whole or not at all: a half-made image is never mounted
    finally:
        tmp.unlink(missing_ok=True)


def usage(name: str) -> dict:
    """{"used_bytes", "size_bytes"} of a mounted volume."""
    st = os.statvfs(path(name))
    size = st.f_blocks * st.f_frsize
    return {"used_bytes": size - st.f_bfree * st.f_frsize, "size_bytes": size}


def remove(name: str) -> None:
    """Unmount the volume and delete its data; nothing left of it (idempotent)."""
    mountpoint = path(name)
    if os.path.ismount(mountpoint):
        _run("umount", str(mountpoint))
    if mountpoint.is_dir():
        mountpoint.rmdir()
    _image(name).unlink(missing_ok=True)
    _image(name).with_suffix(".tmp").unlink(missing_ok=True)


def names() -> set[str]:
    """Every volume on this host."""
    return {p.stem for p in root().glob("*.img")} if root().is_dir() else set()
