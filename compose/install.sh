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
# Whether paas.env has the setting $1 (kept on later runs: only missing ingest settings are added).
has_setting() { [ -f "$etc/paas.env" ] && grep -q "^$1=" "$etc/paas.env"; }

# The Log Center's ingest settings, checked before anything is written: how many workers run here,
# and the NAME=VALUE lines paas.env gets where it lacks them (ingest_settings).
# The count is kept in paas.env (PAAS_LOG_INGEST_WORKERS, as make up reads it): a later run without it
# keeps the workers it installed.
case "$role" in logs-ingest) workers=1 ;; *) workers=0 ;; esac
! has_setting PAAS_LOG_INGEST_WORKERS || workers=$(sed -n 's/^PAAS_LOG_INGEST_WORKERS=//p' "$etc/paas.env" | tail -n 1)
workers=${PAAS_LOG_INGEST_WORKERS:-$workers}
[[ "$workers" =~ ^[0-9]{1,2}$ ]] && [ "$workers" -le 64 ] || fail "PAAS_LOG_INGEST_WORKERS must be a number from 0 to 64"
[ "$role" != logs-ingest ] || [ "$workers" -ge 1 ] || fail "PAAS_LOG_INGEST_WORKERS must be at least 1 for logs-ingest"
[ "$role" != worker ] || workers=0
token=${PAAS_LOG_INGEST_TOKEN:-}
# The token goes into an environment file: one word of URL-safe characters (make up's and ours are).
[ -z "$token" ] || [[ "$token" =~ ^[A-Za-z0-9_-]+$ ]] || \
    fail "PAAS_LOG_INGEST_TOKEN must be made of URL-safe characters (A-Z a-z 0-9 _ -)"
ingest_settings=()
if [ "$role" = logs-ingest ]; then
    if ! has_setting PAAS_LOG_INGEST_ADDRESS; then
        [ -n "${PAAS_LOG_INGEST_ADDRESS:-}" ] || fail "set PAAS_LOG_INGEST_ADDRESS (where paas-logs takes \
batches: its PAAS_LOG_INGEST_BIND, an address this host reaches) for logs-ingest"
        ingest_settings+=("PAAS_LOG_INGEST_ADDRESS=$PAAS_LOG_INGEST_ADDRESS")
    fi
    if ! has_setting PAAS_LOG_INGEST_TOKEN; then
        [ -n "$token" ] || fail "set PAAS_LOG_INGEST_TOKEN (PAAS_LOG_INGEST_TOKEN of the control host's paas.env) \
for logs-ingest"
        ingest_settings+=("PAAS_LOG_INGEST_TOKEN=$token")
    fi
elif [ "$role" = control ] && { [ "$workers" -gt 0 ] || [ -n "${PAAS_LOG_INGEST_BIND:-}" ] || [ -n "$token" ]; }; then
    [ -n "${PAAS_LOG_INGEST_BIND:-}" ] && ingest_settings+=("PAAS_LOG_INGEST_BIND=$PAAS_LOG_INGEST_BIND")
    has_setting PAAS_LOG_INGEST_TOKEN || \
        ingest_settings+=("PAAS_LOG_INGEST_TOKEN=${token:-$(head -c 32 /dev/urandom | base64 | tr '/+' '_-' | tr -d '=\n')}")
fi
# The one check of these settings is the Log Center's own (logcenter/settings.py), with what paas.env
# will hold: a bad address or a short token stops here, naming the variable.
for setting in "${ingest_settings[@]}"; do export "${setting?}"; done
"$venv/bin/python" -P - <<'PY' || exit 1
import sys

from paas.logcenter.settings import Settings
from paas.platform.env import SettingError

try:
    Settings.from_env()
except SettingError as error:
    sys.exit(f"install: {error}")
PY

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
for setting in "${ingest_settings[@]}"; do
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

# Each unit with this checkout's paths and the hardening block that fits it.
render() {
    local source=$1 dest=$2
    python3 - "$source" "$dest" "$checkout" "$venv" "${root:+$root}/etc/paas" "$data" "$router_listen" \
        "$router_admin_listen" "$router_tls_listen" "$control_wants" "$ingest_wants" <<'PY'
import sys
from pathlib import Path

(source, dest, checkout, venv, etc, data, router_listen, router_admin_listen, router_tls_listen, control_wants,
 ingest_wants) = sys.argv[1:]
here = Path(source).parent
text = Path(source).read_text()
for name, block in (("@HARDENING@", "hardening.conf"), ("@ROOT_HARDENING@", "root-hardening.conf")):
    text = text.replace(name, (here / block).read_text().rstrip("\n"))
for name, value in (("@CHECKOUT@", checkout), ("@VENV@", venv), ("@ETC@", etc), ("@DATA@", data),
                    ("@ROUTER_LISTEN@", router_listen), ("@ROUTER_ADMIN_LISTEN@", router_admin_listen),
                    ("@CONTROL_WANTS@", control_wants), ("@INGEST_WANTS@", ingest_wants)):
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
elif [ -f "$units/paas-logs-ingest.target" ]; then
    # None asked for where some were installed: they stop (PartOf the target) and go.
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
