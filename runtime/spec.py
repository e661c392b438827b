"""Pure description of one container: what to run, on which layers, with which limits.

Nothing here touches the host. ``ContainerSpec`` is built by the CLI or the agent
(from an image and a process type), checked by ``validate``, and executed by
``container.start``.
"""

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SpecError

# "services": the bridge, on the pool's last segment, kept for add-on servers (ipam.py): an
# instance's connection to one is then routed through the host, where addonnet.py filters it.
NETWORK_MODES = ("bridge", "host", "none", "services")
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes from a human size such as ``256M``, ``1.5G``, ``512k`` or ``1048576``."""
    match = _SIZE.match(str(text))
    if not match:
        raise SpecError(f"size {text!r} is not a number of bytes such as 256M or 1G")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])


@dataclass(frozen=True)
class Limits:
    """Resource limits; memory includes everything the container writes to tmpfs."""

    memory: int = 256 << 20
    cpus: float | None = None      # CPU quota in cores; None means only the fair share
    cpu_shares: int = 1024
    pids: int = 256
    tmp: int = 64 << 20            # size cap of /tmp
    disk: int = 1 << 30            # size cap of the writable layer


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path into the container."""

    source: Path
    destination: str
    readonly: bool = True


@dataclass(frozen=True)
class ContainerSpec:
    """Everything needed to start one container."""

    command: tuple[str, ...]
    layers: tuple[Path, ...]                  # read-only rootfs layers, topmost first
    binds: tuple[Mount, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = "/"
    user: str = "app"                         # a name from the rootfs' /etc/passwd, or uid[:gid]
    # A name the container's /etc/passwd and /etc/group give `user`'s uid and
    # gid (the platform's per-app and build identities); empty: the rootfs' own files.
    user_name: str = ""
    hostname: str = ""
    network: str = "bridge"
    publish: int = 0                          # bridge: published on a free host port; host: the app's port
    limits: Limits = field(default_factory=Limits)
    id: str = field(default_factory=lambda: os.urandom(6).hex())
    app: str = ""
    release: str = ""
    process: str = ""
    stop_grace: float | None = None           # seconds between SIGTERM and SIGKILL
    seccomp: bool = True
    # A Dockerfile build (buildpacks/dockerfile.py): buildah makes a user namespace of its own and
    # mounts and chroots inside it, so the seccomp filter leaves namespace and mount calls to the
    # kernel (which confines them to namespaces the process owns). Never for instances.
    nesting: bool = False

    def env_dict(self) -> dict[str, str]:
        return dict(self.env)

    def labels(self) -> dict[str, str]:
        return {"app": self.app, "release": self.release, "process": self.process}


# The defaults of ``runc spec``: kernel interfaces an app has no business reading
# (masked) or changing (read-only).
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
