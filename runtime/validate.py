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
# Patterns are used with fullmatch: `$` alone would also accept a trailing "\n".
_HOSTNAME = re.compile(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?")
_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# overlayfs separates lower dirs with ':' and options with ','.
_OVERLAY_UNSAFE = re.compile(r"[:,\x00\n]")
_USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_PASSWD_UNSAFE = re.compile(r"[:\n\r\x00]")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"

# Control characters: which ones each kind of field refuses, and why. NUL is
# refused everywhere: execve and mount take C strings that end at it, and
# paas-init reads its spec as NUL-separated tokens, so a NUL inside a value
# would end it there and start a spec key of the value's choosing ("uid 0",
# a bind of /). The sets below are the characters a field may *keep*.
#
# Command arguments keep tab and newline: `paas run` scripts and shell
# one-liners hold them, and the kernel passes them through unchanged. Every
# other control character (ESC, CR, BEL, DEL...) is invisible where commands
# are shown (`paas ps`, events, logs, the console) and could rewrite what an
# admin's terminal shows; no command needs one literally (printf '\e' does).
COMMAND_KEEPS = "\t\n"
# Environment values are data (a PEM key holds newlines, a password anything),
# passed byte for byte: only NUL, which cannot be carried, is refused.
ENV_VALUE_KEEPS = "".join(map(chr, range(1, 32))) + "\x7f"
# Paths, names and labels keep none: the platform never makes one with a
# control character, and they are printed raw in errors and mount tables.
NAME_KEEPS = ""


def control_char(value: str, keeps: str = NAME_KEEPS) -> str | None:
    """The first control character (C0 or DEL) of value not in keeps, as 'U+001B'; None when clean.

    The one implementation of the control-character rules: the runner's
    checks below and the build's Procfile and bin/release checks use it.
    """
    for char in value:
        if (char < " " or char == "\x7f") and char not in keeps:
            return f"U+{ord(char):04X}"
    return None


def _refuse_controls(value: str, keeps: str, what: str) -> None:
    found = control_char(value, keeps)
    if found is not None:
        raise SpecError(f"{what} contains a control character ({found})")


def check_id(spec: ContainerSpec, view: RootView) -> None:
    if not _ID.fullmatch(spec.id):
        raise SpecError(f"container id {spec.id!r} must be 1-64 of a-z, 0-9, '_', '.', '-'")


def check_labels(spec: ContainerSpec, view: RootView) -> None:
    for name, value in spec.labels().items():
        _refuse_controls(value, NAME_KEEPS, f"label {name}")


def check_command(spec: ContainerSpec, view: RootView) -> None:
    if not spec.command or not spec.command[0]:
        raise SpecError("no command given")
    for index, arg in enumerate(spec.command):
        _refuse_controls(arg, COMMAND_KEEPS, f"command argument {index}")


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
    if spec.hostname and not _HOSTNAME.fullmatch(spec.hostname):
        raise SpecError(f"hostname {spec.hostname!r} is not a valid DNS label")


def check_env(spec: ContainerSpec, view: RootView) -> None:
    for name, value in spec.env:
        if not ENV_NAME.fullmatch(name):
            raise SpecError(f"environment variable name {name!r} is invalid")
        _refuse_controls(value, ENV_VALUE_KEEPS, f"environment variable {name}")


def check_layers(spec: ContainerSpec, view: RootView) -> None:
    if not spec.layers:
        raise SpecError("no rootfs layer given")
    for layer in spec.layers:
        _refuse_controls(str(layer), NAME_KEEPS, "a layer path")
        if not layer.is_dir():
            raise SpecError(f"layer {layer} does not exist or is not a directory")
        if _OVERLAY_UNSAFE.search(str(layer)):
            raise SpecError(f"layer path {layer} contains ':' or ',' which overlayfs cannot take")


def check_binds(spec: ContainerSpec, view: RootView) -> None:
    for mount in spec.binds:
        _refuse_controls(str(mount.source), NAME_KEEPS, "a mount source")
        _refuse_controls(mount.destination, NAME_KEEPS, "a mount destination")
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
    _refuse_controls(spec.workdir, NAME_KEEPS, "workdir")
    if not spec.workdir.startswith("/"):
        raise SpecError(f"workdir {spec.workdir!r} must be an absolute path")
    if not view.is_dir(spec.workdir):
        raise SpecError(f"workdir {spec.workdir} does not exist in the rootfs")


def check_user(spec: ContainerSpec, view: RootView) -> None:
    _refuse_controls(spec.user, NAME_KEEPS, "user")
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
    check_id, check_labels, check_command, check_limits, check_network, check_hostname, check_env,
    check_layers, check_binds, check_mount_points, check_workdir, check_user, check_executable,
)


def validate(spec: ContainerSpec) -> RootView:
    """Run every check; return the rootfs view the start function uses next."""
    view = RootView(spec.layers, spec.binds)
    for check in CHECKS:
        check(spec, view)
    return view
