"""iptables rules that keep bridge instances away from the host's services.

Instances reach nothing on the host: new connections from the bridge to the
host are dropped (PostgreSQL, Redis, the API and everything else), replies to
connections the host opened (the router's requests) pass. Routed traffic from
the bridge back onto the bridge is dropped, so an instance cannot reach another
one through the host either; direct traffic between instances is stopped at
layer 2 by isolated bridge ports (see network.py).

Published ports (Docker's ``-p``): a DNAT rule per instance in the nat table's
PAAS-PUBLISH chain sends a host port on any of the host's addresses to the
instance's address and $PORT, so a router on another host reaches it. Only
connections that came in through such a rule may enter the bridge from
outside; instances cannot reach published ports themselves (on their own host
the bridge-to-bridge drop stops them, elsewhere the drop of the publish range).
"""

import shlex
import subprocess
from pathlib import Path

from . import config
from .errors import NetworkError

CHAIN_INPUT = "PAAS-INPUT"
CHAIN_FORWARD = "PAAS-FORWARD"
CHAIN_PUBLISH = "PAAS-PUBLISH"


def _iptables(*args: str, check: bool = True) -> bool:
    # -w waits for the xtables lock instead of failing when another tool holds it.
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"iptables {' '.join(args)}: {result.stderr.strip()}")
    return result.returncode == 0


def _ensure_rule(*rule: str) -> None:
    if not _iptables("-C", *rule, check=False):
        _iptables("-A", *rule)


def _ensure_chain(chain: str, parent: str, *match: str, table: str = "filter") -> None:
    _iptables("-t", table, "-N", chain, check=False)  # fails harmlessly when the chain exists
    if not _iptables("-t", table, "-C", parent, *match, "-j", chain, check=False):
        _iptables("-t", table, "-I", parent, "1", *match, "-j", chain)


def ensure_rules() -> None:
    """Install the rules once per host (idempotent).

    They name every bridge of the pool at once (`paas0+` is iptables for
    paas0, paas0x1, ...), so an instance cannot reach one on another bridge
    through the host either.
    """
    bridge = f"{config.BRIDGE}+"
    _ensure_chain(CHAIN_INPUT, "INPUT")
    _ensure_rule(CHAIN_INPUT, "-i", bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    _ensure_rule(CHAIN_INPUT, "-i", bridge, "-j", "DROP")
    _ensure_chain(CHAIN_FORWARD, "FORWARD")
    _ensure_rule(CHAIN_FORWARD, "-i", bridge, "-o", bridge, "-j", "DROP")
    first, last = publish_range()
    _ensure_rule(CHAIN_FORWARD, "-i", bridge, "-p", "tcp", "--dport", f"{first}:{last}", "-j", "DROP")
    # Where FORWARD's policy is DROP (as Docker leaves it), published ports still work.
    _ensure_rule(CHAIN_FORWARD, "-o", bridge, "-m", "conntrack", "--ctstate", "DNAT", "-j", "ACCEPT")
    _ensure_rule(CHAIN_FORWARD, "-i", bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED",
                 "-j", "ACCEPT")
    local = ("-m", "addrtype", "--dst-type", "LOCAL")
    _ensure_chain(CHAIN_PUBLISH, "PREROUTING", *local, table="nat")
    # Loopback is left out: DNAT from 127/8 to the bridge needs route_localnet, and
    # a router on this host reaches the instance's own address anyway.
    _ensure_chain(CHAIN_PUBLISH, "OUTPUT", "!", "-d", "127.0.0.0/8", *local, table="nat")


def publish_range() -> tuple[int, int]:
    from . import ports

    span = ports.parse_range(ports.range_text())
    return span[0], span[-1]


def _publish_rule(container_id: str, host_port: int, address: str, port: int) -> list[str]:
    from .network import netns_name

    return [CHAIN_PUBLISH, "-p", "tcp", "--dport", str(host_port), "-m", "comment", "--comment",
            netns_name(container_id), "-j", "DNAT", "--to-destination", f"{address}:{port}"]


def publish(container_id: str, host_port: int, address: str, port: int) -> None:
    """Send connections to `host_port` on this host's addresses to the instance."""
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")  # per network namespace
    if forwarding.read_text().strip() != "1":
        forwarding.write_text("1")
    _iptables("-t", "nat", "-A", *_publish_rule(container_id, host_port, address, port))


def unpublish(container_id: str) -> None:
    """Remove every publish rule of the container (found by its comment)."""
    for rule in publish_rules(container_id):
        _iptables("-t", "nat", "-D", *rule[1:], check=False)


def publish_rules(container_id: str) -> list[list[str]]:
    """The container's rules in the publish chain, as `iptables -S` gives them, split."""
    from .network import netns_name

    listing = subprocess.run(["iptables", "-w", "-t", "nat", "-S", CHAIN_PUBLISH], capture_output=True,
                             text=True, check=False).stdout
    rules = [shlex.split(line) for line in listing.splitlines() if line.startswith("-A ")]
    tag = ["--comment", netns_name(container_id)]
    return [rule for rule in rules if any(rule[i:i + 2] == tag for i in range(len(rule)))]
