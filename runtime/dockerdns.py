"""DNS on the engine's networks (the docker backend's apps, engine builds): the platform's forwarder only.

A container on a user-defined engine network asks the engine's resolver (127.0.0.11 in its own
namespace), which forwards names it does not know to the host's resolvers from that namespace: out
of the bridge, where the platform's rules refuse DNS to anywhere but a gateway's forwarder
(firewall.py). So, as for the native runner's bridges (dns.py), each engine network's bridge gets
the forwarder on its gateway, and every DNS packet a container of the family sends (UDP and TCP port
53, to any address) is redirected there (nat ``PAAS-DNS-<PAAS_DOCKER_BRIDGE>``, ``REDIRECT``: to the
address of the bridge it came in on, which the rules admit for DNS). An instance with its egress
denied (dockeregress.py) is refused that too, as natively.
"""

import subprocess

from . import config, dns
from .errors import NetworkError


def chain() -> str:
    return f"PAAS-DNS-{config.docker_bridge()}"


def _iptables(*args: str, check: bool = True) -> int:
    result = subprocess.run(["iptables", "-w", "-t", "nat", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkError(f"iptables -t nat {' '.join(args[:3])}: {result.stderr.strip()[:300]}")
    return result.returncode


def _ensure_redirect() -> None:
    if _iptables("-S", chain(), check=False) != 0:
        _iptables("-N", chain(), check=False)
        for protocol in ("udp", "tcp"):
            _iptables("-A", chain(), "-p", protocol, "--dport", "53", "-j", "REDIRECT", "--to-ports", "53")
    jump = ("-i", f"{config.docker_bridge()}+", "-j", chain())
    if _iptables("-C", "PREROUTING", *jump, check=False) != 0:
        _iptables("-I", "PREROUTING", "1", *jump)


def ensure(api, network: str) -> None:
    """The forwarder on engine network `network`'s gateway, and its containers' DNS sent there."""
    info = api.inspect_network(network)
    try:
        gateway = info["IPAM"]["Config"][0]["Gateway"]
        bridge = info["Options"]["com.docker.network.bridge.name"]
    except (KeyError, IndexError, TypeError):
        raise NetworkError(f"the Docker engine's network {network} has no gateway or bridge of the platform's") from None
    _ensure_redirect()
    dns.ensure(bridge, gateway)


def remove(bridge: str) -> None:
    """The forwarder of a removed network's bridge stopped."""
    dns.remove(bridge)


def remove_chain() -> None:
    """The redirect and its jump gone (the tests' engine leaves nothing behind)."""
    while _iptables("-D", "PREROUTING", "-i", f"{config.docker_bridge()}+", "-j", chain(), check=False) == 0:
        pass
    _iptables("-F", chain(), check=False)
    _iptables("-X", chain(), check=False)
