"""The Redis provider: redis-server with its append-only file on the persistent volume.

One password (``requirepass``), random hex; memory capped below the plan's
limit so Redis refuses writes (an error the app sees) before the kernel kills it.
"""

import secrets

from paas.services.catalog import Plan
from paas.services.certificates import server_credentials

VOLUME_DESTINATION = "/app"

START = r"""set -eu
command -v redis-server >/dev/null || { echo "paas: this stack has no redis-server" >&2; exit 78; }
umask 077
printf 'requirepass %s\n' "$PAAS_REDIS_PASSWORD" > /tmp/redis.conf
unset PAAS_REDIS_PASSWORD
if [ -n "${PAAS_REDIS_TLS_CERT:-}" ]; then
  # rediss:// on a port of its own; clients are not asked for certificates (the password is the login).
  printf '%s\n' "$PAAS_REDIS_TLS_CERT" > /tmp/server.crt
  printf '%s\n' "$PAAS_REDIS_TLS_KEY" > /tmp/server.key
  printf 'tls-port 6380\ntls-cert-file /tmp/server.crt\ntls-key-file /tmp/server.key\ntls-auth-clients no\n' \
    >> /tmp/redis.conf
fi
unset PAAS_REDIS_TLS_KEY
exec redis-server /tmp/redis.conf --bind 0.0.0.0 --port 6379 --protected-mode no --dir /app \
  --appendonly yes --appendfsync everysec --maxmemory "$PAAS_REDIS_MAXMEMORY" --save ""
"""


def new_credentials() -> dict:
    return {"password": secrets.token_hex(24)}


def tls_credentials(name: str, address: str) -> dict:
    """A server certificate from the platform's CA for the TLS port (REDIS_TLS_URL)."""
    return server_credentials(name, address)


def server_env(plan: Plan, credentials: dict) -> tuple[tuple[str, str], ...]:
    tls = (("PAAS_REDIS_TLS_CERT", credentials["tls_cert"]), ("PAAS_REDIS_TLS_KEY", credentials["tls_key"])) \
        if credentials.get("tls_cert") else ()
    return tls + (("PAAS_REDIS_PASSWORD", credentials["password"]),
                  ("PAAS_REDIS_MAXMEMORY", f"{plan.memory_mb * 3 // 4}mb"))


def url(credentials: dict, host: str, port: int) -> str:
    return f"redis://default:{credentials['password']}@{host}:{port}/0"


def tls_url(credentials: dict, host: str, port: int) -> str:
    return f"rediss://default:{credentials['password']}@{host}:{port}/0"


def superuser_url(credentials: dict, host: str, port: int) -> str:
    return url(credentials, host, port)
