"""The guest's disk: a Debian root (debootstrap) with its kernel, made once and cached.

The image is keyed by everything that goes into it (release, packages, this file,
the guest's boot unit and the project's dependencies from pyproject.toml), so a later
run with the same inputs boots the cached one, and a change of any input builds a new
one beside it. It holds the project's dependencies in ``/srv/paas/.venv`` but not the
project: the checkout is shared into the guest at every boot (see qemu.py).

Building needs root, debootstrap and the Debian mirror (``PAAS_DEBIAN_MIRROR``, the
stacks' setting); pip runs inside the new root with the host's network and CA bundle.
"""

import fcntl
import hashlib
import json
import shutil
import subprocess
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from paas.runtime import config, stacks

RELEASE = "trixie"  # Python 3.13, PostgreSQL 17, kernel 6.12; systemd on the unified hierarchy only
PACKAGES = (
    "linux-image-amd64", "initramfs-tools", "systemd-sysv", "kmod", "udev",
    "iproute2", "iptables", "dnsmasq-base", "procps", "psmisc",
    "python3", "python3-venv", "gcc", "libc6-dev", "make", "git", "curl",
    "postgresql", "redis-server",
)
IMAGE_BYTES = 8 << 30  # sparse: the ext4 file holds ~1.2 GB; the rest is room for the suite's writes
CHECKOUT = Path(__file__).resolve().parents[2]
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
BOOT_SCRIPT = "/usr/local/sbin/paas-vm-boot"

# systemd boots straight into this target (kernel argument systemd.unit=): nothing but
# the basic system and the one service that runs the guest's part, then powers off
# whatever its result. Real hosts run systemd too, which owns the cgroup2 root.
UNITS = {
    "paas-vm.target": """[Unit]
Description=paas VM test run
Requires=basic.target paas-vm.service
After=basic.target
AllowIsolate=yes
""",
    "paas-vm.service": f"""[Unit]
Description=paas VM test run: the checkout's tests/vm/guest-run.sh
After=basic.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart={BOOT_SCRIPT}
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity
""",
}
# Mounts the two shares (the checkout read-only, the results directory) and hands over
# to the checkout's script, so changing what the guest runs needs no new image.
BOOT = """#!/bin/sh
set -e
modprobe -a 9p 9pnet_virtio
mkdir -p /mnt/paas /mnt/out
mount -t 9p -o trans=virtio,version=9p2000.L,ro paas /mnt/paas
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out /mnt/out
exec /bin/bash /mnt/paas/tests/vm/guest-run.sh
"""


class ImageError(Exception):
    """The guest image could not be built (the message names the step; its log is beside it)."""


@dataclass(frozen=True)
class Image:
    """A built guest: its root disk (raw ext4), kernel and initrd."""

    root: Path
    kernel: Path
    initrd: Path


def dependencies() -> list[str]:
    """The project's runtime and test requirements, as pyproject.toml lists them."""
    project = tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]
    return [*project["dependencies"], *project["optional-dependencies"]["test"]]


def key() -> str:
    """A digest of every input of the image."""
    digest = hashlib.sha256()
    digest.update(json.dumps({
        "release": RELEASE, "packages": PACKAGES, "units": UNITS, "boot": BOOT,
        "deps": dependencies(), "mirror": stacks.DEBIAN_MIRROR, "size": IMAGE_BYTES,
    }, sort_keys=True).encode())
    digest.update(Path(__file__).read_bytes())
    return digest.hexdigest()[:16]


def cache_root() -> Path:
    """Where built images live: beside the runtime's other cached builds."""
    return config.cache_dir() / "vm"


def ensure(log=print) -> Image:
    """The cached image for the current inputs, built first when missing.

    Serialised by a lock, so two runs never build the same image twice; a build that
    fails leaves nothing behind but its log (``<cache>/vm/<key>.log``)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    name = f"{RELEASE}-{key()}"
    final = root / name
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (final / "root.img").is_file():
            log(f"building guest image {name} (debootstrap {RELEASE}; a few minutes, once)")
            _build(root, final)
    return Image(final / "root.img", final / "vmlinuz", final / "initrd.img")


def _build(root: Path, final: Path) -> None:
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=root))
    logfile = root / f"{final.name}.log"
    try:
        with open(logfile, "w") as log:
            rootfs = work / "rootfs"
            _step(log, "debootstrap", ["debootstrap", "--variant=minbase", RELEASE, str(rootfs), stacks.DEBIAN_MIRROR])
            shutil.copy2("/etc/resolv.conf", rootfs / "etc" / "resolv.conf")
            _chroot(log, rootfs, ["apt-get", "update", "-q"])
            _chroot(log, rootfs, ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES])
            _chroot(log, rootfs, ["apt-get", "clean"])
            shutil.rmtree(rootfs / "var" / "lib" / "apt" / "lists", ignore_errors=True)
            _venv(log, rootfs)
            _configure(rootfs)  # last: it takes away the host's resolv.conf that apt and pip used
            boot = rootfs / "boot"
            kernels = sorted(boot.glob("vmlinuz-*"))
            initrds = sorted(boot.glob("initrd.img-*"))
            if not kernels or not initrds:
                raise ImageError(f"no kernel or initrd under {boot} after installing linux-image-amd64")
            shutil.copy2(kernels[-1], work / "vmlinuz")
            shutil.copy2(initrds[-1], work / "initrd.img")
            # mkfs.ext4 -d fills the file system from the directory, owners and modes kept:
            # no loop device or mount to clean up.
            _step(log, "mkfs.ext4", ["mkfs.ext4", "-q", "-F", "-L", "paasroot", "-d", str(rootfs),
                                     str(work / "root.img"), f"{IMAGE_BYTES // 1024}k"])
            shutil.rmtree(rootfs)
        work.rename(final)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise


def _configure(rootfs: Path) -> None:
    etc = rootfs / "etc"
    (etc / "hostname").write_text("paas-vm\n")
    (etc / "hosts").write_text("127.0.0.1 localhost paas-vm\n::1 localhost\n")
    (etc / "fstab").write_text("# the root is mounted read-write by the kernel (root=/dev/vda rw)\n")
    (etc / "resolv.conf").unlink(missing_ok=True)
    units = etc / "systemd" / "system"
    for unit, text in UNITS.items():
        (units / unit).write_text(text)
    boot = rootfs / BOOT_SCRIPT.lstrip("/")
    boot.write_text(BOOT)
    boot.chmod(0o755)


def _venv(log, rootfs: Path) -> None:
    # The host's CA bundle, so pip trusts the TLS-intercepting proxy this machine may sit behind.
    shutil.copy2(HOST_CA_BUNDLE, rootfs / "tmp" / "ca.crt")
    pip = ["env", "PIP_CERT=/tmp/ca.crt", "PIP_DISABLE_PIP_VERSION_CHECK=1", "/srv/paas/.venv/bin/pip",
           "install", "-q"]
    _chroot(log, rootfs, ["python3", "-m", "venv", "/srv/paas/.venv"])
    _chroot(log, rootfs, [*pip, "setuptools>=69", "wheel"])
    _chroot(log, rootfs, [*pip, *dependencies()])
    (rootfs / "tmp" / "ca.crt").unlink()
    shutil.rmtree(rootfs / "root" / ".cache", ignore_errors=True)


def _chroot(log, rootfs: Path, cmd: list[str]) -> None:
    """Run a command chrooted in `rootfs` with its own /proc, in a private mount
    namespace, so nothing stays mounted on the host whatever happens."""
    what = next(word for word in cmd if word != "env" and "=" not in word)
    _step(log, what, ["unshare", "--mount", "--propagation", "private", "--pid", "--fork",
                        f"--mount-proc={rootfs / 'proc'}", "chroot", str(rootfs), *cmd])


def _step(log, what: str, cmd: list[str]) -> None:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8",
           "HOME": "/root"}
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    result = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd="/", check=False)
    if result.returncode != 0:
        raise ImageError(f"building the guest image: {what} exited with {result.returncode} (log: {log.name})")

