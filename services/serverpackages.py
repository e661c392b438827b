"""Add-on servers on a Debian stack: the stack suite's PostgreSQL or redis-server, in a cached layer.

A Debian stack (runtime/stacks.py: forky, trixie) holds what apps build with, not the servers. As the
apt buildpack does for an Aptfile (buildpacks/apt), apt in a container of the stack downloads the
service's packages from the stack's own suite, and what they need beyond it, and each ``.deb`` is
unpacked (no maintainer script runs) into a directory that becomes a read-only layer over the stack
for the service's servers: PostgreSQL at that suite's version (forky: 18, trixie: 17).

The layer is made once per host, stack and service, by the agent (in the background: a server whose
layer is not there yet waits for it), kept beside the stacks under a key of the stack's package list
(a rebuilt stack gets a new one), and handed to root with setuid and setgid bits cleared: it is
the platform's, read by every server of that service. The host stack needs none: it has the host's.
"""

import functools
import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

from paas.runtime.errors import RuntimeLayerError
from paas.services import bgcontainers

log = logging.getLogger("paas.services")

# What each service's servers need from the stack's suite (beyond the stack itself).
PACKAGES = {"postgres": ("postgresql",), "redis": ("redis-server",)}
MAKE_MEMORY = 512 << 20
MAKE_TIMEOUT_S = 900

# Runs in a container of the stack as an unprivileged uid, apt's state in /work, the layer into /work/layer.
MAKE = r"""set -eu
mkdir -p /work/state/lists/partial /work/cache/archives/partial /work/layer
set -- -o debug::nolocking=true -o dir::state=/work/state -o dir::cache=/work/cache \
  -o dir::state::status=/var/lib/dpkg/status -o Acquire::Check-Valid-Until=false \
  -o APT::Sandbox::User="$(id -un)" -q
apt-get "$@" update >&2
plan=$(apt-get "$@" -s --no-install-recommends install $PAAS_PACKAGES)
apt-get "$@" -y --no-install-recommends --download-only install $PAAS_PACKAGES >&2
echo "$plan" | awk '/^Inst /{ for (i = 3; i <= NF; i++) if ($i ~ /^\(/) { v = $i; break }; gsub(/[()]/, "", v); print $2, v }' \
| while read -r name version; do
  deb=$(ls /work/cache/archives/"${name%%:*}_${version//:/%3a}"_*.deb 2>/dev/null | head -n 1)
  [ -n "$deb" ] || { echo "the archive of $name $version was not downloaded" >&2; exit 1; }
  dpkg-deb -x "$deb" /work/layer
done
"""

RETRY_S = 60.0
_making: set[tuple[str, str]] = set()
_failed_at: dict[tuple[str, str], float] = {}
_lock = threading.Lock()


def root() -> Path:
    from paas.runtime import config

    return config.stacks_dir() / ".addon-packages"


def _key(stack: str) -> str:
    """What the layer was made against: the stack's package list (its dpkg status)."""
    from paas.runtime import stacks

    status = Path(stacks.get(stack).layers[-1]) / "var" / "lib" / "dpkg" / "status"
    try:
        stamp = status.stat()
    except FileNotFoundError:
        return "none"
    return _hashed(str(status), stamp.st_mtime_ns, stamp.st_size)


@functools.lru_cache(maxsize=16)
def _hashed(path: str, mtime_ns: int, size: int) -> str:
    # Every agent pass asks for every server's layer: hash a stack's status once per change of it.
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def layer_dir(stack: str, service: str) -> Path:
    return root() / f"{stack}-{service}-{_key(stack)}"


def layers(stack: str, service: str) -> tuple[str, ...] | None:
    """The layers a `service` server on `stack` runs with: () on the host stack, None while not made yet
    (or while this host cannot have them: its stack missing, being built)."""
    if stack == "host":
        return ()
    try:
        path = layer_dir(stack, service)
    except (OSError, RuntimeLayerError):
        return None
    return (str(path),) if path.is_dir() else None


def version(stack: str, service: str) -> str:
    """The version a server of `service` runs on `stack` here: PostgreSQL's major, Redis's Debian upstream
    version ("" while the stack's packages are not on this host)."""
    root = layer_dir(stack, service) if stack != "host" else Path("/")
    if service == "postgres":
        base = root / "usr" / "lib" / "postgresql"
        found = sorted((p.name for p in base.glob("*") if p.name.isdigit()), key=int) if base.is_dir() else []
        return found[-1] if found else ""
    return _debian_version(root / "usr" / "share" / "doc" / "redis-server" / "changelog.Debian.gz")


def _debian_version(changelog: Path) -> str:
    """The upstream version in a Debian changelog's first line, "redis (5:8.0.6-3) unstable; ..." -> 8.0.6."""
    import gzip
    import re

    try:
        with gzip.open(changelog, "rt", errors="replace") as text:
            first = text.readline(200)
    except OSError:
        return ""
    match = re.match(r"\S+ \((?:\d+:)?([0-9][0-9.]*)", first)
    return match.group(1) if match else ""


def versions(service: str) -> dict[str, str]:
    """Stack -> the version `service` runs on it, for the stacks of this host."""
    from paas.runtime import stacks

    out = {}
    for stack in sorted(stacks.available()):
        try:
            out[stack] = version(stack, service) or "the suite's (its packages are fetched at first use)"
        except Exception:  # a stack being built or broken: say nothing of it
            continue
    return out


def ensure_soon(stack: str, service: str) -> None:
    """Make the layer in the background, once at a time per stack and service (a minute after a failure)."""
    with _lock:
        if (stack, service) in _making or time.monotonic() - _failed_at.get((stack, service), -RETRY_S) < RETRY_S:
            return
        _making.add((stack, service))
    threading.Thread(target=_ensure_once, args=(stack, service), name=f"addon-layer-{stack}-{service}",
                     daemon=True).start()


def _ensure_once(stack: str, service: str) -> None:
    try:
        ensure(stack, service)
    except Exception as error:  # tried again when a server asks for it next, a minute on
        log.warning("the %s layer of stack %s could not be made: %s", service, stack, error)
        with _lock:
            _failed_at[(stack, service)] = time.monotonic()
    finally:
        with _lock:
            _making.discard((stack, service))


def prepare(stack: str) -> None:
    """At the agent's start: the servers' layers of `stack` (the default one) if this host has it, in the
    background, so the first add-on on it does not wait for apt."""
    from paas.runtime import stacks

    if stack != "host" and stack in stacks.names():
        for service in PACKAGES:
            ensure_soon(stack, service)


def ensure(stack: str, service: str) -> Path | None:
    """Make the layer if it is not there (minutes: apt downloads); whole or not at all (a rename)."""
    if stack == "host":
        return None
    target = layer_dir(stack, service)
    if target.is_dir():
        return target
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".make-", dir=target.parent))
    try:
        _download(stack, service, work)
        layer = work / "layer"
        from paas.runtime import identity

        # The platform's from now on: root's, no setuid or setgid bit (nothing in it runs privileged).
        identity.hand_over(layer, 0)
        layer.chmod(0o755)
        # One made against an earlier build of the stack stays: servers started on it may still run on it.
        try:
            layer.rename(target)
        except OSError:
            if not target.is_dir():
                raise
            return target  # another agent or worker made it meanwhile: theirs is the same, ours goes
        log.info("the %s layer of stack %s is made: %s", service, stack, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download(stack_name: str, service: str, work: Path) -> None:
    """apt in a container of the stack (network: the suite's mirror), as a uid no server has."""
    from paas.runtime import container, identity, stacks
    from paas.runtime.spec import ContainerSpec, Limits, Mount

    stack = stacks.get(stack_name)
    uid = identity.ADDON_UIDS.start  # add-on primary keys start at 1: no server has this uid
    identity.hand_over(work, uid)
    made = container.create(ContainerSpec(
        command=("/bin/bash", "-c", MAKE), layers=stack.layers, binds=(*stack.binds, Mount(work, "/work", False)),
        env=(("PAAS_PACKAGES", " ".join(PACKAGES[service])), ("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")),
        workdir="/work", user=f"{uid}:{uid}", user_name="addon", network="bridge",
        limits=Limits(memory=MAKE_MEMORY, pids=256), id=f"addon-layer-{secrets.token_hex(4)}"))
    try:
        with bgcontainers.tracked(made.id, "bridge"):
            made.start()
            exited = made.wait(MAKE_TIMEOUT_S)
            outcome = made.stop(grace=0) if not exited else made.mark_stopped()
    finally:
        container.release(made.id, "bridge")
    if outcome.exit_code != 0 or not (work / "layer" / "usr").is_dir():
        raise RuntimeError(f"apt in a container of {stack_name} exited {outcome.exit_code}")
    os.sync()
