"""Stacks: the base root filesystems apps run on, kept in a registry directory.

Each stack is ``<data>/runtime/stacks/<name>/stack.json`` naming its read-only
layers and bind mounts. ``host`` is made on first use in milliseconds (a
skeleton with a generated /etc, plus the host's /usr read-only); ``forky`` and
``trixie`` are Debian root filesystems made once by debootstrap (``paas-runner stack:build``).

Every stack binds the platform's trust bundle (trust.py) over ``/etc/ssl/certs``: builds and
instances trust what the host trusts, whatever the stack's own ca-certificates holds.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import config, trust
from .errors import SpecError, StackError
from .spec import Mount

APP_UID = 10000
APP_USER = "app"
DEBIAN_MIRROR = config.debian_mirror()
DEBIAN_PACKAGES = ("python3", "python3-venv", "python3-pip", "nodejs", "npm", "build-essential", "ca-certificates",
                   "curl", "git")
# Release -> (debootstrap script, packages beside DEBIAN_PACKAGES). forky (testing) is newer than
# this host's debootstrap, which bootstraps it with sid's script. forky's python3 is 3.14; its 3.13
# is installed too so apps pinning the previous version still build.
DEBIAN_RELEASES = {
    "forky": ("sid", ("python3.13", "python3.13-venv")),
    "trixie": ("trixie", ()),
    "bookworm": ("bookworm", ()),
}

PASSWD = (
    "root:x:0:0:root:/root:/usr/sbin/nologin\n"
    f"{APP_USER}:x:{APP_UID}:{APP_UID}:app:/app:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
)
GROUP = f"root:x:0:\n{APP_USER}:x:{APP_UID}:\nnogroup:x:65534:\n"
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n"


@dataclass(frozen=True)
class Stack:
    name: str
    layers: tuple[Path, ...]
    binds: tuple[Mount, ...] = ()


def stack_dir(name: str) -> Path:
    return config.stacks_dir() / name


def _load(name: str) -> Stack | None:
    path = stack_dir(name) / "stack.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    binds = trust.with_trust_bind(data.get("binds", []))
    return Stack(name=name, layers=tuple(Path(p) for p in data["layers"]),
                 binds=tuple(Mount(Path(s), d, True) for s, d in binds))


def get(name: str) -> Stack:
    """The stack `name`; the host stack is made on first use, others must have been built."""
    stack = _load(name)
    if stack is not None:
        trust.refresh()
        return stack
    if name == "host":
        return build_host()
    if being_built(name):
        raise SpecError(f"stack {name!r} is still being built on this host (make up builds it at first start); "
                        "try again in a few minutes")
    known = ", ".join(sorted(names() | {"host"}))
    raise SpecError(f"unknown stack {name!r} (available: {known}; build one with paas-runner stack:build)")


def names() -> set[str]:
    root = config.stacks_dir()
    return {p.name for p in root.iterdir() if (p / "stack.json").exists()} if root.is_dir() else set()


def available() -> set[str]:
    """The stacks an instance can start on here: those built, and the host stack (made on first use)."""
    return names() | {"host"}


def being_built(name: str) -> bool:
    """A build of stack `name` is under way: its scratch directory (see build_debian) exists."""
    root = config.stacks_dir()
    return root.is_dir() and any(root.glob(f".{name}-*"))


def _publish(name: str, tmp: Path, layers: list[str], binds: list[list[str]]) -> Stack:
    """Write stack.json and move the finished stack into place in one rename."""
    trust.refresh()
    binds = trust.with_trust_bind(binds)
    (tmp / "stack.json").write_text(json.dumps({"layers": layers, "binds": binds}, indent=1))
    target = stack_dir(name)
    try:
        os.rename(tmp, target)
    except OSError:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)  # a concurrent first use won the race
        if _load(name) is None:
            raise StackError(f"stack {name} could not be installed at {target}") from None
    stack = _load(name)
    assert stack is not None
    return stack


def _write_etc(etc: Path) -> None:
    import shutil

    etc.mkdir(parents=True, exist_ok=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    (etc / "nsswitch.conf").write_text(NSSWITCH)
    # The loader's cache makes library lookups as fast as on the host.
    if Path("/etc/ld.so.cache").exists():
        shutil.copy2("/etc/ld.so.cache", etc / "ld.so.cache")


def build_host() -> Stack:
    """The host stack: a skeleton with a minimal /etc, plus the host's system dirs read-only."""
    import tempfile

    root_dir = config.stacks_dir()
    root_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".host-", dir=root_dir))
    rootfs = tmp / "rootfs"
    for d in ("usr", "etc", "tmp", "proc", "sys", "dev", "app", "var/tmp", "run", "etc/alternatives", "etc/ssl/certs"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    binds = [["/usr", "/usr"]]
    # Merged-/usr hosts have /bin -> usr/bin: copy the links; older hosts get binds.
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        host = Path("/") / name
        if host.is_symlink():
            os.symlink(os.readlink(host), rootfs / name)
        elif host.is_dir():
            (rootfs / name).mkdir()
            binds.append([str(host), f"/{name}"])
    # Debian's /usr/bin links through /etc/alternatives (certificates: the trust bind of _publish).
    if Path("/etc/alternatives").is_dir():
        binds.append(["/etc/alternatives", "/etc/alternatives"])
    _write_etc(rootfs / "etc")
    os.chmod(rootfs / "tmp", 0o1777)
    return _publish("host", tmp, [str(stack_dir("host") / "rootfs")], binds)


def build_debian(name: str, mirror: str = DEBIAN_MIRROR, packages=DEBIAN_PACKAGES) -> Stack:
    """Build a Debian stack with debootstrap (slow: needs the mirror; an operator command)."""
    import shutil
    import tempfile

    if name not in DEBIAN_RELEASES:
        raise StackError(f"cannot build stack {name!r}: known Debian releases are {', '.join(DEBIAN_RELEASES)}")
    script, extra = DEBIAN_RELEASES[name]
    if shutil.which("debootstrap") is None:
        raise StackError("debootstrap is not installed (apt-get install debootstrap)")
    root_dir = config.stacks_dir()
    root_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root_dir))
    rootfs = tmp / "rootfs"
    try:
        # minbase first, then apt inside it: debootstrap's own --include
        # resolves dependencies poorly and fails on packages such as npm.
        _checked(["debootstrap", "--variant=minbase", name, str(rootfs), mirror,
                  f"/usr/share/debootstrap/scripts/{script}"])
        shutil.copy2("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
        # testing's Release file is valid for a week only: a mirror snapshot (or a clock ahead of the
        # mirror) fails the update. Signatures are still verified.
        _in_root(rootfs, ["apt-get", "-o", "Acquire::Check-Valid-Until=false", "update", "-q"])
        _in_root(rootfs, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages, *extra])
        _in_root(rootfs, ["apt-get", "clean"])
        _in_root(rootfs, ["groupadd", "-g", str(APP_UID), APP_USER])
        _in_root(rootfs, ["useradd", "-u", str(APP_UID), "-g", str(APP_UID), "-d", "/app", "-s", "/bin/sh", APP_USER])
        (rootfs / "app").mkdir(exist_ok=True)
        # Every instance gets a generated resolv.conf and hosts of its own.
        (rootfs / "etc" / "resolv.conf").unlink(missing_ok=True)
        shutil.rmtree(rootfs / "var" / "lib" / "apt" / "lists", ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _publish(name, tmp, [str(stack_dir(name) / "rootfs")], [])


def _in_root(rootfs: Path, cmd: list[str]) -> None:
    """Run a command chrooted in `rootfs` with its own /proc, in a private mount namespace
    (so nothing stays mounted on the host, whatever happens)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    _checked(["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
              f"--mount-proc={rootfs / 'proc'}", "chroot", str(rootfs), *cmd], env=env)


def _checked(cmd: list[str], env: dict | None = None) -> None:
    import subprocess

    result = subprocess.run(cmd, check=False, env=env)
    if result.returncode != 0:
        raise StackError(f"{cmd[0]} failed with exit code {result.returncode}")
