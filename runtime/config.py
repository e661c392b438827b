"""The runtime's settings: every variable of the environment the runtime reads, read here and only here.

The runtime does not import the Django settings (the agent and ``paas-runner``
run without Django), so it reads the same variables itself with the same
defaults. Settings a process fixes at its start are module constants; those a
caller may change for one operation (a test's directories, a host of several
on one machine) are functions, read when asked. A setting whose syntax is a
rule of another module (uid ranges: identity.py, port ranges: ports.py) is
read here as text and parsed there, once.
"""

import os
from pathlib import Path

from .errors import RuntimeLayerError

CHECKOUT_DIR = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The platform's data directory (PAAS_DATA_DIR, default <checkout>/.paas)."""
    return Path(os.environ.get("PAAS_DATA_DIR") or CHECKOUT_DIR / ".paas").expanduser().resolve()


def runtime_dir() -> Path:
    """The runtime's own files (PAAS_RUNTIME_DIR, default <data dir>/runtime)."""
    override = os.environ.get("PAAS_RUNTIME_DIR")
    return Path(override).expanduser().resolve() if override else data_dir() / "runtime"


def instances_dir() -> Path:
    return runtime_dir() / "instances"


def stacks_dir() -> Path:
    return runtime_dir() / "stacks"


def images_dir() -> Path:
    return runtime_dir() / "images"


def cache_dir() -> Path:
    """Compiled helpers; shared by every data dir of this user."""
    return Path(os.environ.get("PAAS_CACHE_DIR") or Path.home() / ".cache" / "paas").expanduser()


def redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def leases_dir() -> Path:
    """Host-wide state shared by every runtime on the host (PAAS_LEASES_DIR, /run/paas)."""
    return Path(os.environ.get("PAAS_LEASES_DIR", "/run/paas"))


def cgroup_version() -> int | None:
    """PAAS_CGROUP_VERSION (1 or 2) when forced; None: whichever hierarchy the host has."""
    forced = os.environ.get("PAAS_CGROUP_VERSION", "")
    return int(forced) if forced in ("1", "2") else None


def bridge_prefix() -> int:
    """PAAS_BRIDGE_PREFIX: the size of each bridge's segment of the pool (see ipam.py)."""
    text = os.environ.get("PAAS_BRIDGE_PREFIX", "23")
    if not text.isdigit() or not 8 <= int(text) <= 30:
        raise RuntimeLayerError(f"PAAS_BRIDGE_PREFIX={text!r} must be a prefix length between 8 and 30")
    return int(text)


def publish_ports() -> str:
    """PAAS_PUBLISH_PORTS, as text (ports.parse_range reads it)."""
    # Below Linux's ephemeral ports (32768-60999), which clients take.
    return os.environ.get("PAAS_PUBLISH_PORTS", "20000-29999")


def instance_network() -> str:
    """PAAS_INSTANCE_NETWORK: the network mode of the agent's instances (bridge, host or none)."""
    return os.environ.get("PAAS_INSTANCE_NETWORK", "bridge")


def host_name() -> str:
    """PAAS_HOST_NAME, or the machine's own name: this host among the platform's hosts."""
    return os.environ.get("PAAS_HOST_NAME") or os.uname().nodename


def host_address() -> str:
    """PAAS_HOST_ADDRESS: where other hosts' routers reach this one (loopback: one machine)."""
    return os.environ.get("PAAS_HOST_ADDRESS", "127.0.0.1")


def host_memory_mb() -> int:
    """PAAS_HOST_MEMORY_MB, or the machine's memory less PAAS_HOST_RESERVED_MB (1024) for the platform."""
    given = _number("PAAS_HOST_MEMORY_MB", "", int)
    if given:
        return given
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return max(256, pages // (1 << 20) - _number("PAAS_HOST_RESERVED_MB", "1024", int))


def host_cpus() -> float:
    """PAAS_HOST_CPUS, or the machine's CPU count."""
    return _number("PAAS_HOST_CPUS", "", float) or float(os.cpu_count() or 1)


def agent_interval() -> float:
    """PAAS_AGENT_INTERVAL: seconds between the agent's passes when nothing wakes it."""
    return _number("PAAS_AGENT_INTERVAL", "0.5", float)


def log_backlog_bytes() -> int:
    """PAAS_LOG_BACKLOG_BYTES: unshipped log bytes kept per instance and stream while Redis is away."""
    return _number("PAAS_LOG_BACKLOG_BYTES", str(8 << 20), int)


def agent_token() -> str | None:
    """PAAS_AGENT_TOKEN: the agent's API token, to fetch slugs built on another host."""
    return os.environ.get("PAAS_AGENT_TOKEN") or None


def app_uids() -> str:
    """PAAS_APP_UIDS, as text (identity.parse_range reads it)."""
    return os.environ.get("PAAS_APP_UIDS", "1000000000-1499999999")


def addon_uids() -> str:
    """PAAS_ADDON_UIDS, as text (identity.parse_range reads it): add-on servers' host uids."""
    return os.environ.get("PAAS_ADDON_UIDS", "2000000000-2099999999")


def build_uids() -> str:
    """PAAS_BUILD_UIDS, as text (identity.parse_range reads it)."""
    return os.environ.get("PAAS_BUILD_UIDS", "1500000000-1999999999")


def debian_mirror() -> str:
    """PAAS_DEBIAN_MIRROR: where debootstrap fetches a Debian stack's packages."""
    return os.environ.get("PAAS_DEBIAN_MIRROR", "http://deb.debian.org/debian")


def trusted_ca_file() -> Path | None:
    """PAAS_TRUSTED_CA_FILE: a CA bundle trusted in every build and instance beside the host's."""
    value = os.environ.get("PAAS_TRUSTED_CA_FILE", "").strip()
    return Path(value) if value else None


def _number(name: str, default: str, kind):
    """A number from the environment; empty: 0 of `kind`; bad input stops with the setting named."""
    text = os.environ.get(name, default).strip()
    if not text:
        return kind(0)
    try:
        value = kind(text)
    except ValueError:
        raise RuntimeLayerError(f"{name}={text!r} must be a number") from None
    if value < 0:
        raise RuntimeLayerError(f"{name}={text!r} must not be negative")
    return value


# The name of the cgroup directory under each controller holding all instances.
CGROUP_PARENT = os.environ.get("PAAS_CGROUP_PARENT", "paas")
if not CGROUP_PARENT.replace("-", "").replace("_", "").isalnum():
    raise RuntimeLayerError(f"PAAS_CGROUP_PARENT={CGROUP_PARENT!r} must be letters, digits, '-' and '_'")
BRIDGE = os.environ.get("PAAS_BRIDGE", "paas0")
ADDRESS_POOL = os.environ.get("PAAS_ADDRESS_POOL", "10.213.0.0/16")
# Stop = SIGTERM, then SIGKILL after this many seconds (12-factor disposability).
STOP_GRACE_SECONDS = _number("PAAS_STOP_GRACE", "30", float)


def _networks(name: str, default: str) -> tuple:
    """A comma-separated list of IPv4 networks from the environment (bad input stops the runtime)."""
    import ipaddress

    text = os.environ.get(name, default)
    try:
        return tuple(ipaddress.IPv4Network(item.strip()) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise RuntimeLayerError(f"{name}={text!r}: {exc}") from None


def _addresses(name: str) -> tuple:
    import ipaddress

    text = os.environ.get(name, "")
    try:
        return tuple(str(ipaddress.ip_address(item.strip())) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise RuntimeLayerError(f"{name}={text!r}: {exc}") from None


# Where tenants' traffic may not go, beyond what is always refused (loopback, link-local and
# metadata, multicast, the pool itself; see firewall.py): by default the private ranges, where
# a platform's own machines live (RFC 1918, and CGNAT's 100.64/10).
EGRESS_DENY = _networks("PAAS_EGRESS_DENY", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10")
# Exceptions to EGRESS_DENY, for a package mirror or service on a private range tenants must reach.
EGRESS_ALLOW = _networks("PAAS_EGRESS_ALLOW", "")
# The resolvers the bridges' DNS forwarders ask; empty: the nameservers of the host's /etc/resolv.conf.
DNS_UPSTREAM = _addresses("PAAS_DNS_UPSTREAM")


def _megabytes(name: str, default: int) -> int:
    text = os.environ.get(name, str(default))
    if not text.strip().isdigit():
        raise RuntimeLayerError(f"{name}={text!r} must be a whole number of megabytes")
    return int(text)


# Apps asleep frozen keep their memory; below this much available memory on a host its agent
# reports pressure and Platform Control stops the apps frozen there (runtime/sleep.py).
FREEZE_MIN_AVAILABLE_MB = _megabytes("PAAS_FREEZE_MIN_AVAILABLE_MB", 256)


def image_max_bytes() -> int:
    """PAAS_IMAGE_MAX_BYTES: what an imported image may unpack to, all layers together (default 4 GiB)."""
    return _number("PAAS_IMAGE_MAX_BYTES", str(4 << 30), int)


def image_max_files() -> int:
    """PAAS_IMAGE_MAX_FILES: how many members one layer of an imported image may have (default 500,000)."""
    return _number("PAAS_IMAGE_MAX_FILES", "500000", int)


def _hosts(name: str) -> tuple[str, ...]:
    return tuple(h.strip() for h in os.environ.get(name, "").split(",") if h.strip())


def registry_allow() -> tuple[str, ...]:
    """PAAS_REGISTRY_ALLOW: the registries (host[:port]) images are pulled from; none by default."""
    return _hosts("PAAS_REGISTRY_ALLOW")


def registry_insecure() -> tuple[str, ...]:
    """PAAS_REGISTRY_INSECURE: allowed registries spoken to in plain HTTP (a loopback test registry)."""
    return _hosts("PAAS_REGISTRY_INSECURE")


def registry_mirror() -> str:
    """PAAS_REGISTRY_MIRROR: where Docker Hub references (python:3.12) are pulled from; empty: nowhere."""
    return os.environ.get("PAAS_REGISTRY_MIRROR", "").strip()


# The instances' runner (runtime/backend.py): "native" (the platform's own, runtime/container.py) or
# "docker" (a local Docker engine through the docker SDK, runtime/dockerbackend.py).
RUNTIME_BACKENDS = ("native", "docker")
RUNTIME_BACKEND = os.environ.get("PAAS_RUNTIME_BACKEND", "native").strip() or "native"
if RUNTIME_BACKEND not in RUNTIME_BACKENDS:
    raise RuntimeLayerError(f"PAAS_RUNTIME_BACKEND={RUNTIME_BACKEND!r} must be one of {', '.join(RUNTIME_BACKENDS)}")


def docker_host() -> str:
    """PAAS_DOCKER_HOST: the Docker engine of the docker backend (a unix socket on this host)."""
    return os.environ.get("PAAS_DOCKER_HOST", "unix:///var/run/docker.sock")


def docker_bridge() -> str:
    """PAAS_DOCKER_BRIDGE: the name prefix of the docker backend's per-app bridges (firewalled as `<prefix>+`)."""
    prefix = os.environ.get("PAAS_DOCKER_BRIDGE", "paasd")
    # A Linux interface name holds 15 characters: the prefix and 8 hex digits of the app's name.
    if not (prefix.isascii() and prefix.isalnum() and 1 <= len(prefix) <= 7):
        raise RuntimeLayerError(f"PAAS_DOCKER_BRIDGE={prefix!r} must be 1 to 7 letters or digits")
    return prefix


def docker_pool() -> str:
    """PAAS_DOCKER_POOL: the addresses of the docker backend's networks (dockerd's --default-address-pool)."""
    pools = _networks("PAAS_DOCKER_POOL", "10.212.0.0/16")
    if len(pools) != 1:
        raise RuntimeLayerError("PAAS_DOCKER_POOL must be one IPv4 network, such as 10.212.0.0/16")
    return str(pools[0])
