"""The PostgreSQL provider: the server's start script, its credentials, its URL.

The server runs the stack's own PostgreSQL (the newest /usr/lib/postgresql/*/bin
of the stack) as the add-on's uid, its cluster on the persistent volume
mounted at /app. The first start makes the cluster and, in single-user mode
before anything listens, the app's role (not a superuser) and its database;
later starts find them. Credentials are random hex, so they need no quoting
in SQL, URLs or shells, and are handed in through the environment only.
"""

import secrets

from paas.services.catalog import Plan
from paas.services.certificates import server_credentials

VOLUME_DESTINATION = "/app"

# Runs under /bin/sh -c in the container; every value comes from the environment.
START = r"""set -eu
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$PGBIN" ] || { echo "paas: this stack has no PostgreSQL" >&2; exit 78; }
D=/app/pgdata
if [ ! -s "$D/PG_VERSION" ]; then
  rm -rf "$D.init"
  umask 077
  if [ -s /run/pgdata/PG_VERSION ] && [ "$(cat /run/pgdata/PG_VERSION)" = "$(basename "$(dirname "$PGBIN")")" ]; then
    cp -R /run/pgdata "$D.init"   # the host's template (services/templates.py): no initdb on the way
    chmod 700 "$D.init"
  else
    "$PGBIN/initdb" -N -D "$D.init" -U postgres -A trust -E UTF8 --locale=C >/dev/null
  fi
  # Passwords everywhere, set below before anything listens (initdb's trust never serves a connection).
  printf 'local all all scram-sha-256\nhost all all 0.0.0.0/0 scram-sha-256\n' > "$D.init/pg_hba.conf"
  printf 'ALTER ROLE postgres PASSWORD '"'"'%s'"'"';\nCREATE ROLE "%s" LOGIN PASSWORD '"'"'%s'"'"';\nCREATE DATABASE "%s" OWNER "%s";\n' \
    "$PAAS_PG_SUPERUSER_PASSWORD" "$PAAS_PG_USER" "$PAAS_PG_PASSWORD" "$PAAS_PG_DATABASE" "$PAAS_PG_USER" \
    | "$PGBIN/postgres" --single -D "$D.init" postgres >/dev/null
  sync -f "$D.init"  # initdb -N and the copy skip fsync: one syncfs of the volume before it counts
  mv "$D.init" "$D"
fi
unset PAAS_PG_SUPERUSER_PASSWORD PAAS_PG_PASSWORD
TLS="-c ssl=off"
if [ -n "${PAAS_PG_TLS_CERT:-}" ]; then
  umask 077
  printf '%s\n' "$PAAS_PG_TLS_CERT" > /tmp/server.crt
  printf '%s\n' "$PAAS_PG_TLS_KEY" > /tmp/server.key
  TLS="-c ssl=on -c ssl_cert_file=/tmp/server.crt -c ssl_key_file=/tmp/server.key"
fi
unset PAAS_PG_TLS_KEY
exec "$PGBIN/postgres" -D "$D" $TLS -c listen_addresses='*' -c port=5432 -c unix_socket_directories=/tmp \
  -c dynamic_shared_memory_type=mmap -c shared_buffers="$PAAS_PG_SHARED_BUFFERS" \
  -c max_connections="$PAAS_PG_MAX_CONNECTIONS" -c log_destination=stderr
"""


def new_credentials() -> dict:
    return {"superuser_password": secrets.token_hex(24), "user": "u" + secrets.token_hex(6),
            "password": secrets.token_hex(24), "database": "d" + secrets.token_hex(6)}


def tls_credentials(name: str, address: str) -> dict:
    """A server certificate from the platform's CA: clients that demand TLS (sslmode=require) connect."""
    return server_credentials(name, address)


def server_env(plan: Plan, credentials: dict) -> tuple[tuple[str, str], ...]:
    """The start script's settings: memory follows the plan (a quarter for shared buffers).

    The role made at the first start is the owner's, before and after any rotation
    (services/rotation.py): a rotated login must not change the server's settings,
    which would restart it under every attached app.
    """
    owner = credentials.get("owner", credentials["user"])
    owner_password = credentials.get("owner_password", credentials["password"])
    tls = (("PAAS_PG_TLS_CERT", credentials["tls_cert"]), ("PAAS_PG_TLS_KEY", credentials["tls_key"])) \
        if credentials.get("tls_cert") else ()
    return tls + (("PAAS_PG_SUPERUSER_PASSWORD", credentials["superuser_password"]),
            ("PAAS_PG_USER", owner), ("PAAS_PG_PASSWORD", owner_password),
            ("PAAS_PG_DATABASE", credentials["database"]),
            ("PAAS_PG_SHARED_BUFFERS", f"{plan.memory_mb // 4}MB"),
            ("PAAS_PG_MAX_CONNECTIONS", str(20 if plan.memory_mb < 512 else 100)))


def url(credentials: dict, host: str, port: int) -> str:
    return f"postgres://{credentials['user']}:{credentials['password']}@{host}:{port}/{credentials['database']}"


def superuser_url(credentials: dict, host: str, port: int) -> str:
    """The platform's own connection (backups, rotation), from the server's host."""
    return f"postgres://postgres:{credentials['superuser_password']}@{host}:{port}/{credentials['database']}"
