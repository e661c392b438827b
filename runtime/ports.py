"""Host ports for published instances: the lowest free port of the publish range.

A port belongs to a network namespace, not to a runtime: two agents in the same
namespace (a second data dir, a test run) must never hand out the same one, so
the lease file (see leases.py) is named by the namespace's inode.
"""

import os
import socket

from . import config, leases
from .errors import NetworkError, SpecError


def parse_range(text: str) -> range:
    """`20000-29999` -> range(20000, 30000); SpecError naming the problem otherwise."""
    low, sep, high = text.partition("-")
    if not (sep and low.strip().isdigit() and high.strip().isdigit()):
        raise SpecError(f"port range {text!r} must look like 20000-29999")
    first, last = int(low), int(high)
    if not 1024 <= first <= last <= 65535:
        raise SpecError(f"port range {text!r} must lie within 1024-65535, low end first")
    return range(first, last + 1)


def range_text() -> str:
    return config.publish_ports()


def _leases_name() -> str:
    return f"ports-{os.stat('/proc/self/ns/net').st_ino}"


def _bindable(port: str) -> bool:
    """Nothing of the host listens there already (a published port would hide it from other hosts)."""
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", int(port)))
        except OSError:
            return False
    return True


def allocate(owner: str) -> int:
    """Lease a host port to `owner` (a container id); the same owner gets the same port."""
    candidates = (str(p) for p in parse_range(range_text()))
    port = leases.allocate(_leases_name(), owner, candidates, _bindable)
    if port is None:
        raise NetworkError(f"no free host port left in {range_text()} (PAAS_PUBLISH_PORTS)")
    return int(port)


def release(owner: str) -> list[int]:
    """Give back `owner`'s ports; returns them."""
    return [int(p) for p in leases.release(_leases_name(), owner)]


def owners() -> set[str]:
    """Ids of this runtime's port leases in this network namespace."""
    return leases.owners(_leases_name())
