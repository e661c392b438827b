"""Who reaches an add-on server: per-add-on iptables rules on its host.

Instances sit on isolated bridge ports and every bridge-to-bridge packet is
dropped (firewall.py), so an add-on server on the bridge is reachable by no
tenant until a rule here says so. An attached app connects to
``<gateway>:<host port>`` (the first bridge's gateway, an address of the host
every instance routes to); the host DNATs that to the server's own address
and port and forwards it back into the bridge (a hairpin through the host,
since the ports cannot talk at layer 2), masquerading the source so the
server's replies come back through the host too. The filter admits only the
current addresses of the attached apps' containers (instances and one-offs
alike) on this host: any other tenant's connection is dropped, and nothing
of the platform is opened.

Across hosts: an attached app's container on another host connects to the
same ``<gateway>:<host port>`` (host ports are unique across hosts,
services/placement.py). Its own host DNATs that to ``<server's host>:<host
port>`` (a ``Forward``), admitting only the attached apps' containers there,
and the connection leaves masqueraded as that host. The server's host admits
it by that host's address (``Endpoint.hosts``: hosts running attached apps'
containers): each host's agent is the one that tells its tenants apart, as it
does for its own servers, and no container reaches another host's add-on
ports except through such a DNAT (firewall.py refuses PAAS_ADDON_PORTS out of
the bridges).

Three chains per bridge, rebuilt whole by one ``iptables-restore --noflush``
when the rules change: ``PAAS-AO-<bridge>`` (filter, jumped first from
FORWARD, ahead of the bridge rules), ``PAAS-AOD-<bridge>`` (nat PREROUTING:
the DNATs) and ``PAAS-AOS-<bridge>`` (nat POSTROUTING: the masquerade).
"""

import hashlib
import ipaddress
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import config, ipam
from .errors import NetworkError

_installed = {"digest": ""}


def chains() -> tuple[str, str, str]:
    """(filter, DNAT, SNAT) chain names, per bridge like firewall.py's (28 characters at most)."""
    return f"PAAS-AO-{config.BRIDGE}", f"PAAS-AOD-{config.BRIDGE}", f"PAAS-AOS-{config.BRIDGE}"


@dataclass(frozen=True)
class Endpoint:
    """One add-on server on this host and the addresses allowed to connect to it."""

    name: str
    address: str            # the server container's own address on the bridge
    port: int               # where it listens in its container
    host_port: int          # what attached apps connect to on the gateway
    sources: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()   # other hosts whose attached apps' containers connect (their agents filter)


@dataclass(frozen=True)
class Forward:
    """An add-on server on another host, and the containers here allowed to reach it."""

    name: str
    host_port: int          # the same on the gateway here and on the server's host
    address: str            # the server's host
    sources: tuple[str, ...] = ()


def port_range() -> range:
    """PAAS_ADDON_PORTS (15000-19999): the add-on servers' host ports, unique across hosts."""
    text = os.environ.get("PAAS_ADDON_PORTS", "15000-19999")
    first, _, last = text.partition("-")
    return range(int(first), int(last) + 1)


def forwards(remote: list[dict], containers: list) -> list[Forward]:
    """The control plane's remote add-ons (name, host_port, address, allow_apps) with the addresses of the
    containers here of the apps allowed."""
    out = []
    for item in remote:
        allowed = set(item["allow_apps"])
        # The app's instances and one-offs, never an add-on server of it (release "addon", services/agentview.py).
        sources = tuple(sorted(c.record.network["address"] for c in containers
                               if c.record.labels.get("app") in allowed and c.record.labels.get("release") != "addon"
                               and c.record.network.get("address")))
        out.append(Forward(item["name"], int(item["host_port"]), str(ipaddress.ip_address(item["address"])),
                           sources))
    return out


def gateway() -> str:
    """The address attached apps use for every add-on of this host (DATABASE_URL's host)."""
    return str(ipam.gateway())


def rules_text(endpoints: list[Endpoint], remote: list[Forward] = ()) -> str:
    """The three chains as iptables-restore input; one place for every add-on rule."""
    bridge = f"{config.BRIDGE}+"
    filter_chain, dnat_chain, snat_chain = chains()
    filt, drop, dnat, snat = [], [], [], []
    for e in sorted(endpoints, key=lambda e: (e.name, e.port)):
        dest = f"-d {e.address}/32 -p tcp --dport {e.port}"
        for source in sorted(set(e.sources) | set(e.hosts)):
            filt.append(f"-s {source}/32 {dest} -m conntrack --ctstate DNAT -j ACCEPT")
        for host in sorted(set(e.hosts)):
            dnat.append(f"! -i {bridge} -s {host}/32 -p tcp --dport {e.host_port} -m addrtype --dst-type LOCAL "
                        f"-j DNAT --to-destination {e.address}:{e.port}")
        filt.append(f"-s {e.address}/32 -p tcp --sport {e.port} -m conntrack --ctstate ESTABLISHED -j ACCEPT")
        # After every server's ACCEPTs: a server with two ports (Redis's TLS) is one address.
        drop += [rule for rule in [f"-d {e.address}/32 -j DROP"] if rule not in drop]
        dnat.append(f"-i {bridge} -p tcp --dport {e.host_port} -m addrtype --dst-type LOCAL "
                    f"-j DNAT --to-destination {e.address}:{e.port}")
        snat.append(f"{dest} -m conntrack --ctstate DNAT -j MASQUERADE")
    for f in sorted(remote, key=lambda f: (f.name, f.host_port)):
        dnat.append(f"-i {bridge} -p tcp --dport {f.host_port} -m addrtype --dst-type LOCAL "
                    f"-j DNAT --to-destination {f.address}:{f.host_port}")
        for source in sorted(set(f.sources)):
            filt.append(f"-i {bridge} -s {source}/32 -d {f.address}/32 -p tcp --dport {f.host_port} "
                        f"-m conntrack --ctstate DNAT -j ACCEPT")
    filt += drop
    lines = ["*filter", f":{filter_chain} - [0:0]", *(f"-A {filter_chain} {r}" for r in filt), "COMMIT",
             "*nat", f":{dnat_chain} - [0:0]", f":{snat_chain} - [0:0]",
             *(f"-A {dnat_chain} {r}" for r in dnat), *(f"-A {snat_chain} {r}" for r in snat), "COMMIT"]
    return "\n".join(lines) + "\n"


def _iptables(*args: str) -> bool:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, check=False).returncode == 0


def _jump_first(table: str, parent: str, chain: str, *match: str) -> None:
    """The jump must be the parent's first rule: firewall.ensure_rules may insert its own at 1 later."""
    listing = subprocess.run(["iptables", "-w", "-t", table, "-S", parent], capture_output=True, text=True,
                             check=False).stdout.splitlines()
    rules = [line for line in listing if line.startswith("-A ")]
    wanted = " ".join(["-A", parent, *match, "-j", chain])
    if rules and rules[0] == wanted:
        return
    while _iptables("-t", table, "-D", parent, *match, "-j", chain):
        pass
    _iptables("-t", table, "-I", parent, "1", *match, "-j", chain)


def apply(endpoints: list[Endpoint], remote: list[Forward] = (), force: bool = False) -> None:
    """Install the rules for `endpoints` (every add-on server of this host) and `remote` (those elsewhere
    attached apps here reach), if they changed."""
    text = rules_text(endpoints, remote)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if not force and _installed["digest"] == digest:
        return
    result = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"iptables-restore (add-ons): {result.stderr.strip()}")
    filter_chain, dnat_chain, snat_chain = chains()
    _jump_first("filter", "FORWARD", filter_chain)
    _jump_first("nat", "PREROUTING", dnat_chain)
    _jump_first("nat", "POSTROUTING", snat_chain)
    _no_redirects()
    _installed["digest"] = digest


def _no_redirects() -> None:
    """A hairpin leaves by the interface it came in on, which makes Linux tell the sender to go
    direct (an ICMP redirect): across isolated ports that would break the connection."""
    conf = Path("/proc/sys/net/ipv4/conf")
    for knob in [conf / "all" / "send_redirects", *conf.glob(f"{config.BRIDGE}*/send_redirects")]:
        if knob.read_text().strip() != "0":
            knob.write_text("0")


def remove() -> None:
    """Take every add-on rule away (a test's teardown)."""
    filter_chain, dnat_chain, snat_chain = chains()
    for table, parent, chain in (("filter", "FORWARD", filter_chain), ("nat", "PREROUTING", dnat_chain),
                                 ("nat", "POSTROUTING", snat_chain)):
        while _iptables("-t", table, "-D", parent, "-j", chain):
            pass
        _iptables("-t", table, "-F", chain)
        _iptables("-t", table, "-X", chain)
    _installed["digest"] = ""
