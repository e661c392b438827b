"""Address allocation for bridge networking: the lowest free address of the pool.

The bridge is shared by every runtime in its network namespace, so its leases are
too (see leases.py): one file per bridge and namespace (the namespace's inode).
"""

import ipaddress
import os

from . import config, leases
from .errors import NetworkError


def pool() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(config.ADDRESS_POOL)


def gateway() -> ipaddress.IPv4Address:
    """The bridge's own address: the first of the pool."""
    return pool().network_address + 1


def _leases_name() -> str:
    return f"{config.BRIDGE}-{os.stat('/proc/self/ns/net').st_ino}.leases"


def allocate(owner: str) -> ipaddress.IPv4Address:
    """Lease an address to `owner` (a container id); the same owner gets the same address."""
    skip = str(gateway())
    candidates = (str(a) for a in pool().hosts() if str(a) != skip)
    address = leases.allocate(_leases_name(), owner, candidates)
    if address is None:
        raise NetworkError(f"address pool {config.ADDRESS_POOL} is exhausted")
    return ipaddress.ip_address(address)


def release(owner: str) -> None:
    leases.release(_leases_name(), owner)


def owners() -> set[str]:
    """Ids of this runtime's leases."""
    return leases.owners(_leases_name())
