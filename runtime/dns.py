"""The DNS forwarder of each bridge: how builds and instances resolve names.

Containers on a bridge cannot reach the host's resolver (the firewall drops
everything they send to the host, and DNS anywhere but here), so each bridge
gets a dnsmasq listening on its gateway address only, UDP and TCP port 53,
forwarding to the host's resolvers (PAAS_DNS_UPSTREAM, or the nameservers of
the host's /etc/resolv.conf). Containers' /etc/resolv.conf names the gateway
(container._etc_files).

It answers DNS only: no DHCP, no hosts file of the host, no answers made up
for private reverse lookups; a bounded number of queries in flight
(--dns-forward-max) and a bounded cache. It is bound to the gateway address
alone and the firewall admits port 53 there only from the bridges, so it is no
open resolver for the host's other networks.

Who runs it: whoever makes or uses the bridge (network.ensure_bridge, on every
attach: the agent for instances, the build worker for builds, the CLI) makes
sure it runs; it is a daemon of its own, like the bridge it outlives the
process that started it, so instances keep resolving across an agent restart.
Its pid file under PAAS_LEASES_DIR finds it again; one whose command line
differs from what the settings ask for now (another upstream) is replaced.
remove() stops it with its bridge (network.remove_bridge).
"""

import os
import signal
import subprocess
import time
from pathlib import Path

from . import config, leases
from .errors import NetworkError

RESOLV_CONF = Path("/etc/resolv.conf")
CACHE_SIZE = 1000
FORWARD_MAX = 150  # dnsmasq's default, stated: queries forwarded at once, the rest refused


def upstreams() -> list[str]:
    """The resolvers asked: PAAS_DNS_UPSTREAM, else the host's /etc/resolv.conf nameservers."""
    if config.DNS_UPSTREAM:
        return list(config.DNS_UPSTREAM)
    import ipaddress

    found = []
    try:
        text = RESOLV_CONF.read_text(errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            try:
                found.append(str(ipaddress.ip_address(words[1].split("%")[0])))
            except ValueError:
                continue
    if not found:
        raise NetworkError(f"no nameserver in {RESOLV_CONF}: set PAAS_DNS_UPSTREAM")
    return found


def _name(bridge: str) -> str:
    # Bridges are per network namespace: an agent in a namespace of its own has its own.
    return f"dns-{bridge}-{os.stat('/proc/self/ns/net').st_ino}"


def pid_file(bridge: str) -> Path:
    return leases.directory() / f"{_name(bridge)}.pid"


def argv(bridge: str, gateway: str) -> list[str]:
    """The forwarder's command line: everything it does is stated here."""
    return [_binary(), "--conf-file=/dev/null", f"--pid-file={pid_file(bridge)}",
            f"--listen-address={gateway}", "--bind-dynamic", "--port=53",
            "--no-resolv", "--no-hosts", "--no-poll", "--bogus-priv", "--domain-needed",
            f"--cache-size={CACHE_SIZE}", f"--dns-forward-max={FORWARD_MAX}",
            *(f"--server={address}" for address in upstreams())]


def _binary() -> str:
    import shutil

    # /usr/sbin is not on every PATH (a worker started by a user's shell).
    return shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie no longer does)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _running(bridge: str) -> tuple[int, list[str]]:
    """The forwarder's pid and command line, (0, []) when none runs."""
    try:
        pid = int(pid_file(bridge).read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:-1]
    except (OSError, ValueError):
        return 0, []
    words = [word.decode(errors="replace") for word in cmdline]
    # A pid reused by something else does not name our pid file.
    if f"--pid-file={pid_file(bridge)}" not in words or not _alive(pid):
        return 0, []
    return pid, words


def ensure(bridge: str, gateway: str) -> None:
    """Start the bridge's forwarder unless the one running already matches the settings."""
    wanted = argv(bridge, gateway)
    pid, words = _running(bridge)
    if pid and words[1:] == wanted[1:]:
        return
    with leases.locked_file(_name(bridge)):
        pid, words = _running(bridge)
        if pid and words[1:] == wanted[1:]:
            return  # a concurrent start won
        if pid:
            _stop(pid)
        # dnsmasq forks into the background and exits once the daemon listens (or failed to).
        # An empty environment: the daemon outlives its starter and owes nothing to its
        # settings (nor shows them in /proc/<pid>/environ).
        result = subprocess.run(wanted, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                check=False, timeout=10, env={}, cwd="/")
        if result.returncode != 0:
            raise NetworkError(f"the DNS forwarder on {bridge} did not start: "
                               f"{(result.stderr or result.stdout).strip()[:300]}")


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.02)


def remove(bridge: str) -> None:
    """Stop the bridge's forwarder (its bridge is going away)."""
    pid, _ = _running(bridge)
    if pid:
        _stop(pid)
    pid_file(bridge).unlink(missing_ok=True)
    (leases.directory() / f"{_name(bridge)}.lock").unlink(missing_ok=True)
