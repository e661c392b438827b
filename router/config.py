"""Router settings, read from the environment once (12-factor).

Every value has a default that works on one machine; ``main.py`` lets command-line
flags override the few that operators change often (port, workers).
"""

import os
from dataclasses import dataclass, field

from paas.contracts import redis_keys


class SettingError(Exception):
    """An environment variable holds a value the router cannot use."""


def _redis_prefix() -> str:
    try:
        return redis_keys.prefix()
    except ValueError as exc:
        raise SettingError(str(exc)) from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingError(f"{name}={raw!r} must be positive")
    return value


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not an integer") from None
    if value < 0:
        raise SettingError(f"{name}={raw!r} must not be negative")
    return value


def _tls_port() -> int | None:
    """PAAS_ROUTER_TLS_PORT: 8443 by default, ``off`` for plain HTTP only."""
    if os.environ.get("PAAS_ROUTER_TLS_PORT", "").strip().lower() == "off":
        return None
    return _int("PAAS_ROUTER_TLS_PORT", 8443)


def _upstream(name: str, default: str) -> tuple[str, int] | None:
    """``host:port`` of one of the platform's own endpoints (``off``: not routed)."""
    raw = os.environ.get(name, "").strip() or default
    if raw.lower() == "off":
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingError(f"{name}={raw!r}: use host:port, or off")
    return host.strip("[]"), int(port)


@dataclass
class Limits:
    """Size limits on what a client may send; exceeding one is a 4xx and close."""

    request_line: int = 8192       # 414 past this, like nginx's large_client_header_buffers
    header_block: int = 32768      # 431: the whole head, request line included
    header_count: int = 100        # 431
    body: int = 100 * 1024 * 1024  # 413
    response_head: int = 65536     # an instance's response head past this is a 502


@dataclass
class Timeouts:
    """Seconds; the defaults are Heroku's router timeouts where it has one."""

    connect: float = 5.0       # TCP connect to an instance
    first_byte: float = 30.0   # request sent -> first response byte, then 504
    idle: float = 55.0         # keep-alive idle, and the rolling window on bodies
    head: float = 10.0         # whole request head from its first byte (slowloris)
    send: float = 30.0         # a client that does not read its response
    wake: float = 30.0         # hold a request while a scaled-to-zero app wakes
    drain: float = 30.0        # graceful shutdown: in-flight requests finish


@dataclass
class Settings:
    host: str = "0.0.0.0"
    port: int = 8080
    admin_host: str = "127.0.0.1"
    admin_port: int = 8081
    workers: int = 2
    base_domain: str = "localhost"
    redis_url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "paas:"          # tests use a unique prefix per test
    reload_interval: float = 15.0      # full route-table reload (level-triggered)
    metrics_interval: float = 5.0      # snapshot to Redis for the autoscaler
    # Idle keep-alive connections per instance and worker. At least the
    # client concurrency a worker sees, or a burst of finished requests closes
    # connections the next burst must reopen (nginx's bench config keeps 64).
    pool_size: int = 64
    pool_idle: float = 1.5             # under gunicorn's 2 s keep-alive, see pool.py
    balance: str = "least"             # "least" outstanding or "roundrobin"
    # TLS termination (serving/tls.py): None serves plain HTTP only. An empty cert
    # means the wildcard the platform CA issues for *.<base_domain>.
    tls_port: int | None = None
    tls_cert: str = ""
    tls_key: str = ""
    # The platform's own endpoints at paas.<base_domain> (table/platform.py): the API and console, the git
    # receiver; None: not routed.
    platform_api: tuple[str, int] | None = None
    platform_git: tuple[str, int] | None = None
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)

    @classmethod
    def from_env(cls) -> "Settings":
        """All settings from PAAS_* environment variables, defaults otherwise."""
        e = os.environ.get
        s = cls(
            host=e("PAAS_ROUTER_HOST", "0.0.0.0"),
            port=_int("PAAS_ROUTER_PORT", 8080),
            admin_host=e("PAAS_ROUTER_ADMIN_HOST", "127.0.0.1"),
            admin_port=_int("PAAS_ROUTER_ADMIN_PORT", 8081),
            workers=_int("PAAS_ROUTER_WORKERS", os.cpu_count() or 1) or 1,
            base_domain=e("PAAS_BASE_DOMAIN", "localhost").strip().lower().strip("."),
            redis_url=e("REDIS_URL", "redis://127.0.0.1:6379/0"),
            key_prefix=_redis_prefix(),
            reload_interval=_float("PAAS_ROUTER_RELOAD_INTERVAL", 15.0),
            metrics_interval=_float("PAAS_ROUTER_METRICS_INTERVAL", 5.0),
            pool_size=_int("PAAS_ROUTER_POOL_SIZE", 64),
            pool_idle=_float("PAAS_ROUTER_POOL_IDLE", 1.5),
            balance=e("PAAS_ROUTER_BALANCE", "least"),
            tls_port=_tls_port(),
            tls_cert=e("PAAS_ROUTER_TLS_CERT", "").strip(),
            tls_key=e("PAAS_ROUTER_TLS_KEY", "").strip(),
            platform_api=_upstream("PAAS_ROUTER_PLATFORM_API", f"127.0.0.1:{e('PAAS_API_PORT', '') or 8000}"),
            platform_git=_upstream("PAAS_ROUTER_PLATFORM_GIT", f"127.0.0.1:{e('PAAS_GIT_PORT', '') or 8001}"),
        )
        if bool(s.tls_cert) != bool(s.tls_key):
            raise SettingError("PAAS_ROUTER_TLS_CERT and PAAS_ROUTER_TLS_KEY go together: set both or neither")
        if s.balance not in ("least", "roundrobin"):
            raise SettingError(f"PAAS_ROUTER_BALANCE={s.balance!r}: use least or roundrobin")
        s.limits = Limits(
            request_line=_int("PAAS_ROUTER_MAX_REQUEST_LINE", 8192),
            header_block=_int("PAAS_ROUTER_MAX_HEADER_BYTES", 32768),
            header_count=_int("PAAS_ROUTER_MAX_HEADERS", 100),
            body=_int("PAAS_ROUTER_MAX_BODY", 100 * 1024 * 1024),
            response_head=_int("PAAS_ROUTER_MAX_RESPONSE_HEAD", 65536),
        )
        s.timeouts = Timeouts(
            connect=_float("PAAS_ROUTER_CONNECT_TIMEOUT", 5.0),
            first_byte=_float("PAAS_ROUTER_FIRST_BYTE_TIMEOUT", 30.0),
            idle=_float("PAAS_ROUTER_IDLE_TIMEOUT", 55.0),
            head=_float("PAAS_ROUTER_HEAD_TIMEOUT", 10.0),
            send=_float("PAAS_ROUTER_SEND_TIMEOUT", 30.0),
            wake=_float("PAAS_ROUTER_WAKE_TIMEOUT", 30.0),
            drain=_float("PAAS_ROUTER_DRAIN_TIMEOUT", 30.0),
        )
        return s
