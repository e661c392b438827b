"""The host-wide names of a container's network: its network namespace and its veth.

Both network.py (which makes them) and firewall.py (whose publish rules are
tagged with the namespace's name) use them.
"""

import hashlib
from pathlib import Path

from . import config

NETNS_DIR = Path("/run/netns")


def netns_prefix() -> str:
    # Network namespaces and interfaces are global to the host, unlike the
    # runtime's directories: the cgroup parent names this runtime (the agent's,
    # a test run's, a benchmark's) so none mistakes another's for a leftover.
    # '+' cannot occur in a parent name nor in a container id.
    return f"{config.CGROUP_PARENT}+"


def netns_name(container_id: str) -> str:
    return netns_prefix() + container_id


def veth_name(container_id: str) -> str:
    # Interface names hold 15 characters; a hash keeps long ids such as
    # blog-web.1 and blog-web.2 from colliding on a common prefix.
    return "vp" + hashlib.sha256(netns_name(container_id).encode()).hexdigest()[:12]
