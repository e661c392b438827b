"""Where the runtime keeps its files and its defaults, read from the environment once.

The runtime does not import the Django settings (the runner must start in a few
milliseconds), so it reads the same variables itself with the same defaults.
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


# The name of the cgroup directory under each controller holding all instances.
CGROUP_PARENT = os.environ.get("PAAS_CGROUP_PARENT", "paas")
if not CGROUP_PARENT.replace("-", "").replace("_", "").isalnum():
    raise RuntimeLayerError(f"PAAS_CGROUP_PARENT={CGROUP_PARENT!r} must be letters, digits, '-' and '_'")
BRIDGE = os.environ.get("PAAS_BRIDGE", "paas0")
ADDRESS_POOL = os.environ.get("PAAS_ADDRESS_POOL", "10.213.0.0/16")
# Stop = SIGTERM, then SIGKILL after this many seconds (12-factor disposability).
STOP_GRACE_SECONDS = float(os.environ.get("PAAS_STOP_GRACE", "30"))


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
