"""`paas egress:deny` for the docker backend: host rules keyed by the instance's MAC address.

An engine container's network namespace exists only once it has started, so the native runner's way
(rules inside the instance's own namespace, network.set_egress, in place before its first
instruction) has nowhere to go in time. Each docker-backend instance gets a MAC address of its own
when it is created (``mac_for``), known before it starts; denying its egress is two rules in the
host's chain ``PAAS-EGR-<PAAS_DOCKER_BRIDGE>``, jumped to first from PAAS-INPUT and PAAS-FORWARD
for the docker backend's bridges: replies to connections made to the instance (the router's, health
checks) pass; everything else it sends to or through the host is rejected, DNS included, and so are
the next packets of connections it had opened itself. The native runner's semantics, kept on the host.
"""

import hashlib
import shlex
import subprocess

from . import config
from .errors import NetworkError

REJECT = ("-j", "REJECT", "--reject-with", "icmp-admin-prohibited")


def chain() -> str:
    return f"PAAS-EGR-{config.docker_bridge()}"


def mac_for(name: str) -> str:
    """A locally administered unicast MAC address of instance `name` (0e:..., not Docker's 02:42:...)."""
    digest = hashlib.sha256(name.encode()).digest()[:5]
    return ":".join(f"{b:02x}" for b in (0x0E, *digest))


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"iptables {' '.join(args[:3])}: {result.stderr.strip()[:300]}")
    return result


def _ensure_chain() -> None:
    """The chain, jumped to ahead of every other rule for the docker bridges (replies, DNS and the
    outside are all accepted further down, in firewall.py's chains)."""
    from .firewall import CHAIN_FORWARD, CHAIN_INPUT

    if _iptables("-S", chain(), check=False).returncode != 0:
        _iptables("-N", chain(), check=False)
    bridges = f"{config.docker_bridge()}+"
    for parent in (CHAIN_INPUT, CHAIN_FORWARD):
        if _iptables("-C", parent, "-i", bridges, "-j", chain(), check=False).returncode != 0:
            _iptables("-I", parent, "1", "-i", bridges, "-j", chain())


def set_egress(name: str, mac: str, allowed: bool) -> None:
    """Let instance `name` (with MAC address `mac`) open connections out, or nothing at all."""
    _ensure_chain()
    forget(name)
    if allowed:
        return
    match = ("-m", "mac", "--mac-source", mac, "-m", "comment", "--comment", name)
    _iptables("-A", chain(), *match, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "--ctdir", "REPLY",
              "-j", "RETURN")
    _iptables("-A", chain(), *match, *REJECT)


def forget(name: str) -> None:
    """Instance `name`'s rules gone (its egress allowed, or it is released)."""
    listed = _iptables("-S", chain(), check=False)
    if listed.returncode != 0:
        return
    for line in listed.stdout.splitlines():
        words = shlex.split(line)
        if words[:2] == ["-A", chain()] and _comment(words) == name:
            _iptables("-D", *words[1:], check=False)


def denied(name: str) -> bool:
    """Whether instance `name` has its egress denied by the rules in place."""
    listed = _iptables("-S", chain(), check=False)
    return listed.returncode == 0 and any(_comment(shlex.split(line)) == name for line in listed.stdout.splitlines())


def _comment(words: list[str]) -> str | None:
    for index, word in enumerate(words[:-1]):
        if word == "--comment":
            return words[index + 1]
    return None


def remove_chain() -> None:
    """The chain and its jumps gone (the tests' engine leaves nothing behind)."""
    from .firewall import CHAIN_FORWARD, CHAIN_INPUT

    bridges = f"{config.docker_bridge()}+"
    for parent in (CHAIN_INPUT, CHAIN_FORWARD):
        while _iptables("-D", parent, "-i", bridges, "-j", chain(), check=False).returncode == 0:
            pass
    _iptables("-F", chain(), check=False)
    _iptables("-X", chain(), check=False)
