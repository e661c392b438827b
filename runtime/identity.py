"""Host identities of tenants' code, and handing build directories over to them.

Every app gets two host uids of its own, derived from its primary key (never
reused, unlike its name), as OpenShift gives each project its own uid range:

    app uid    PAAS_APP_UIDS start + app id     its instances and one-offs
    build uid  PAAS_BUILD_UIDS start + app id   its builds

The two ranges are disjoint, so no per-uid kernel state (signals, keyrings,
RLIMIT_NPROC, files a future escape would reach) is shared between two apps,
or between an app and any build. The gid is always the uid. No uid of either
range is 0, nobody (65534), or the runner's default ``app`` uid (10000).

Settings (environment, read once): ``PAAS_APP_UIDS`` (``1000000000-1499999999``)
and ``PAAS_BUILD_UIDS`` (``1500000000-1999999999``), both below 2^31 because
some tools still keep uids in a signed 32-bit int. Every host of a platform
must use the same ranges: a uid is stable for an app's lifetime only as long
as they do not change.
"""

import os
import stat

from . import config
from .errors import RuntimeLayerError

# setuid/setgid: the bits a tenant's file must never carry on the host.
PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID
# Never part of a tenant range: root, the runner's default app user, nobody/nogroup, (uid_t)-1.
RESERVED_UIDS = (0, 10000, 65534, 65535, 4294967295)
MAX_UID = 2**31 - 1


def parse_range(name: str, text: str) -> range:
    """A uid range from ``START-END`` (both inclusive); RuntimeLayerError naming the setting otherwise."""
    start, sep, end = text.strip().partition("-")
    if not (sep and start.isdigit() and end.isdigit()) or not 1 <= int(start) <= int(end) <= MAX_UID:
        raise RuntimeLayerError(f"{name}={text!r} must be START-END, two uids between 1 and {MAX_UID}")
    uids = range(int(start), int(end) + 1)
    reserved = [uid for uid in RESERVED_UIDS if uid in uids]
    if reserved:
        raise RuntimeLayerError(f"{name}={text!r} includes uid {reserved[0]}, which no tenant may use")
    return uids


def _ranges() -> tuple[range, range]:
    apps = parse_range("PAAS_APP_UIDS", config.app_uids())
    builds = parse_range("PAAS_BUILD_UIDS", config.build_uids())
    if apps.start <= builds[-1] and builds.start <= apps[-1]:
        raise RuntimeLayerError("PAAS_APP_UIDS and PAAS_BUILD_UIDS overlap: builds must use uids no app uses")
    return apps, builds


APP_UIDS, BUILD_UIDS = _ranges()


def _addon_range() -> range:
    addons = parse_range("PAAS_ADDON_UIDS", config.addon_uids())
    for other, name in ((APP_UIDS, "PAAS_APP_UIDS"), (BUILD_UIDS, "PAAS_BUILD_UIDS")):
        if addons.start <= other[-1] and other.start <= addons[-1]:
            raise RuntimeLayerError(f"PAAS_ADDON_UIDS and {name} overlap: add-on servers must use uids of their own")
    return addons


# Add-on servers (services/): PAAS_ADDON_UIDS start + the Addon's primary key, shared with no app or build.
ADDON_UIDS = _addon_range()


def _uid(uids: range, app_id: int, setting: str) -> int:
    if isinstance(app_id, bool) or not isinstance(app_id, int) or app_id < 1:
        raise RuntimeLayerError(f"app id {app_id!r} is not a positive integer")
    if app_id >= len(uids):
        raise RuntimeLayerError(f"app id {app_id} is past the end of {setting} ({len(uids) - 1} apps at most)")
    return uids[app_id]


def app_uid(app_id: int) -> int:
    """The host uid (and gid) of the instances and one-offs of the app with primary key `app_id`."""
    return _uid(APP_UIDS, app_id, "PAAS_APP_UIDS")


def addon_uid(addon_id: int) -> int:
    """The host uid (and gid) of the server of the add-on whose primary key is `addon_id`."""
    return _uid(ADDON_UIDS, addon_id, "PAAS_ADDON_UIDS")


def build_uid(app_id: int) -> int:
    """The host uid (and gid) of the builds of the app with primary key `app_id`."""
    return _uid(BUILD_UIDS, app_id, "PAAS_BUILD_UIDS")


# Builds not tied to an app (the runtime's own tests, a local tool): the first
# uid of the build range, which no app gets because primary keys start at 1.
ANONYMOUS_BUILD_UID = BUILD_UIDS.start


def hand_over(root: str | os.PathLike, uid: int) -> int:
    """Give the tree at `root` to `uid`:`uid`, setuid/setgid bits cleared; returns the entries changed.

    For the build directories (app dir, cache, env dir, tmp) before a build
    step, and again after it, so nothing a build left carries a setuid or
    setgid bit into the slug, the cache or the host. Links are never
    followed: a link itself is re-owned, never its target, and nothing under
    a linked directory is visited. Call it only while no process of the tree's
    tenant runs (between build steps), so the tree cannot change underneath.
    """
    root = os.fspath(root)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode):
        raise RuntimeLayerError(f"{root} is not a directory; only directories are handed to a build")
    changed = _settle(root, info, uid, None)
    for _, dirnames, filenames, dirfd in os.fwalk(root, follow_symlinks=False):
        for name in dirnames + filenames:
            try:
                entry = os.stat(name, dir_fd=dirfd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            changed += _settle(name, entry, uid, dirfd)
    return changed


def _settle(path: str, info: os.stat_result, uid: int, dirfd: int | None) -> int:
    changed = 0
    if info.st_uid != uid or info.st_gid != uid:
        os.chown(path, uid, uid, dir_fd=dirfd, follow_symlinks=False)
        changed = 1
    # Links carry no mode of their own (and chmod would follow them).
    if not stat.S_ISLNK(info.st_mode) and info.st_mode & PRIVILEGE_BITS:
        # chown may have cleared the bits already; chmod sets the mode we mean either way.
        os.chmod(path, stat.S_IMODE(info.st_mode) & ~PRIVILEGE_BITS, dir_fd=dirfd)
        changed = 1
    return changed


def without_privilege_bits(mode: int) -> int:
    """`mode` without setuid and setgid: for anything of a tenant's kept on the host (slug members)."""
    return mode & ~PRIVILEGE_BITS


def account_files(passwd: str, group: str, name: str, uid: int, home: str) -> dict[str, str]:
    """/etc/passwd and /etc/group of a container whose user `name` is `uid` (gid `uid`).

    The rootfs' own entries are kept (system users of a Debian stack), except
    any with that name or id, so the user is exactly one line in each file.
    """
    def keep(text: str) -> str:
        lines = []
        for line in text.splitlines():
            fields = line.split(":")
            if len(fields) >= 3 and (fields[0] == name or fields[2] == str(uid)):
                continue
            lines.append(line)
        return "".join(f"{line}\n" for line in lines)

    return {"passwd": keep(passwd) + f"{name}:x:{uid}:{uid}:{name}:{home}:/bin/sh\n",
            "group": keep(group) + f"{name}:x:{uid}:\n"}
