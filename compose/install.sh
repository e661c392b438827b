#!/usr/bin/env bash
# Installs paas as systemd services on a production host.
#
#   compose/install.sh control   # a control-plane host: API, git, builds, backups, control loop, router
#   compose/install.sh worker    # a worker host: the agent alone
#   compose/install.sh logs-ingest   # Log Center ingest workers on a host of their own
#
# The units (compose/systemd/) run this checkout's .venv; settings live in
# /etc/paas/paas.env (0640 root:paas), written on the first install from the
# environment of the shell that runs this (DATABASE_URL and REDIS_URL are required;
# a worker also needs PAAS_API_URL and PAAS_AGENT_TOKEN; logs-ingest REDIS_URL,
# PAAS_LOG_INGEST_ADDRESS and PAAS_LOG_INGEST_TOKEN) and kept on later runs.
# PAAS_LOG_INGEST_WORKERS (control: 0, logs-ingest: 1) is how many paas-logs-ingest@N run here; on
# the control host, workers, PAAS_LOG_INGEST_BIND or PAAS_LOG_INGEST_TOKEN add the ingest token to
# paas.env once (generated unless given), so paas-logs takes workers' batches.
# Where PAAS_BUILD_DOCKER_HOST names an engine, the control role also runs the build registry, its
# password in /etc/paas/build-registry.env for paas-builds alone (compose/README.md).
# Options: --root DIR installs under DIR (no users made, nothing started: for checking
# the units), --no-start installs and enables without starting.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)

usage() { echo "usage: compose/install.sh control|worker|logs-ingest [--root DIR] [--no-start]" >&2; exit 2; }
[ $# -ge 1 ] || usage
role=$1; shift
case "$role" in
    control) target=paas.target ;;
    worker) target=paas-worker.target ;;
    logs-ingest) target=paas-logs-ingest.target ;;
    *) usage ;;
esac
root="" start=1
while [ $# -gt 0 ]; do
    case "$1" in
        --root) [ $# -ge 2 ] || usage; root=$2; start=0; shift 2 ;;
        --no-start) start=0; shift ;;
        *) usage ;;
    esac
done

say() { printf -- '-----> %s\n' "$*" >&2; }
fail() { echo "install: $*" >&2; exit 1; }

etc="$root/etc/paas"
units="$root/etc/systemd/system"
data="${PAAS_DATA_DIR:-/var/lib/paas}"
venv="$checkout/.venv"

[ -n "$root" ] || [ "$(id -u)" = 0 ] || fail "run as root (it writes /etc and starts services)"
[ -x "$venv/bin/python" ] || bash compose/bootstrap.sh

check_env() {
    # An ingest worker needs no database: it only reads the log streams.
    [ "$role" = logs-ingest ] || [ -n "${DATABASE_URL:-}" ] || \
        fail "set DATABASE_URL (the platform's PostgreSQL) for the first install"
    [ -n "${REDIS_URL:-}" ] || fail "set REDIS_URL (the platform's Redis) for the first install"
    if [ "$role" = worker ]; then
        [ -n "${PAAS_API_URL:-}" ] || fail "set PAAS_API_URL (the control plane's API) for a worker"
        [ -n "${PAAS_AGENT_TOKEN:-}" ] || fail "set PAAS_AGENT_TOKEN (an admin token) for a worker"
    fi
}

# Where paas-router.socket listens: checked before anything is written.
listen_address() {
    local host=$1 port=$2 name=$3
    [[ "$port" =~ ^[0-9]{1,5}$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || fail "$name must be a port (1-65535)"
    [[ "$host" =~ ^[0-9A-Fa-f.:]+$ ]] || fail "${name%_PORT}_HOST must be an IP address"
    if [[ "$host" == *:* ]]; then echo "[$host]:$port"; else echo "$host:$port"; fi
}
# Whether paas.env has the setting $1 (kept on later runs: only missing ingest and engine settings are
# added), and its value.
has_setting() { [ -f "$etc/paas.env" ] && grep -q "^$1=" "$etc/paas.env"; }
setting() { ! has_setting "$1" || sed -n "s/^$1=//p" "$etc/paas.env" | tail -n 1; }
# A secret of URL-safe characters (one word in an environment file).
secret() { head -c 32 /dev/urandom | base64 | tr '/+' '_-' | tr -d '=\n'; }

# The Log Center's ingest settings, checked before anything is written: how many workers run here,
# and the NAME=VALUE lines paas.env gets where it lacks them (added_settings).
# The count is kept in paas.env (PAAS_LOG_INGEST_WORKERS, as make up reads it): a later run without it
# keeps the workers it installed.
case "$role" in logs-ingest) default_workers=1 ;; *) default_workers=0 ;; esac
workers=${PAAS_LOG_INGEST_WORKERS:-$(setting PAAS_LOG_INGEST_WORKERS)}
workers=${workers:-$default_workers}
[[ "$workers" =~ ^[0-9]{1,2}$ ]] && [ "$workers" -le 64 ] || fail "PAAS_LOG_INGEST_WORKERS must be a number from 0 to 64"
[ "$role" != logs-ingest ] || [ "$workers" -ge 1 ] || fail "PAAS_LOG_INGEST_WORKERS must be at least 1 for logs-ingest"
[ "$role" != worker ] || workers=0
token=${PAAS_LOG_INGEST_TOKEN:-}
# The token goes into an environment file: one word of URL-safe characters (make up's and ours are).
[ -z "$token" ] || [[ "$token" =~ ^[A-Za-z0-9_-]+$ ]] || \
    fail "PAAS_LOG_INGEST_TOKEN must be made of URL-safe characters (A-Z a-z 0-9 _ -)"
added_settings=()
if [ "$role" = logs-ingest ]; then
    if ! has_setting PAAS_LOG_INGEST_ADDRESS; then
        [ -n "${PAAS_LOG_INGEST_ADDRESS:-}" ] || fail "set PAAS_LOG_INGEST_ADDRESS (where paas-logs takes \
batches: its PAAS_LOG_INGEST_BIND, an address this host reaches) for logs-ingest"
        added_settings+=("PAAS_LOG_INGEST_ADDRESS=$PAAS_LOG_INGEST_ADDRESS")
    fi
    if ! has_setting PAAS_LOG_INGEST_TOKEN; then
        [ -n "$token" ] || fail "set PAAS_LOG_INGEST_TOKEN (PAAS_LOG_INGEST_TOKEN of the control host's paas.env) \
for logs-ingest"
        added_settings+=("PAAS_LOG_INGEST_TOKEN=$token")
    fi
elif [ "$role" = control ] && { [ "$workers" -gt 0 ] || [ -n "${PAAS_LOG_INGEST_BIND:-}" ] || [ -n "$token" ]; }; then
    [ -n "${PAAS_LOG_INGEST_BIND:-}" ] && added_settings+=("PAAS_LOG_INGEST_BIND=$PAAS_LOG_INGEST_BIND")
    has_setting PAAS_LOG_INGEST_TOKEN || \
        added_settings+=("PAAS_LOG_INGEST_TOKEN=${token:-$(secret)}")
fi
# The one check of these settings is the Log Center's own (logcenter/settings.py), with what paas.env
# will hold: a bad address or a short token stops here, naming the variable.
for setting in "${added_settings[@]}"; do export "${setting?}"; done
"$venv/bin/python" -P - <<'PY' || exit 1
import sys

from paas.logcenter.settings import Settings
from paas.platform.env import SettingError

try:
    Settings.from_env()
except SettingError as error:
    sys.exit(f"install: {error}")
PY

# The build registry (buildpacks/buildregistry.py) the Docker engine's builds push to, as make up runs it:
# on the control host where PAAS_BUILD_DOCKER_HOST names an engine (of this host: it pushes to loopback)
# and PAAS_BUILD_REGISTRY no registry of the operator's.
docker_host=${PAAS_BUILD_DOCKER_HOST:-$(setting PAAS_BUILD_DOCKER_HOST)}
registry=""   # 127.0.0.1:<port> where it runs
if [ "$role" = control ] && [ -n "$docker_host" ] && [ -z "${PAAS_BUILD_REGISTRY:-$(setting PAAS_BUILD_REGISTRY)}" ]; then
    [[ "$docker_host" =~ ^[[:graph:]]+$ ]] || fail "PAAS_BUILD_DOCKER_HOST must be one word (like unix:///run/docker.sock)"
    registry_port=${PAAS_BUILD_REGISTRY_PORT:-54330}
    [[ "$registry_port" =~ ^[0-9]{1,5}$ ]] && [ "$registry_port" -ge 1 ] && [ "$registry_port" -le 65535 ] || \
        fail "PAAS_BUILD_REGISTRY_PORT must be a port (1-65535)"
    command -v docker-registry >/dev/null || \
        fail "PAAS_BUILD_DOCKER_HOST is set: the build registry needs Debian's docker-registry (apt-get install docker-registry)"
    registry="127.0.0.1:$registry_port"
    has_setting PAAS_BUILD_DOCKER_HOST || added_settings+=("PAAS_BUILD_DOCKER_HOST=$docker_host")
fi

router_listen=$(listen_address "${PAAS_ROUTER_HOST:-0.0.0.0}" "${PAAS_ROUTER_PORT:-8080}" PAAS_ROUTER_PORT)
router_admin_listen=$(listen_address "${PAAS_ROUTER_ADMIN_HOST:-127.0.0.1}" "${PAAS_ROUTER_ADMIN_PORT:-8081}" \
    PAAS_ROUTER_ADMIN_PORT)
router_tls_listen=""   # the TLS port on the apps' address; "off" (router/config.py) serves plain HTTP only
tls_port=${PAAS_ROUTER_TLS_PORT:-8443}
if [ "${tls_port,,}" != off ]; then
    router_tls_listen=$(listen_address "${PAAS_ROUTER_HOST:-0.0.0.0}" "$tls_port" PAAS_ROUTER_TLS_PORT)
fi

write_env() {
    umask 077
    {
        echo "# paas settings (README.md, Settings). Units read this file; restart them after a change."
        echo "PAAS_PRODUCTION=1"
        echo "PAAS_SECRET_KEY=${PAAS_SECRET_KEY:-$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')}"
        echo "PAAS_DATA_DIR=$data"
        [ "$role" = logs-ingest ] || echo "DATABASE_URL=$DATABASE_URL"
        echo "REDIS_URL=$REDIS_URL"
        echo "PAAS_API_BIND=${PAAS_API_BIND:-127.0.0.1}"
        echo "PAAS_API_PORT=${PAAS_API_PORT:-8000}"
        echo "PAAS_GIT_PORT=${PAAS_GIT_PORT:-8001}"
        echo "PAAS_BUILD_QUEUE=${PAAS_BUILD_QUEUE:-builds}"
        echo "PAAS_BACKUP_QUEUE=${PAAS_BACKUP_QUEUE:-backups}"
        echo "PAAS_BASE_DOMAIN=${PAAS_BASE_DOMAIN:-localhost}"
        [ "$role" != worker ] || echo "PAAS_API_URL=$PAAS_API_URL"
        [ "$role" != worker ] || echo "PAAS_AGENT_TOKEN=$PAAS_AGENT_TOKEN"
        [ -z "${PAAS_HOST_ADDRESS:-}" ] || echo "PAAS_HOST_ADDRESS=$PAAS_HOST_ADDRESS"
        [ "$role" != control ] || [ -n "$router_tls_listen" ] || echo "PAAS_ROUTER_TLS_PORT=off"
    } > "$etc/paas.env.new"
    mv "$etc/paas.env.new" "$etc/paas.env"
}

first_install=0
[ -f "$etc/paas.env" ] || first_install=1
[ "$first_install" = 0 ] || check_env
if [ -z "$root" ] && ! id paas >/dev/null 2>&1; then
    say "creating the system user paas"
    useradd --system --home-dir "$data" --shell /usr/sbin/nologin paas
fi

mkdir -p "$etc" "$units" "$root$data"
chmod 0750 "$etc"
if [ "$first_install" = 1 ]; then
    say "writing $etc/paas.env"
    ( write_env )
fi
for setting in "${added_settings[@]}"; do
    if ! has_setting "${setting%%=*}"; then
        say "adding ${setting%%=*} to $etc/paas.env"
        echo "$setting" >> "$etc/paas.env"
    fi
done
if [ "$role" != worker ]; then
    sed -i '/^PAAS_LOG_INGEST_WORKERS=/d' "$etc/paas.env"
    echo "PAAS_LOG_INGEST_WORKERS=$workers" >> "$etc/paas.env"
fi
chmod 0640 "$etc/paas.env"
if [ -z "$root" ]; then
    chown root:paas "$etc" "$etc/paas.env"
    chown paas:paas "$data"
    chmod 0750 "$data"
fi

# The build registry's password, made once, is for paas-builds alone: build-registry.env (0600 root),
# which no other unit reads. The registry gets its config and htpasswd (a bcrypt hash), written by
# buildregistry.write_config as the user paas (the data dir is paas's: root writes nothing there).
registry_env="$etc/build-registry.env"
registry_exec=""
if [ -n "$registry" ]; then
    password=$([ ! -f "$registry_env" ] || sed -n 's/^PAAS_BUILD_REGISTRY_PASSWORD=//p' "$registry_env" | tail -n 1)
    [[ "$password" =~ ^[A-Za-z0-9_-]{32,}$ ]] || password=$(secret)
    (
        umask 077
        printf 'PAAS_BUILD_REGISTRY=%s\nPAAS_BUILD_REGISTRY_PASSWORD=%s\nPAAS_BUILD_REGISTRY_DIR=%s\n' \
            "$registry" "$password" "$data/build-registry" > "$registry_env.new"
        mv "$registry_env.new" "$registry_env"
    )
    as_paas=()
    [ -n "$root" ] || as_paas=(runuser -u paas --)
    # The password by environment, never an argument; the command line the unit runs comes back.
    registry_exec=$(PAAS_BUILD_REGISTRY_PASSWORD=$password "${as_paas[@]}" "$venv/bin/python" -P - \
        "$root$data/build-registry" "$registry" <<'PY'
import os
import shlex
import shutil
import sys
from pathlib import Path

from paas.buildpacks import buildregistry

conf = buildregistry.write_config(Path(sys.argv[1]), sys.argv[2], os.environ["PAAS_BUILD_REGISTRY_PASSWORD"])
argv = buildregistry.argv(conf)
print(shlex.join([shutil.which(argv[0]), *argv[1:]]))
PY
    )
fi

# Each unit with this checkout's paths and the hardening block that fits it.
render() {
    local source=$1 dest=$2
    python3 - "$source" "$dest" "$checkout" "$venv" "${root:+$root}/etc/paas" "$data" "$router_listen" \
        "$router_admin_listen" "$router_tls_listen" "$control_wants" "$ingest_wants" "$registry_exec" <<'PY'
import sys
from pathlib import Path

(source, dest, checkout, venv, etc, data, router_listen, router_admin_listen, router_tls_listen, control_wants,
 ingest_wants, registry_exec) = sys.argv[1:]
here = Path(source).parent
text = Path(source).read_text()
for name, block in (("@HARDENING@", "hardening.conf"), ("@ROOT_HARDENING@", "root-hardening.conf")):
    text = text.replace(name, (here / block).read_text().rstrip("\n"))
for name, value in (("@CHECKOUT@", checkout), ("@VENV@", venv), ("@ETC@", etc), ("@DATA@", data),
                    ("@ROUTER_LISTEN@", router_listen), ("@ROUTER_ADMIN_LISTEN@", router_admin_listen),
                    ("@CONTROL_WANTS@", control_wants), ("@INGEST_WANTS@", ingest_wants),
                    ("@BUILD_REGISTRY_EXEC@", registry_exec)):
    text = text.replace(name, value)
# The TLS socket is the third one systemd hands over (descriptor 5), when there is one.
tls_stream, tls_fd = (f"ListenStream={router_tls_listen}\n", " PAAS_ROUTER_TLS_FD=5") if router_tls_listen else ("", "")
text = text.replace("@ROUTER_TLS_LISTEN_STREAM@\n", tls_stream).replace("@ROUTER_TLS_FD@", tls_fd)
Path(dest).write_text(text)
PY
}

case "$role" in
    control) wanted=(paas-api paas-git paas-builds paas-backups paas-control paas-router paas-logs) ;;
    worker) wanted=(paas-agent) ;;
    logs-ingest) wanted=() ;;
esac
# The ingest workers: one template, the instances paas-logs-ingest.target wants (so a smaller count
# stops the rest once the target is restarted), and on the control host paas.target wants the target.
ingest_wants="" control_wants=""
for n in $(seq 1 "$workers"); do ingest_wants+="${ingest_wants:+ }paas-logs-ingest@$n.service"; done
[ "$role" != control ] || [ "$workers" = 0 ] || control_wants=" paas-logs-ingest.target"
if [ -n "$registry" ]; then
    wanted+=(paas-build-registry)
    control_wants+=" paas-build-registry.service"
elif [ "$role" = control ] && [ -f "$units/paas-build-registry.service" ]; then
    # No engine any more: the registry stops and the build worker no longer gets its address.
    [ -n "$root" ] || systemctl disable --now paas-build-registry.service || true
    rm -f "$units/paas-build-registry.service" "$registry_env"
fi
for unit in "${wanted[@]}"; do
    render "compose/systemd/$unit.service" "$units/$unit.service"
done
sockets=()
if [ "$role" = control ]; then
    sockets=(paas-router.socket)
    render compose/systemd/paas-router.socket "$units/paas-router.socket"
fi
targets=("$target")
if [ "$workers" -gt 0 ]; then
    render "compose/systemd/paas-logs-ingest@.service" "$units/paas-logs-ingest@.service"
    if [ "$role" = control ]; then
        targets+=(paas-logs-ingest.target)
        render compose/systemd/paas-logs-ingest.target "$units/paas-logs-ingest.target"
    fi
elif [ "$role" = control ] && [ -f "$units/paas-logs-ingest.target" ]; then
    # None asked for where some were installed: they stop (PartOf the target) and go. (A worker host's
    # install leaves the ingest workers of a logs-ingest install on the same host alone.)
    [ -n "$root" ] || systemctl disable --now paas-logs-ingest.target || true
    rm -f "$units/paas-logs-ingest.target" "$units/paas-logs-ingest@.service"
fi
render "compose/systemd/$target" "$units/$target"
say "installed ${wanted[*]} ${ingest_wants} and ${targets[*]} into $units"

if [ -z "$root" ]; then
    systemctl daemon-reload
    # Ingest instances are not enabled one by one: their target's Wants= holds the count.
    systemctl enable "${targets[@]}" "${wanted[@]/%/.service}" "${sockets[@]}"
    if [ "$start" = 1 ]; then
        systemctl restart "$target"
        say "started $target; follow with: journalctl -f -u 'paas-*'"
    fi
fi
