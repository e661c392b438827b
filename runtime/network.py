"""The three network modes: none (own netns, loopback only), host, and bridge.

Bridge: an own network namespace (``ip netns``, so it outlives the process that
made it and an agent restart), a veth pair whose host end is an *isolated* port
of the platform bridge (isolated ports cannot talk to each other, only to the
host), and an address from the pool. The host reaches the instance at that
address; the firewall keeps the instance away from the host's services.
"""

from pathlib import Path

from . import config
from .errors import NetworkError
from .records import asdict, record

NETNS_DIR = Path("/run/netns")


@record
class Attachment:
    """What a container's network is; saved in its state so stop can undo it."""

    mode: str
    netns: str = ""        # the netns file to setns into (bridge)
    address: str = ""
    gateway: str = ""
    veth: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _ip(*args: str, input_text: str | None = None) -> None:
    import subprocess  # only the bridge mode runs ip: none and host start without it

    result = subprocess.run(["ip", *args], input=input_text, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {result.stderr.strip()}")


def _netns_prefix() -> str:
    # Network namespaces and interfaces are global to the host, unlike the
    # runtime's directories: the cgroup parent names this runtime (the agent's,
    # a test run's, a benchmark's) so none mistakes another's for a leftover.
    # '+' cannot occur in a parent name nor in a container id.
    return f"{config.CGROUP_PARENT}+"


def netns_name(container_id: str) -> str:
    return _netns_prefix() + container_id


def veth_name(container_id: str) -> str:
    import hashlib

    # Interface names hold 15 characters; a hash keeps long ids such as
    # blog-web.1 and blog-web.2 from colliding on a common prefix.
    return "vp" + hashlib.sha256(netns_name(container_id).encode()).hexdigest()[:12]


# The kernel's default neighbour table holds 1024 entries for the whole host:
# past that, instances beyond the thousandth become unreachable from the host.
NEIGHBOUR_LIMITS = {"gc_thresh1": 4096, "gc_thresh2": 16384, "gc_thresh3": 32768}


def raise_neighbour_limits() -> None:
    """Make room in the host's ARP table for thousands of instances (never lowers a limit)."""
    for name, wanted in NEIGHBOUR_LIMITS.items():
        path = Path("/proc/sys/net/ipv4/neigh/default") / name
        try:
            if int(path.read_text()) < wanted:
                path.write_text(str(wanted))
        except OSError as exc:
            raise NetworkError(f"raising {path}: {exc.strerror}") from None


def ensure_bridge() -> None:
    """Create the platform bridge with the pool's gateway address, once per host."""
    raise_neighbour_limits()
    import ipaddress

    from . import firewall, ipam

    bridge = config.BRIDGE
    if not Path(f"/sys/class/net/{bridge}").exists():
        prefix = ipaddress.ip_network(config.ADDRESS_POOL).prefixlen
        try:
            _ip("link", "add", bridge, "type", "bridge")
        except NetworkError:
            if not Path(f"/sys/class/net/{bridge}").exists():  # a concurrent start made it
                raise
        _ip("addr", "replace", f"{ipam.gateway()}/{prefix}", "dev", bridge)
        _ip("link", "set", bridge, "up")
        # Checked with the bridge rather than on every start (six iptables
        # calls); the agent re-checks them when it starts.
        firewall.ensure_rules()


def mac_for(address) -> str:
    """02:42:a.b.c.d in hex for an IPv4Address: locally administered, one per address (Docker's scheme)."""
    return "02:42:" + ":".join(f"{byte:02x}" for byte in address.packed)


def attach(container_id: str, mode: str) -> Attachment:
    """Prepare the network before the container starts; the container joins it."""
    if mode != "bridge":
        return Attachment(mode=mode)
    # Loaded here: the none and host modes start without them.
    import ipaddress

    from . import ipam

    ensure_bridge()
    name, veth = netns_name(container_id), veth_name(container_id)
    address = ipam.allocate(container_id)
    prefix = ipaddress.ip_network(config.ADDRESS_POOL).prefixlen
    att = Attachment(mode=mode, netns=str(NETNS_DIR / name), address=str(address),
                     gateway=str(ipam.gateway()), veth=veth)
    try:
        _ip("netns", "add", name)
        _ip("-batch", "-", input_text="\n".join([
            f"link add {veth} type veth peer name eth0 netns {name}",
            f"link set {veth} master {config.BRIDGE}",
            f"link set {veth} type bridge_slave isolated on",
            f"link set {veth} up",
        ]) + "\n")
        _ip("-n", name, "-batch", "-", input_text="\n".join([
            "link set lo up",
            f"addr add {address}/{prefix} dev eth0",
            # A MAC derived from the address: when an address is handed out again, the
            # host's neighbour cache still points at the right MAC (a fresh random one
            # would leave the new instance unreachable until the stale entry expires).
            f"link set eth0 address {mac_for(address)}",
            "link set eth0 up",
            f"route add default via {att.gateway}",
        ]) + "\n")
    except NetworkError:
        detach(container_id, att)
        raise
    return att


def detach(container_id: str, att: Attachment | None = None) -> None:
    """Undo attach: delete the netns (which takes the veth pair with it) and free the address.

    Without `att` (a sweep of unknown leftovers) every trace is looked for.
    """
    if att is not None and att.mode != "bridge":
        return
    import subprocess

    name = netns_name(container_id)
    if (NETNS_DIR / name).exists():
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    veth = veth_name(container_id)
    if Path(f"/sys/class/net/{veth}").exists():
        subprocess.run(["ip", "link", "del", veth], capture_output=True, check=False)
    from . import ipam

    ipam.release(container_id)


def leftover_netns() -> set[str]:
    """Container ids that still have a paas network namespace on this host."""
    if not NETNS_DIR.is_dir():
        return set()
    prefix = _netns_prefix()
    return {p.name[len(prefix):] for p in NETNS_DIR.iterdir() if p.name.startswith(prefix)}
