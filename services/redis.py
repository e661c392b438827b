"""The Redis provider: redis-server with its append-only file on the persistent volume.

One password (``requirepass``), random hex; memory capped below the plan's
limit so Redis refuses writes (an error the app sees) before the kernel kills it.
"""

import secrets

from paas.services.catalog import Plan

VOLUME_DESTINATION = "/app"

START = r"""set -eu
command -v redis-server >/dev/null || { echo "paas: this stack has no redis-server" >&2; exit 78; }
printf 'requirepass %s\n' "$PAAS_REDIS_PASSWORD" > /tmp/redis.conf
unset PAAS_REDIS_PASSWORD
exec redis-server /tmp/redis.conf --bind 0.0.0.0 --port 6379 --protected-mode no --dir /app \
  --appendonly yes --appendfsync everysec --maxmemory "$PAAS_REDIS_MAXMEMORY" --save ""
"""


def new_credentials() -> dict:
    return {"password": secrets.token_hex(24)}


def tls_credentials(name: str, address: str) -> dict:
    return {}  # not yet: REDIS_TLS_URL needs a second exposed port


def server_env(plan: Plan, credentials: dict) -> tuple[tuple[str, str], ...]:
    return (("PAAS_REDIS_PASSWORD", credentials["password"]),
            ("PAAS_REDIS_MAXMEMORY", f"{plan.memory_mb * 3 // 4}mb"))


def url(credentials: dict, host: str, port: int) -> str:
    return f"redis://default:{credentials['password']}@{host}:{port}/0"


def superuser_url(credentials: dict, host: str, port: int) -> str:
    return url(credentials, host, port)
