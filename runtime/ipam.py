"""Address allocation for bridge networking: the lowest free address of the pool.

A Linux bridge takes at most 1023 ports, and a broadcast (every ARP request
of the host) is copied to each port through a per-CPU queue of
net.core.netdev_max_backlog (1000) packets: past ~1000 ports, the oldest
instances stop answering ARP. So the pool is cut into segments of
PAAS_BRIDGE_PREFIX (/23: 509 instances each), one bridge per segment, made
when its first address is handed out: segment 0 is PAAS_BRIDGE itself,
segment k is `<PAAS_BRIDGE>x<k>`. Each segment's first address is its
bridge's own (the instances' gateway).

The bridges are shared by every runtime in their network namespace, so their
leases are too (see leases.py): one file per bridge name and namespace (its inode).
"""

import ipaddress
import os
from dataclasses import dataclass

from . import config, leases
from .errors import NetworkError

IFNAMSIZ = 15


@dataclass(frozen=True)
class Segment:
    """One bridge's part of the pool."""

    bridge: str
    network: ipaddress.IPv4Network

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.network.network_address + 1


def pool() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(config.ADDRESS_POOL)


def _segment_prefix() -> int:
    return max(pool().prefixlen, config.bridge_prefix())


def segment(index: int) -> Segment:
    prefix = _segment_prefix()
    network = ipaddress.ip_network(f"{pool().network_address + (index << (32 - prefix))}/{prefix}")
    name = config.BRIDGE if index == 0 else f"{config.BRIDGE}x{index}"
    if len(name) > IFNAMSIZ:
        raise NetworkError(f"bridge name {name} is longer than {IFNAMSIZ} characters: shorten PAAS_BRIDGE")
    return Segment(bridge=name, network=network)


def segment_of(address: ipaddress.IPv4Address) -> Segment:
    """The segment (and so the bridge) an address of the pool belongs to."""
    return segment((int(address) - int(pool().network_address)) >> (32 - _segment_prefix()))


def gateway() -> ipaddress.IPv4Address:
    """The first bridge's own address."""
    return segment(0).gateway


def _segment_count() -> int:
    return 1 << (_segment_prefix() - pool().prefixlen)


def services_segment() -> Segment:
    """The pool's last segment, kept for add-on servers: on a bridge of their own, an instance's
    connection to one is routed through the host (br_netfilter would otherwise bridge the DNAT'd
    packet between two isolated ports, which drop it), where runtime/addonnet.py filters it."""
    if _segment_count() < 2:
        raise NetworkError(f"add-on servers need a segment of their own: PAAS_ADDRESS_POOL {config.ADDRESS_POOL} "
                           f"must hold at least two /{_segment_prefix()} segments")
    return segment(_segment_count() - 1)


def _candidates(services: bool = False):
    count = _segment_count()
    # Instances fill the segments in order and reach the last one only when every other is full
    # (an instance there cannot reach add-ons: the services segment is theirs first).
    indexes = [count - 1] if services else range(count)
    for index in indexes:
        seg = segment(index)
        for address in seg.network.hosts():
            if address != seg.gateway:
                yield str(address)


def _leases_name() -> str:
    return f"{config.BRIDGE}-{os.stat('/proc/self/ns/net').st_ino}.leases"


def allocate(owner: str, services: bool = False) -> ipaddress.IPv4Address:
    """Lease an address to `owner` (a container id); the same owner gets the same address.

    `services`: an add-on server, on the services segment (the pool's last).
    """
    if services:
        services_segment()  # a pool too small for one says so here
    address = leases.allocate(_leases_name(), owner, _candidates(services))
    if address is None:
        raise NetworkError(f"address pool {config.ADDRESS_POOL} is exhausted")
    return ipaddress.ip_address(address)


def release(owner: str) -> None:
    leases.release(_leases_name(), owner)


def owners() -> set[str]:
    """Ids of this runtime's leases."""
    return leases.owners(_leases_name())
