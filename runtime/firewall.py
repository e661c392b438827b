"""iptables rules: tenants reach the outside and nothing of the platform.

Every bridge of the pool (`paas0+` is iptables for paas0, paas0x1, ...) gets
chains of its own, rebuilt whole and atomically by ``ensure_rules`` (one
``iptables-restore --noflush``), and jumped to first from PAAS-INPUT and
PAAS-FORWARD, so other runtimes' bridges on the host keep theirs:

- INPUT from a bridge (``PAAS-IN-<bridge>``): replies to connections the host
  opened (the router's requests) and DNS to a gateway (the forwarder of
  dns.py) pass; everything else to the host is dropped: PostgreSQL, Redis, the
  API, every address of the host. DNS to a gateway from anywhere else is
  dropped too.
- FORWARD (``PAAS-FWD-<bridge>``): bridge to bridge is dropped (direct traffic
  between instances is stopped at layer 2 by isolated ports, see network.py);
  into a bridge only replies and published ports' connections (DNAT) pass.
  Out of a bridge, new connections are refused to the publish range of other
  hosts, to DNS anywhere but the forwarder, to what is never a tenant's
  (loopback, 0/8, link-local and so metadata services, multicast, reserved,
  the pool), to PAAS_EGRESS_DENY (private ranges by default) unless
  PAAS_EGRESS_ALLOW names it; the rest is the outside, reached through NAT
  (``PAAS-NAT-<bridge>``, MASQUERADE out of any non-bridge interface).
  Refusals are REJECTs, so a build's package manager fails at once, not after
  a timeout.
- TCP MSS clamping (mangle ``PAAS-MSS-<bridge>``): the veth MTU is 1500 while
  the host's uplink may be smaller; without it, large replies vanish where
  path-MTU discovery is filtered.

Per-app egress (``paas egress:deny``) is not here: it is a set of rules inside
the instance's own network namespace (network.set_egress), gone with it.

Published ports (Docker's ``-p``): a DNAT rule per instance in the nat table's
PAAS-PUBLISH chain sends a host port on any of the host's addresses to the
instance's address and $PORT, so a router on another host reaches it. Only
connections that came in through such a rule may enter the bridge from
outside; instances cannot reach published ports themselves (on their own host
the bridge-to-bridge drop stops them, elsewhere the refusal of the publish range).
"""

import hashlib
import os
import shlex
import subprocess
from pathlib import Path

from . import addonnet, config, leases
from .errors import NetworkError
from .netnames import netns_name

CHAIN_INPUT = "PAAS-INPUT"
CHAIN_FORWARD = "PAAS-FORWARD"
CHAIN_PUBLISH = "PAAS-PUBLISH"
CHAIN_NAT = "PAAS-POSTROUTING"
CHAIN_MANGLE = "PAAS-MANGLE"
# Never a tenant's destination, whatever PAAS_EGRESS_ALLOW says: this machine's loopback,
# "this network", link-local (cloud metadata at 169.254.169.254), multicast and reserved.
ALWAYS_DENIED = ("0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4")
REJECT = ("-j", "REJECT", "--reject-with", "icmp-admin-prohibited")


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


def chains(bridge: str | None = None) -> dict[str, str]:
    """The per-bridge chain names, by table ('in', 'fwd': filter; 'nat'; 'mss': mangle)."""
    bridge = bridge or config.BRIDGE
    # iptables chain names hold 28 characters; a bridge name at most 15.
    return {"in": f"PAAS-IN-{bridge}", "fwd": f"PAAS-FWD-{bridge}", "nat": f"PAAS-NAT-{bridge}",
            "mss": f"PAAS-MSS-{bridge}"}


def rules_text(bridge: str | None = None, pool: str | None = None) -> str:
    """The per-bridge chains as `iptables-restore --noflush` input: one place for every rule.

    `bridge` and `pool` (the native runner's PAAS_BRIDGE and PAAS_ADDRESS_POOL by default) name
    another family of bridges: the Docker engine backend's networks get the same rules.
    """
    c = chains(bridge)
    bridge, pool = f"{bridge or config.BRIDGE}+", pool or config.ADDRESS_POOL
    first, last = publish_range()
    addon_ports = addonnet.port_range()
    f_in = [
        # Jumped to for the gateways' addresses too, from anywhere: the forwarder is no
        # resolver for the host's other networks (Linux accepts a packet for any of its
        # addresses on any interface).
        f"! -i {bridge} -p udp --dport 53 -j DROP",
        f"! -i {bridge} -p tcp --dport 53 -j DROP",
        f"! -i {bridge} -j RETURN",
        "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        # The forwarder listens on the gateways (the pool's addresses that are the host's own);
        # an instance reaches its own bridge's only (--limit-iface-in), not the add-on segment's.
        f"-d {pool} -p udp --dport 53 -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT",
        f"-d {pool} -p tcp --dport 53 -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT",
        "-j DROP",
    ]
    reject = " ".join(REJECT)
    f_fwd = [
        f"-i {bridge} -o {bridge} -j DROP",
        "-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        # Where FORWARD's policy is DROP (as Docker leaves it), published ports still work.
        f"-o {bridge} -m conntrack --ctstate DNAT -j ACCEPT",
        f"-o {bridge} -j DROP",
        # From here on: new connections out of the bridge.
        f"-p tcp --dport {first}:{last} {reject}",
        # Add-on servers' host ports on any host: reached only through a DNAT of addonnet.py (its chain
        # comes first), which admits the attached apps' containers alone.
        f"-p tcp --dport {addon_ports[0]}:{addon_ports[-1]} {reject}",
        f"-p udp --dport 53 {reject}",
        f"-p tcp --dport 53 {reject}",
        *(f"-d {net} {reject}" for net in (*ALWAYS_DENIED, pool)),
        *(f"-d {net} -j ACCEPT" for net in config.EGRESS_ALLOW),
        *(f"-d {net} {reject}" for net in config.EGRESS_DENY),
        "-j ACCEPT",
    ]
    lines = ["*filter", f":{c['in']} - [0:0]", f":{c['fwd']} - [0:0]"]
    lines += [f"-A {c['in']} {rule}" for rule in f_in] + [f"-A {c['fwd']} {rule}" for rule in f_fwd]
    lines += ["COMMIT", "*nat", f":{c['nat']} - [0:0]",
              f"-A {c['nat']} -s {pool} ! -o {bridge} -j MASQUERADE", "COMMIT",
              "*mangle", f":{c['mss']} - [0:0]",
              f"-A {c['mss']} -p tcp --tcp-flags SYN,RST SYN -j TCPMSS --clamp-mss-to-pmtu", "COMMIT"]
    return "\n".join(lines) + "\n"


def _jumps(bridge: str | None = None, pool: str | None = None) -> list[tuple[str, str, tuple[str, ...], str]]:
    """(table, parent chain, match, target) of every jump into the per-bridge chains."""
    c = chains(bridge)
    bridge, pool = f"{bridge or config.BRIDGE}+", pool or config.ADDRESS_POOL
    return [("filter", CHAIN_INPUT, ("-i", bridge), c["in"]),
            ("filter", CHAIN_INPUT, ("-d", pool), c["in"]),
            ("filter", CHAIN_FORWARD, ("-i", bridge), c["fwd"]),
            ("filter", CHAIN_FORWARD, ("-o", bridge), c["fwd"]),
            ("nat", CHAIN_NAT, ("-s", pool), c["nat"]),
            ("mangle", CHAIN_MANGLE, ("-i", bridge), c["mss"])]


def _stamp(bridge: str | None = None) -> Path:
    return leases.directory() / f"rules-{bridge or config.BRIDGE}-{os.stat('/proc/self/ns/net').st_ino}.digest"


def ensure_rules(force: bool = True, *, bridge: str | None = None, pool: str | None = None) -> None:
    """Install the bridge's rules (idempotent, atomic per table); turn on forwarding.

    Without `force`, a stamp of the installed rules under PAAS_LEASES_DIR spares
    the iptables calls when nothing changed (every build and CLI run checks);
    the agent forces at start, since a firewall reload can flush them.
    """
    text = rules_text(bridge, pool)
    digest = hashlib.sha256(text.encode()).hexdigest()
    stamp = _stamp(bridge)
    if not force:
        try:
            if stamp.read_text() == digest:
                return
        except OSError:
            pass
    # One process at a time: the jumps are checked, then inserted.
    with leases.locked_file(stamp.stem):
        _install(text, bridge, pool)
    stamp.write_text(digest)


def _install(text: str, bridge: str | None = None, pool: str | None = None) -> None:
    _enable_forwarding()
    for table, parent, main in (("filter", "INPUT", CHAIN_INPUT), ("filter", "FORWARD", CHAIN_FORWARD),
                                ("nat", "POSTROUTING", CHAIN_NAT), ("mangle", "FORWARD", CHAIN_MANGLE)):
        _ensure_chain(main, parent, table=table)
    result = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"iptables-restore: {result.stderr.strip()}")
    for table, parent, match, target in _jumps(bridge, pool):
        _ensure_chain(target, parent, *match, table=table)
    _drop_legacy_rules(bridge)
    _ensure_chain(CHAIN_PUBLISH, "PREROUTING", *LOCAL, table="nat")
    # Loopback is left out: DNAT from 127/8 to the bridge needs route_localnet, and
    # a router on this host reaches the instance's own address anyway.
    _ensure_chain(CHAIN_PUBLISH, "OUTPUT", "!", "-d", "127.0.0.0/8", *LOCAL, table="nat")


LOCAL = ("-m", "addrtype", "--dst-type", "LOCAL")


def _drop_legacy_rules(bridge: str | None = None) -> None:
    """Remove this bridge's rules of earlier versions, kept in the parent chains themselves.

    They would never be reached (the jumps come first and end in a verdict),
    but a listing should show what is in force.
    """
    bridge = f"{bridge or config.BRIDGE}+"
    for chain in (CHAIN_INPUT, CHAIN_FORWARD):
        listing = subprocess.run(["iptables", "-w", "-S", chain], capture_output=True, text=True,
                                 check=False).stdout
        for line in listing.splitlines():
            rule = shlex.split(line)
            if rule[:1] == ["-A"] and bridge in rule and not rule[-1].startswith("PAAS-"):
                _iptables("-D", *rule[1:], check=False)


def remove_rules(*, bridge: str | None = None, pool: str | None = None) -> None:
    """Undo ensure_rules for this bridge (a test's own bridge; hosts keep theirs)."""
    for table, parent, match, target in _jumps(bridge, pool):
        while _iptables("-t", table, "-D", parent, *match, "-j", target, check=False):
            pass
    for table, key in (("filter", "in"), ("filter", "fwd"), ("nat", "nat"), ("mangle", "mss")):
        _iptables("-t", table, "-F", chains(bridge)[key], check=False)
        _iptables("-t", table, "-X", chains(bridge)[key], check=False)
    stamp = _stamp(bridge)
    stamp.unlink(missing_ok=True)
    (stamp.parent / f"{stamp.stem}.lock").unlink(missing_ok=True)


def _enable_forwarding() -> None:
    forwarding = Path("/proc/sys/net/ipv4/ip_forward")  # per network namespace
    if forwarding.read_text().strip() != "1":
        forwarding.write_text("1")


def publish_range() -> tuple[int, int]:
    from . import ports

    span = ports.parse_range(ports.range_text())
    return span[0], span[-1]


def _publish_rule(container_id: str, host_port: int, address: str, port: int) -> list[str]:
    return [CHAIN_PUBLISH, "-p", "tcp", "--dport", str(host_port), "-m", "comment", "--comment",
            netns_name(container_id), "-j", "DNAT", "--to-destination", f"{address}:{port}"]


def publish(container_id: str, host_port: int, address: str, port: int) -> None:
    """Send connections to `host_port` on this host's addresses to the instance."""
    _enable_forwarding()
    _iptables("-t", "nat", "-A", *_publish_rule(container_id, host_port, address, port))


def unpublish(container_id: str) -> None:
    """Remove every publish rule of the container (found by its comment)."""
    for rule in publish_rules(container_id):
        _iptables("-t", "nat", "-D", *rule[1:], check=False)


def publish_rules(container_id: str) -> list[list[str]]:
    """The container's rules in the publish chain, as `iptables -S` gives them, split."""
    listing = subprocess.run(["iptables", "-w", "-t", "nat", "-S", CHAIN_PUBLISH], capture_output=True,
                             text=True, check=False).stdout
    rules = [shlex.split(line) for line in listing.splitlines() if line.startswith("-A ")]
    tag = ["--comment", netns_name(container_id)]
    return [rule for rule in rules if any(rule[i:i + 2] == tag for i in range(len(rule)))]
