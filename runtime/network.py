"""The three network modes: none (own netns, loopback only), host, and bridge.

Bridge: an own network namespace (netns.py: kept as ``ip netns`` keeps one, so
it outlives the process that made it and an agent restart), a veth pair whose
host end is an *isolated* port of the platform bridge (isolated ports cannot
talk to each other, only to the host), and an address from the pool. The host
reaches the instance at that address; the firewall keeps the instance away from
the host's services.
A bridge instance may also publish its port on a host port (firewall.publish),
so that routers on other hosts reach it at the host's address.

Interfaces are looked up in the caller's network namespace (if_nametoindex),
not in /sys/class/net, which shows the namespace that mounted /sys: an agent
started in a namespace of its own (one host of several on a test machine)
would see the wrong interfaces there.

Every step is a netlink request (netlink.py), not a run of ``ip``: an exec per
step was most of a bridge container's create.
"""

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .errors import NetworkError
from .netnames import NETNS_DIR, netns_name, netns_prefix, veth_name


@dataclass
class Attachment:
    """What a container's network is; saved in its state so stop can undo it."""

    mode: str
    netns: str = ""        # the netns file to setns into (bridge)
    address: str = ""
    gateway: str = ""
    veth: str = ""
    port: int = 0          # the published container port (bridge), or the port the app listens on (host)
    host_port: int = 0     # where the host publishes it; 0: not published

    def to_dict(self) -> dict:
        return asdict(self)


def link_exists(name: str) -> bool:
    import socket

    try:
        socket.if_nametoindex(name)
    except OSError:
        return False
    return True


# The kernel's default neighbour table holds 1024 entries for the whole host:
# past that, instances beyond the thousandth become unreachable from the host.
NEIGHBOUR_LIMITS = {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}


def raise_neighbour_limits() -> None:
    """Make room in the host's ARP table for thousands of instances (never lowers a limit).

    The table's limits exist only in the initial network namespace: an agent in
    a namespace of its own (one host of several on a test machine) has none to raise.
    """
    for name, wanted in NEIGHBOUR_LIMITS.items():
        path = Path("/proc/sys/net/ipv4/neigh/default") / name
        try:
            if int(path.read_text()) < wanted:
                path.write_text(str(wanted))
        except FileNotFoundError:
            return
        except OSError as exc:
            raise NetworkError(f"raising {path}: {exc.strerror}") from None


def ensure_bridge(segment=None) -> None:
    """Make a platform bridge (the pool's first, by default) ready: the bridge with its gateway
    address, the firewall rules, the DNS forwarder. Cheap when all is there (every attach checks).
    """
    import ipaddress

    from . import dns, firewall, ipam
    from .netlink import Rtnl

    seg = segment or ipam.segment(0)
    made = not link_exists(seg.bridge)
    if made:
        raise_neighbour_limits()
        with Rtnl() as rtnl:
            try:
                rtnl.add_bridge(seg.bridge)
            except NetworkError:
                if not link_exists(seg.bridge):  # a concurrent start made it
                    raise
            _no_ipv6(seg.bridge)
            rtnl.add_address(seg.bridge, ipaddress.IPv4Interface(f"{seg.gateway}/{seg.network.prefixlen}"),
                             replace=True)
            rtnl.up(seg.bridge)
    # A stamp spares the iptables calls when the rules are in place; the agent forces
    # a check when it starts (rules can be flushed while the bridge stays), and so does a
    # new bridge (a new network namespace may have a dead one's inode, and with it its stamp).
    firewall.ensure_rules(force=made)
    dns.ensure(seg.bridge, str(seg.gateway))


def _no_ipv6(bridge: str) -> None:
    """No IPv6 on the bridge: the firewall is IPv4's, and the host's link-local address on the
    bridge would let containers reach every host service listening on [::]."""
    path = Path("/proc/sys/net/ipv6/conf") / bridge / "disable_ipv6"
    try:
        path.write_text("1")
    except FileNotFoundError:
        return  # a kernel without IPv6
    except OSError as exc:
        raise NetworkError(f"turning IPv6 off on {bridge}: {exc.strerror}") from None


def remove_bridge(segment) -> None:
    """Take a bridge away with its forwarder (a test's own pool; hosts keep theirs)."""
    from . import dns
    from .netlink import Rtnl

    dns.remove(segment.bridge)
    try:
        with Rtnl() as rtnl:
            rtnl.delete(segment.bridge)
    except NetworkError:
        pass  # gone already, or going: nothing of ours is left to undo


# Per-app egress, inside the instance's own namespace: rules there outlive no instance and
# name no address that a later one could get. The instance has no capability to change them.
EGRESS_DENIED_RULES = "\n".join([
    "*filter",
    ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
    "-A OUTPUT -o lo -j ACCEPT",
    # Replies to connections made to the instance (the router, health checks) still leave;
    # connections the instance opened itself before the switch do not (their direction is ORIGINAL).
    "-A OUTPUT -m conntrack --ctstate ESTABLISHED,RELATED --ctdir REPLY -j ACCEPT",
    "-A OUTPUT -j REJECT --reject-with icmp-admin-prohibited",
    "COMMIT",
]) + "\n"
EGRESS_ALLOWED_RULES = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


def set_egress(att: "Attachment | dict", allowed: bool) -> None:
    """Let a bridge container open connections out (the default), or nothing at all, DNS included.

    Takes effect at once on a running container: new connections out fail, and
    so do the next packets of those it had opened; connections made to it (the
    router's, health checks) keep working. Other modes have no namespace of ours to
    hold the rules, so only bridge containers can be denied.
    """
    netns_path = att.get("netns") if isinstance(att, dict) else att.netns
    mode = att.get("mode") if isinstance(att, dict) else att.mode
    if mode != "bridge" or not netns_path:
        if allowed:
            return
        raise NetworkError(f"egress can only be denied to bridge containers, not in {mode!r} mode")
    import subprocess

    from . import netns

    # iptables-restore replaces the whole filter table of that namespace in one step; started
    # from a thread inside the namespace, it runs there.
    result = netns.run_in(netns_path, lambda: subprocess.run(
        ["iptables-restore", "-w"], input=EGRESS_ALLOWED_RULES if allowed else EGRESS_DENIED_RULES,
        capture_output=True, text=True, check=False))
    if result.returncode != 0:
        raise NetworkError(f"setting egress in {netns_path}: {result.stderr.strip()[:300]}")


def mac_for(address) -> bytes:
    """02:42:a.b.c.d for an IPv4Address: locally administered, one per address (Docker's scheme)."""
    return b"\x02\x42" + address.packed


def attach(container_id: str, mode: str, publish: int = 0) -> Attachment:
    """Prepare the network before the container starts; the container joins it.

    `publish`: bridge mode publishes this container port on a free host port;
    host mode only records it (the app listens on the host itself, on a port
    the caller leased from ports.py, which detach gives back).
    """
    if mode not in ("bridge", "services"):
        return Attachment(mode=mode, port=publish)
    # Loaded here, like netlink and netns: the none and host modes start without them.
    from . import ipam

    name, veth = netns_name(container_id), veth_name(container_id)
    address = ipam.allocate(container_id, services=mode == "services")
    mode = "bridge"  # from here on the same as any bridge attachment
    seg = ipam.segment_of(address)
    prefix = seg.network.prefixlen
    att = Attachment(mode=mode, netns=str(NETNS_DIR / name), address=str(address),
                     gateway=str(seg.gateway), veth=veth)
    try:
        ensure_bridge(seg)
        _plug(att, seg.bridge, prefix)
        if publish:
            _publish(container_id, att, publish)
    except NetworkError:
        detach(container_id, att)
        raise
    return att


def _plug(att: Attachment, bridge: str, prefix: int) -> None:
    """The namespace, its veth pair (an isolated port of `bridge` here, eth0 there) and eth0's address and route."""
    import ipaddress

    from . import netns
    from .netlink import Rtnl

    interface = ipaddress.IPv4Interface(f"{att.address}/{prefix}")
    path = Path(att.netns)
    netns.create(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with Rtnl() as rtnl:
            # A MAC derived from the address: when an address is handed out again, the
            # host's neighbour cache still points at the right MAC (a fresh random one
            # would leave the new instance unreachable until the stale entry expires).
            rtnl.add_veth(att.veth, "eth0", fd, mac_for(interface.ip), bridge)
            rtnl.isolate_and_up(att.veth)
    finally:
        os.close(fd)

    def inside() -> None:
        with Rtnl() as rtnl:
            rtnl.up("lo")
            rtnl.add_address("eth0", interface)
            rtnl.up("eth0")
            rtnl.add_default_route(ipaddress.IPv4Address(att.gateway))

    netns.run_in(path, inside)


def _publish(container_id: str, att: Attachment, port: int) -> None:
    from . import firewall, ports

    att.port, att.host_port = port, ports.allocate(container_id)
    firewall.publish(container_id, att.host_port, att.address, port)


def detach(container_id: str, att: Attachment | None = None) -> None:
    """Undo attach: delete the netns (which takes the veth pair with it), free the address and ports.

    Without `att` (a sweep of unknown leftovers) every trace is looked for.
    """
    if att is not None and att.mode == "none":
        return
    from . import firewall, ports

    if ports.release(container_id) and (att is None or att.mode == "bridge"):
        firewall.unpublish(container_id)
    if att is not None and att.mode == "host":
        return
    # The veth first: deleting it removes both ends at once, while a namespace's
    # interfaces go later, in the kernel's cleanup work, after the namespace's file is gone.
    from . import netns
    from .netlink import Rtnl

    veth = veth_name(container_id)
    if link_exists(veth):
        with Rtnl() as rtnl:
            try:
                rtnl.delete(veth)
            except NetworkError:
                pass  # like the namespace below: a removal goes as far as it can
    netns.remove(NETNS_DIR / netns_name(container_id))
    from . import ipam

    ipam.release(container_id)


def leftover_netns() -> set[str]:
    """Container ids that still have a paas network namespace on this host."""
    if not NETNS_DIR.is_dir():
        return set()
    prefix = netns_prefix()
    return {p.name[len(prefix):] for p in NETNS_DIR.iterdir() if p.name.startswith(prefix)}
