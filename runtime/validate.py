"""The validator: small checks run on a ContainerSpec before anything is created.

Each check raises SpecError with a one-line message naming the problem. The
checks run in order and the first failure wins, so nothing is ever left
half-created by bad input.
"""

import os
import re

from .errors import SpecError
from .rootview import RootView, resolve_user
from .spec import NETWORK_MODES, ContainerSpec

# Below this a process cannot even map its binary and libc plus the tmpfs pages
# of the writable layer; the kernel would OOM-kill it before it ran.
MIN_MEMORY = 8 << 20
MIN_PIDS = 4
_HOSTNAME = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")
_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# overlayfs separates lower dirs with ':' and options with ','.
_OVERLAY_UNSAFE = re.compile(r"[:,\x00\n]")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PASSWD_UNSAFE = re.compile(r"[:\n\r\x00]")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"


def check_id(spec: ContainerSpec, view: RootView) -> None:
    if not _ID.match(spec.id):
        raise SpecError(f"container id {spec.id!r} must be 1-64 of a-z, 0-9, '_', '.', '-'")


def check_command(spec: ContainerSpec, view: RootView) -> None:
    if not spec.command or not spec.command[0]:
        raise SpecError("no command given")


def check_limits(spec: ContainerSpec, view: RootView) -> None:
    limits = spec.limits
    if limits.memory < MIN_MEMORY:
        raise SpecError(f"memory limit {limits.memory} bytes is below the minimum of {MIN_MEMORY >> 20}M")
    if limits.cpus is not None and not 0.01 <= limits.cpus <= (os.cpu_count() or 1):
        raise SpecError(f"cpus {limits.cpus} must be between 0.01 and {os.cpu_count()}")
    if limits.pids < MIN_PIDS:
        raise SpecError(f"pids limit {limits.pids} is below the minimum of {MIN_PIDS}")
    if limits.tmp < 1 << 20 or limits.disk < 1 << 20:
        raise SpecError("tmp and disk sizes must be at least 1M")


def check_network(spec: ContainerSpec, view: RootView) -> None:
    if spec.network not in NETWORK_MODES:
        raise SpecError(f"network {spec.network!r} is not one of {', '.join(NETWORK_MODES)}")
    if spec.publish and spec.network == "none":
        raise SpecError("a port cannot be published without a network (network none)")
    if not 0 <= spec.publish <= 65535:
        raise SpecError(f"port {spec.publish} to publish is not between 1 and 65535")


def check_hostname(spec: ContainerSpec, view: RootView) -> None:
    if spec.hostname and not _HOSTNAME.match(spec.hostname):
        raise SpecError(f"hostname {spec.hostname!r} is not a valid DNS label")


def check_env(spec: ContainerSpec, view: RootView) -> None:
    for name, value in spec.env:
        if not _ENV_NAME.match(name):
            raise SpecError(f"environment variable name {name!r} is invalid")
        if "\x00" in value:
            raise SpecError(f"environment variable {name} contains a NUL byte")


def check_layers(spec: ContainerSpec, view: RootView) -> None:
    if not spec.layers:
        raise SpecError("no rootfs layer given")
    for layer in spec.layers:
        if not layer.is_dir():
            raise SpecError(f"layer {layer} does not exist or is not a directory")
        if _OVERLAY_UNSAFE.search(str(layer)):
            raise SpecError(f"layer path {layer} contains ':' or ',' which overlayfs cannot take")


def check_binds(spec: ContainerSpec, view: RootView) -> None:
    for mount in spec.binds:
        if not os.path.exists(mount.source):
            raise SpecError(f"mount source {mount.source} does not exist")
        if not mount.destination.startswith("/") or ".." in mount.destination.split("/"):
            raise SpecError(f"mount destination {mount.destination!r} must be an absolute path without '..'")


def check_mount_points(spec: ContainerSpec, view: RootView) -> None:
    """Mount points must be real directories in the rootfs, never symlinks (see paas-init.c)."""
    for dst in ("/proc", "/sys", "/dev", "/tmp") + tuple(m.destination for m in spec.binds):
        if view.resolve(dst) != os.path.normpath(dst):
            raise SpecError(f"mount point {dst} is a symlink in the rootfs")


def check_workdir(spec: ContainerSpec, view: RootView) -> None:
    if not spec.workdir.startswith("/"):
        raise SpecError(f"workdir {spec.workdir!r} must be an absolute path")
    if not view.is_dir(spec.workdir):
        raise SpecError(f"workdir {spec.workdir} does not exist in the rootfs")


def check_user(spec: ContainerSpec, view: RootView) -> None:
    uid, gid = resolve_user(view, spec.user)
    if spec.user_name:
        if gid != uid:
            raise SpecError(f"user {spec.user!r} named {spec.user_name!r} must have its uid as its gid")
        # Written as a line of /etc/passwd with the workdir as home: neither may add fields or lines.
        if not _USER_NAME.match(spec.user_name):
            raise SpecError(f"user name {spec.user_name!r} must be 1-32 of a-z, 0-9, '_', '-' (no leading digit)")
        if _PASSWD_UNSAFE.search(spec.workdir):
            raise SpecError(f"workdir {spec.workdir!r} of a named user cannot contain ':' or a line break")


def check_executable(spec: ContainerSpec, view: RootView) -> None:
    search_path = spec.env_dict().get("PATH", DEFAULT_PATH)
    if view.find_command(spec.command[0], search_path, spec.workdir) is None:
        raise SpecError(f"command {spec.command[0]!r} not found in the rootfs (PATH={search_path})")


CHECKS = (
    check_id, check_command, check_limits, check_network, check_hostname, check_env,
    check_layers, check_binds, check_mount_points, check_workdir, check_user, check_executable,
)


def validate(spec: ContainerSpec) -> RootView:
    """Run every check; return the rootfs view the start function uses next."""
    view = RootView(spec.layers, spec.binds)
    for check in CHECKS:
        check(spec, view)
    return view
