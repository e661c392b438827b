"""Reading the platform's settings from the environment, once, explicitly.

Every setting of paas comes from an environment variable with a default that works
on one machine (12-factor). These helpers parse values strictly so a typo such as
``PAAS_DEBUG=ture`` stops the process with a message instead of silently meaning
something else.
"""

import ipaddress
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from paas.contracts import redis_keys


class SettingError(Exception):
    """A setting in the environment cannot be used; the message names it."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def redis_prefix() -> str:
    """PAAS_REDIS_PREFIX, read and checked by the one contract module of Redis names."""
    try:
        return redis_keys.prefix()
    except ValueError as exc:
        raise SettingError(str(exc)) from None


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingError(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not an integer") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} is below the minimum {minimum}")
    if maximum is not None and value > maximum:
        raise SettingError(f"{name}={value} is above the maximum {maximum}")
    return value


def env_float(name: str, default: float, minimum: float | None = None) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(f"{name}={raw!r} is not a number") from None
    if minimum is not None and value < minimum:
        raise SettingError(f"{name}={value} is below the minimum {minimum}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_hostports(name: str, default_port: int) -> list[tuple[str, int]]:
    """``host:port,[v6]:port,host`` as (address, port) pairs; the port defaults to ``default_port``.

    Addresses must be IP literals: a resolver named by a hostname would need a resolver first.
    """
    found = []
    for item in env_list(name):
        if item.startswith("["):
            host, bracket, rest = item[1:].partition("]")
            port = rest[1:] if rest.startswith(":") and bracket else ("" if not rest and bracket else None)
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        else:
            host, port = item, ""
        try:
            if port is None:
                raise ValueError(item)
            address = str(ipaddress.ip_address(host))
            number = int(port) if port else default_port
        except (TypeError, ValueError):
            raise SettingError(f"{name}: {item!r} is not an address[:port] (like 127.0.0.1:53 or [::1]:53)") from None
        if not 1 <= number <= 65535:
            raise SettingError(f"{name}: port {number} of {item!r} is not 1-65535")
        found.append((address, number))
    return found


def env_https_url(name: str, default: str = "") -> str:
    """An https:// URL with a host (or empty); anything else stops the process naming the variable."""
    value = os.environ.get(name, default).strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise SettingError(f"{name}={value[:100]!r} must be an https:// URL")
    return value


def env_path(name: str, default: str) -> Path:
    return Path(os.environ.get(name) or default).expanduser().resolve()


def parse_database_url(url: str) -> dict:
    """Turn ``postgres://user:pass@host:port/name?sslmode=x`` into Django's DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise SettingError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme or 'empty'}://")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise SettingError("DATABASE_URL names no database (postgres://host:port/NAME)")
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "")
    # A host given as ?host=/run/postgresql selects a Unix socket directory.
    if "host" in options:
        host = options.pop("host")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(parts.port or ""),
        "OPTIONS": options,
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
    }


def check_redis_url(url: str) -> str:
    scheme = urlsplit(url).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise SettingError(f"REDIS_URL must be a redis:// URL, not {url!r}")
    return url
