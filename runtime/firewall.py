"""iptables rules that keep bridge instances away from the host's services.

Instances reach nothing on the host: new connections from the bridge to the
host are dropped (PostgreSQL, Redis, the API and everything else), replies to
connections the host opened (the router's requests) pass. Routed traffic from
the bridge back onto the bridge is dropped, so an instance cannot reach another
one through the host either; direct traffic between instances is stopped at
layer 2 by isolated bridge ports (see network.py).
"""

import subprocess

from . import config
from .errors import NetworkError

CHAIN_INPUT = "PAAS-INPUT"
CHAIN_FORWARD = "PAAS-FORWARD"


def _iptables(*args: str, check: bool = True) -> bool:
    # -w waits for the xtables lock instead of failing when another tool holds it.
    result = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"iptables {' '.join(args)}: {result.stderr.strip()}")
    return result.returncode == 0


def _ensure_rule(*rule: str) -> None:
    if not _iptables("-C", *rule, check=False):
        _iptables("-A", *rule)


def _ensure_chain(chain: str, parent: str) -> None:
    _iptables("-N", chain, check=False)  # fails harmlessly when the chain exists
    if not _iptables("-C", parent, "-j", chain, check=False):
        _iptables("-I", parent, "1", "-j", chain)


def ensure_rules() -> None:
    """Install the rules once per host (idempotent)."""
    bridge = config.BRIDGE
    _ensure_chain(CHAIN_INPUT, "INPUT")
    _ensure_rule(CHAIN_INPUT, "-i", bridge, "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
    _ensure_rule(CHAIN_INPUT, "-i", bridge, "-j", "DROP")
    _ensure_chain(CHAIN_FORWARD, "FORWARD")
    _ensure_rule(CHAIN_FORWARD, "-i", bridge, "-o", bridge, "-j", "DROP")
