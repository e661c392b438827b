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
