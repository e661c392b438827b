"""Address allocation for bridge networking: the lowest free address of the pool.

The bridge is host-wide, so its leases are too: one JSON file per bridge under
/run/paas (PAAS_LEASES_DIR), guarded by an exclusive flock, so every runtime on
the host (agents of several data dirs, the CLI, test runs) hands out distinct
addresses. /run empties at boot, as do the network namespaces the leases
describe. Each lease names its runtime directory, so a runtime only ever
releases or sweeps its own.
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


def _me() -> str:
    return str(config.runtime_dir())


@contextmanager
def _leases():
    directory = Path(os.environ.get("PAAS_LEASES_DIR", "/run/paas"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{config.BRIDGE}.leases.json"
    with open(directory / f"{config.BRIDGE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        leases = json.loads(path.read_text()) if path.exists() else {}
        yield leases
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(leases, sort_keys=True))
        os.replace(tmp, path)


def allocate(owner: str) -> ipaddress.IPv4Address:
    """Lease an address to `owner` (a container id); the same owner gets the same address."""
    me = _me()
    with _leases() as leases:
        for address, holder in leases.items():
            if holder == {"id": owner, "runtime": me}:
                return ipaddress.ip_address(address)
        skip = {str(gateway())}
        for address in pool().hosts():
            if str(address) not in leases and str(address) not in skip:
                leases[str(address)] = {"id": owner, "runtime": me}
                return address
    raise NetworkError(f"address pool {config.ADDRESS_POOL} is exhausted")


def release(owner: str) -> None:
    me = _me()
    with _leases() as leases:
        for address in [a for a, holder in leases.items() if holder == {"id": owner, "runtime": me}]:
            del leases[address]


def owners() -> set[str]:
    """Ids of this runtime's leases."""
    me = _me()
    with _leases() as leases:
        return {holder["id"] for holder in leases.values() if holder.get("runtime") == me}
