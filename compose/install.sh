#!/usr/bin/env bash
# Installs paas as systemd services on a production host.
#
#   compose/install.sh control   # a control-plane host: API, git, builds, backups, control loop, router
#   compose/install.sh worker    # a worker host: the agent alone
#
# The units (compose/systemd/) run this checkout's .venv; settings live in
# /etc/paas/paas.env (0640 root:paas), written on the first install from the
# environment of the shell that runs this (DATABASE_URL and REDIS_URL are required;
# a worker also needs PAAS_API_URL and PAAS_AGENT_TOKEN) and kept on later runs.
# Options: --root DIR installs under DIR (no users made, nothing started: for checking
# the units), --no-start installs and enables without starting.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)

usage() { echo "usage: compose/install.sh control|worker [--root DIR] [--no-start]" >&2; exit 2; }
[ $# -ge 1 ] || usage
role=$1; shift
case "$role" in control) target=paas.target ;; worker) target=paas-worker.target ;; *) usage ;; esac
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
    [ -n "${DATABASE_URL:-}" ] || fail "set DATABASE_URL (the platform's PostgreSQL) for the first install"
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
        echo "DATABASE_URL=$DATABASE_URL"
        echo "REDIS_URL=$REDIS_URL"
        echo "PAAS_API_BIND=${PAAS_API_BIND:-127.0.0.1}"
        echo "PAAS_API_PORT=${PAAS_API_PORT:-8000}"
        echo "PAAS_GIT_PORT=${PAAS_GIT_PORT:-8001}"
        echo "PAAS_BUILD_QUEUE=${PAAS_BUILD_QUEUE:-builds}"
        echo "PAAS_BACKUP_QUEUE=${PAAS_BACKUP_QUEUE:-backups}"
        echo "PAAS_BASE_DOMAIN=${PAAS_BASE_DOMAIN:-localhost}"
        [ "$role" = control ] || echo "PAAS_API_URL=$PAAS_API_URL"
        [ "$role" = control ] || echo "PAAS_AGENT_TOKEN=$PAAS_AGENT_TOKEN"
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
        "$router_admin_listen" "$router_tls_listen" <<'PY'
import sys
from pathlib import Path

source, dest, checkout, venv, etc, data, router_listen, router_admin_listen, router_tls_listen = sys.argv[1:]
here = Path(source).parent
text = Path(source).read_text()
for name, block in (("@HARDENING@", "hardening.conf"), ("@ROOT_HARDENING@", "root-hardening.conf")):
    text = text.replace(name, (here / block).read_text().rstrip("\n"))
for name, value in (("@CHECKOUT@", checkout), ("@VENV@", venv), ("@ETC@", etc), ("@DATA@", data),
                    ("@ROUTER_LISTEN@", router_listen), ("@ROUTER_ADMIN_LISTEN@", router_admin_listen)):
    text = text.replace(name, value)
# The TLS socket is the third one systemd hands over (descriptor 5), when there is one.
tls_stream, tls_fd = (f"ListenStream={router_tls_listen}\n", " PAAS_ROUTER_TLS_FD=5") if router_tls_listen else ("", "")
text = text.replace("@ROUTER_TLS_LISTEN_STREAM@\n", tls_stream).replace("@ROUTER_TLS_FD@", tls_fd)
Path(dest).write_text(text)
PY
}

case "$role" in
    control) wanted=(paas-api paas-git paas-builds paas-backups paas-control paas-router) ;;
    worker) wanted=(paas-agent) ;;
esac
for unit in "${wanted[@]}"; do
    render "compose/systemd/$unit.service" "$units/$unit.service"
done
sockets=()
if [ "$role" = control ]; then
    sockets=(paas-router.socket)
    render compose/systemd/paas-router.socket "$units/paas-router.socket"
fi
render "compose/systemd/$target" "$units/$target"
say "installed ${wanted[*]} and $target into $units"

if [ -z "$root" ]; then
    systemctl daemon-reload
    systemctl enable "$target" "${wanted[@]/%/.service}" "${sockets[@]}"
    if [ "$start" = 1 ]; then
        systemctl restart "$target"
        say "started $target; follow with: journalctl -f -u 'paas-*'"
    fi
fi
