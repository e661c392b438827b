#!/usr/bin/env bash
# Installs what paas needs on this machine and is missing: system packages via
# apt-get, a virtualenv at .venv, and the project into it. Safe to run again:
# each step checks first, so a second run costs well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf -- '-----> %s\n' "$*" >&2; }

apt_updated=0
sudo=()
[ "$(id -u)" = 0 ] || sudo=(sudo)
apt_install() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        apt_updated=1
    fi
    say "apt-get install $*"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# command -> Debian package providing it
need_packages=()
need() { command -v "$1" >/dev/null 2>&1 || need_packages+=("$2"); }
need git git
need curl curl
need gcc gcc
need make make
need ip iproute2
need redis-server redis-server
need iptables iptables
need /usr/sbin/dnsmasq dnsmasq-base   # DNS forwarders of the bridges (runtime/dns.py) and the domain tests; -base: no system service
need unshare util-linux
need nsenter util-linux
need debootstrap debootstrap
need npm npm
# Dockerfile builds (buildpacks/dockerfile.py), and the registry their tests seed base images into.
need buildah buildah
need crun crun   # the OCI runtime of a Dockerfile's RUN steps, rootless inside buildah's user namespace
need docker-registry docker-registry
# Tracing the syscalls of the units' processes against their filter (tests/compose/test_unit_syscalls.py).
need strace strace
# The Docker engine backend (PAAS_RUNTIME_BACKEND=docker, runtime/dockerbackend.py; its tests start dockerd)
# and the peer of bench/runtime.py's start_vs_docker.
need dockerd docker.io
# The cgroup v2 guest of tests/vm (make test runs it where KVM is present).
if [ -e /dev/kvm ]; then
    need qemu-system-x86_64 qemu-system-x86
    need mkfs.ext4 e2fsprogs
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need_packages+=(postgresql)
fi
[ -f /usr/include/stdio.h ] || need_packages+=(libc6-dev)
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib/aarch64-linux-gnu/libc.a ] || need_packages+=(libc6-dev)
# The console's browser tests (tests/web) drive Debian's chromium through Playwright: no browser download.
need chromium chromium
# The ACME test server the automatic-certificate tests start on loopback (tests/pki/pebble.py).
need pebble pebble
if [ ${#need_packages[@]} -gt 0 ]; then
    # shellcheck disable=SC2207
    apt_install $(printf '%s\n' "${need_packages[@]}" | sort -u)
fi

# Python 3.12+: on PATH, or one of pyenv's versions (pyenv's shims refuse
# versions that are not selected, so look at the real binaries).
find_python() {
    local c
    for c in python3.14 python3.13 python3.12 python3; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"; return 0
        fi
    done
    for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 /usr/local/bin/python3.1[2-9]; do
        if [ -x "$c" ] && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            echo "$c"; return 0
        fi
    done
    return 1
}

if [ ! -x .venv/bin/python ]; then
    py=$(find_python) || { echo "paas needs Python 3.12 or newer and found none on PATH or under pyenv" >&2; exit 1; }
    say "creating .venv with $py"
    "$py" -m venv .venv
fi

# Reinstall only when the project's metadata changed since the last install.
stamp=.venv/.paas-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
    say "installing paas into .venv"
    .venv/bin/python -m pip install -q --upgrade pip >&2
    .venv/bin/python -m pip install -q -e '.[test]' >&2
    touch "$stamp"
fi

# The container helper (runtime/init/paas-init.c) is built here, not at the first start a user
# waits on; it is cached under its source's digest, so an unchanged source costs one lookup.
.venv/bin/paas-runner init:build >/dev/null || exit 1
