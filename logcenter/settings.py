"""The Log Center's settings, read from the environment once (README.md's settings table).

Both sides read them here: ``paas-logs`` (logcenter/service.py) and the API, which reaches it
on ``socket_path`` (logcenter/client.py).
"""

import functools
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from paas.platform.env import SettingError, env_bool, env_int, env_path, env_str, redis_prefix

INGEST_PORT = 8002      # where paas-logs takes batches from ingest workers (beside the API's 8000 and git's 8001)
MIN_TOKEN = 16          # characters of an ingest token at least (make up's are 43)

CHECKOUT_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    store_dir: Path
    socket_path: Path
    redis_url: str
    redis_prefix: str
    rate_limit: int          # lines per second per instance
    retention_days: int      # an app's lines are kept this long unless it set its own (logcenter/retention.py)
    consumer: str            # this ingest's name in the consumer group: stable, so a restart finds its pending entries
    drain_allow: str = ""    # CIDRs drains and webhooks may reach although private (logcenter/destinations.py)
    drain_buffer: int = 10_000   # lines each drain holds while its destination is slow or down
    drain_ca: str = ""       # a CA file trusted for TLS drains besides the system's
    alert_every_s: int = 60  # how often alerts are checked
    retention_max_days: int = 90   # the most an app may set
    claim_idle_s: int = 60   # another consumer's entries pending this long are taken over (logcenter/ingest.py)
    ingest_token: str = ""   # what ingest workers send with each batch; none: paas-logs takes no batches over TCP
    ingest_bind: tuple[str, int] = ("127.0.0.1", INGEST_PORT)     # where paas-logs listens for them
    ingest_address: tuple[str, int] = ("127.0.0.1", INGEST_PORT)  # where a worker sends them
    local_ingest: bool = True   # paas-logs runs one ingest worker of its own (no TCP: batches handed in-process)

    @classmethod
    def from_env(cls) -> "Settings":
        data_dir = env_path("PAAS_DATA_DIR", str(CHECKOUT_DIR / ".paas"))
        retention_days = env_int("PAAS_LOG_RETENTION_DAYS", 30, minimum=1)
        retention_max_days = env_int("PAAS_LOG_RETENTION_MAX_DAYS", max(90, retention_days), minimum=1,
                                     maximum=65535)   # the store's keep_days is a UInt16
        if retention_days > retention_max_days:
            raise SettingError(f"PAAS_LOG_RETENTION_DAYS={retention_days} is above "
                               f"PAAS_LOG_RETENTION_MAX_DAYS={retention_max_days}")
        bind = host_port("PAAS_LOG_INGEST_BIND", ("127.0.0.1", INGEST_PORT), any_port=True)
        return cls(
            data_dir=data_dir,
            store_dir=env_path("PAAS_LOG_STORE", str(data_dir / "logcenter" / "store")),
            socket_path=env_path("PAAS_LOG_SOCKET", str(data_dir / "logcenter" / "paas-logs.sock")),
            redis_url=env_str("REDIS_URL", "redis://127.0.0.1:6379/0"),
            redis_prefix=redis_prefix(),
            rate_limit=env_int("PAAS_LOG_RATE_LIMIT", 5000, minimum=1),
            retention_days=retention_days,
            retention_max_days=retention_max_days,
            consumer=env_str("PAAS_LOG_CONSUMER", "") or socket.gethostname(),
            drain_allow=env_str("PAAS_LOG_DRAIN_ALLOW", ""),
            drain_buffer=env_int("PAAS_LOG_DRAIN_BUFFER", 10_000, minimum=1),
            drain_ca=env_str("PAAS_LOG_DRAIN_CA", ""),
            alert_every_s=env_int("PAAS_LOG_ALERT_EVERY", 60, minimum=1),
            claim_idle_s=env_int("PAAS_LOG_CLAIM_IDLE", 60, minimum=1),
            ingest_token=ingest_token(),
            ingest_bind=bind,
            ingest_address=host_port("PAAS_LOG_INGEST_ADDRESS", ("127.0.0.1" if bind[0] in ("0.0.0.0", "::")
                                                                  else bind[0], bind[1] or INGEST_PORT)),
            local_ingest=env_bool("PAAS_LOG_LOCAL_INGEST", True),
        )


def ingest_token() -> str:
    token = env_str("PAAS_LOG_INGEST_TOKEN", "").strip()
    if token and len(token) < MIN_TOKEN:
        raise SettingError(f"PAAS_LOG_INGEST_TOKEN: at least {MIN_TOKEN} characters wanted")
    return token


def host_port(name: str, default: tuple[str, int], any_port: bool = False) -> tuple[str, int]:
    """``address:port`` (an IP literal; ``[v6]:port``) of the variable ``name``; port 0 (any) only to bind."""
    raw = env_str(name, "").strip()
    if not raw:
        return default
    host, _, port = raw.rpartition(":")
    try:
        address = str(ipaddress.ip_address(host.strip("[]")))
        number = int(port)
    except ValueError:
        raise SettingError(f"{name}={raw[:100]!r} is not an address:port (like 127.0.0.1:{INGEST_PORT})") from None
    if not (0 if any_port else 1) <= number <= 65535:
        raise SettingError(f"{name}: port {number} is out of range")
    return address, number


@functools.cache
def current() -> Settings:
    """The settings of this process, read once."""
    return Settings.from_env()
