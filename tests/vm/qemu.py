"""Boot the guest image under qemu with KVM, run pytest in it, and read back its result.

Two 9p shares: the checkout (read-only) and a results directory the host made. The
guest writes ``exitcode`` (last), ``junit.xml``, ``pytest.log`` and ``timings.json``
there; the serial console goes to ``console.log`` beside them. The results share uses
qemu's ``mapped-xattr`` model, so whatever the guest makes there (links, devices,
setuid bits) lands on the host as a plain file owned by qemu's user, and every file is
read back without following links, checked to be a regular file and bounded in size.

Nothing outlives a run: qemu is killed (its whole process group) when the run ends,
fails or times out, and by the kernel if the test process itself is killed; the root disk is opened with ``snapshot=on``, so the guest's writes
go to a temporary file qemu deletes, and the cached image stays as built.
"""

import ctypes
import json
import os
import shutil
import signal
import stat
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm import image as vm_image

QEMU = "qemu-system-x86_64"
KVM = Path("/dev/kvm")
HARDWARE_KVM = ("kvm_intel", "kvm_amd")
MEMORY_MB = 4096
CPUS = 2
LIMITS = {"exitcode": 16, "timings.json": 4096, "junit.xml": 8 << 20, "pytest.log": 16 << 20,
          "console.log": 16 << 20, "install.log": 1 << 20, "qemu.log": 1 << 20}


class GuestError(Exception):
    """The guest did not report a result (boot failure, timeout, unreadable output)."""


class GuestPanic(GuestError):
    """The guest's own kernel panicked: a fault of the guest kernel or the emulator, not of the suite."""


PANIC = "Kernel panic - not syncing"


@dataclass
class Result:
    """What the guest's pytest reported."""

    exit_code: int
    tests: int = 0
    failures: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    log_tail: str = ""


def qemu_missing() -> str | None:
    """Why this machine cannot run the guest at all (no qemu), or None when it can."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (compose/bootstrap.sh installs it where /dev/kvm exists)"
    return None


def accelerator() -> tuple[str, str, str]:
    """(qemu -accel, -cpu, why): KVM when it can run a stock Debian kernel, else TCG.

    A /dev/kvm backed by the hardware (the kvm_intel or kvm_amd module) runs any guest.
    One backed only by PVM (kvm_pvm: shadow paging without VT-x/AMD-V, as in cloud VMs
    without nested virtualisation, this machine among them) runs PVM-enlightened guest
    kernels at speed and a stock kernel's ring 0 only through its instruction emulator,
    which stops on the zstd decompressor's SHRX and on CMPXCHG16B: that guest never
    boots. Then qemu's own translator (TCG, one thread per vCPU) runs the guest, slower
    but the same kernel, systemd and cgroup2. Its CPU model is Nehalem: without AVX, glibc
    and Python take SSE paths TCG translates well (17 runtime tests: 35 s against 43 s
    twice with -cpu max)."""
    tcg = "tcg,thread=multi", "Nehalem"
    if not KVM.exists():
        return *tcg, f"{KVM} is absent"
    try:
        os.close(os.open(KVM, os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        return *tcg, f"{KVM} cannot be opened: {exc.strerror}"
    if not any(Path("/sys/module", m).exists() for m in HARDWARE_KVM):
        return *tcg, f"{KVM} is not hardware KVM (no {' or '.join(HARDWARE_KVM)} module)"
    return "kvm", "host", "hardware KVM"


def command(img: vm_image.Image, out: Path) -> list[str]:
    """The qemu command line for one run (results in `out`)."""
    accel, cpu, _ = accelerator()
    return [
        QEMU, "-machine", "q35", "-accel", accel, "-cpu", cpu, "-smp", str(CPUS), "-m", str(MEMORY_MB),
        "-nodefaults", "-display", "none", "-no-reboot", "-monitor", "none",
        "-serial", f"file:{out / 'console.log'}",
        "-kernel", str(img.kernel), "-initrd", str(img.initrd),
        # systemd.unit: straight to the test target. The unified hierarchy is trixie's only
        # mode; saying so keeps the guest on v2 whatever a later systemd defaults to.
        # oops=panic panic=-1: a guest kernel fault powers the guest off at once (qemu runs
        # with -no-reboot) instead of leaving it hung until the deadline.
        "-append", "console=ttyS0 root=/dev/vda rw quiet mitigations=off oops=panic panic=-1 "
                   "systemd.unit=paas-vm.target systemd.unified_cgroup_hierarchy=1 systemd.show_status=0",
        "-drive", f"file={img.root},format=raw,if=virtio,snapshot=on,cache=unsafe",
        "-virtfs", f"local,path={vm_image.CHECKOUT},mount_tag=paas,security_model=none,readonly=on",
        "-virtfs", f"local,path={out},mount_tag=out,security_model=mapped-xattr",
        # User networking with restrict=on: an interface and a default route like any host's,
        # and no way out of the guest (the image already holds the project's dependencies).
        "-netdev", "user,id=net0,restrict=on", "-device", "virtio-net-pci,netdev=net0,romfile=",
    ]


def run(img: vm_image.Image, pytest_args: list[str], out: Path, timeout: float) -> Result:
    """Boot `img`, run ``pytest pytest_args`` in it, and return what it reported."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "args").write_text("".join(f"{a}\n" for a in pytest_args))
    shutil.copy2(vm_image.HOST_CA_BUNDLE, out / "ca.crt")
    started = time.monotonic()
    with open(out / "qemu.log", "wb") as qemu_log:
        proc = subprocess.Popen(command(img, out), stdin=subprocess.DEVNULL, stdout=qemu_log,
                                stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise _error_class(out)(f"the guest did not power off within {timeout:.0f}s; console:\n"
                             + tail(out, "console.log")) from None
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return results(out, time.monotonic() - started, f"qemu exited {proc.returncode}")


def _die_with_parent() -> None:
    # In the child before exec: if the test process is killed outright (no finally runs),
    # the kernel kills qemu too, instead of leaving it running the guest to its end.
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def results(out: Path, wall: float, how_it_ended: str = "") -> Result:
    """What the guest left in `out`: its exit code (written last), failures, skips, timings."""
    code = read(out, "exitcode").strip()
    if not code.isdigit():
        raise _error_class(out)(f"the guest wrote no exit code ({how_it_ended}); qemu: "
                         f"{tail(out, 'qemu.log', 5)}\nconsole:\n{tail(out, 'console.log')}")
    # No pytest output means the guest stopped before pytest (its install failed: exit 125).
    log = tail(out, "pytest.log", 60) or "install.log:\n" + tail(out, "install.log", 30)
    result = Result(exit_code=int(code), log_tail=log)
    _read_junit(out, result)
    try:
        marks = json.loads(read(out, "timings.json"))
        result.timings = {"boot_s": marks["booted"], "install_s": round(marks["installed"] - marks["booted"], 1),
                          "suite_s": round(marks["tested"] - marks["installed"], 1), "qemu_wall_s": round(wall, 1)}
    except (ValueError, KeyError, TypeError):
        result.timings = {"qemu_wall_s": round(wall, 1)}
    return result


def _error_class(out: Path) -> type[GuestError]:
    try:
        return GuestPanic if PANIC in read(out, "console.log") else GuestError
    except GuestError:
        return GuestError


def _read_junit(out: Path, result: Result) -> None:
    text = read(out, "junit.xml")
    if not text:
        return
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise GuestError(f"junit.xml from the guest does not parse: {exc}") from None
    for case in root.iter("testcase"):
        result.tests += 1
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        for kind in ("failure", "error"):
            for node in case.findall(kind):
                message = (node.get("message") or "").splitlines()[:1]
                result.failures.append(f"{kind}: {name}: {message[0][:300] if message else ''}")
        for node in case.findall("skipped"):
            result.skipped.append(f"{name}: {(node.get('message') or '')[:200]}")


def read(out: Path, name: str) -> str:
    """A file the guest wrote: not through a link, a regular file, at most LIMITS[name] bytes."""
    try:
        fd = os.open(out / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise GuestError(f"{name} from the guest cannot be opened: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise GuestError(f"{name} from the guest is not a regular file")
        if info.st_size > LIMITS[name]:
            raise GuestError(f"{name} from the guest is {info.st_size} bytes, over {LIMITS[name]}")
        return f.read(LIMITS[name]).decode("utf-8", "replace")


def tail(out: Path, name: str, lines: int = 40) -> str:
    """The last lines of a file the guest (or qemu) wrote, for failure messages."""
    try:
        return "\n".join(read(out, name).splitlines()[-lines:])
    except GuestError as exc:
        return str(exc)
