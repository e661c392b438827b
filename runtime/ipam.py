"""Address allocation for bridge networking: the lowest free address of the pool.

Leases live in one JSON file guarded by an exclusive flock, so concurrent starts
on a host (agent, CLI, tests) never hand out the same address.
"""

import fcntl
import ipaddress
import json
import os
from contextlib import contextmanager
from pathlib import Path

from . import config
from .errors import NetworkError


def pool() -> ipaddress.IPv4Network:
    return ipaddress.ip_network(config.ADDRESS_POOL)


def gateway() -> ipaddress.IPv4Address:
    """The bridge's own address: the first of the pool."""
    return pool().network_address + 1


@contextmanager
def _leases():
    directory = config.net_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "leases.json"
    with open(directory / "leases.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        leases = json.loads(path.read_text()) if path.exists() else {}
        yield leases
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(leases, sort_keys=True))
        os.replace(tmp, path)


def allocate(owner: str) -> ipaddress.IPv4Address:
    """Lease an address to `owner` (a container id); the same owner gets the same address."""
    with _leases() as leases:
        for address, holder in leases.items():
            if holder == owner:
                return ipaddress.ip_address(address)
        skip = {str(gateway())}
        for address in pool().hosts():
            if str(address) not in leases and str(address) not in skip:
                leases[str(address)] = owner
                return address
    raise NetworkError(f"address pool {config.ADDRESS_POOL} is exhausted")


def release(owner: str) -> None:
    with _leases() as leases:
        for address in [a for a, holder in leases.items() if holder == owner]:
            del leases[address]


def owners() -> set[str]:
    with _leases() as leases:
        return set(leases.values())


def holders() -> dict[str, str]:
    """address -> owner, a snapshot."""
    with _leases() as leases:
        return dict(leases)
