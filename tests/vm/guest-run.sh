#!/bin/bash
# The guest's part of tests/vm (run by the image's paas-vm.service as root, after
# paas-vm-boot mounted the checkout read-only at /mnt/paas and the results directory
# at /mnt/out): network, CA bundle, a copy of the checkout installed into the image's
# venv, then the pytest arguments the host wrote to /mnt/out/args, with PostgreSQL and
# Redis started inside the guest by `make test`'s own runner (PAAS_TEST_SERVICES=private).
# Whatever happens, it writes /mnt/out/exitcode last; systemd powers the guest off after.
set -u
OUT=/mnt/out
SRC=/srv/paas
uptime_s() { cut -d' ' -f1 /proc/uptime; }
say() { echo "paas-vm: $*"; }
boot_s=$(uptime_s)
say "booted in ${boot_s}s; cgroup: $(stat -f -c %T /sys/fs/cgroup) controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"

# qemu's user network (restrict=on: the guest reaches nothing outside): an address and a
# default route as on any host, which the runtime's NAT rules expect.
ip link set lo up
for dev in /sys/class/net/*; do
    dev=${dev##*/}
    [ "$dev" = lo ] && continue
    ip link set "$dev" up
    ip addr add 10.0.2.15/24 dev "$dev"
    ip route add default via 10.0.2.2 dev "$dev"
    break
done
echo "nameserver 10.0.2.3" > /etc/resolv.conf
mkdir -p /etc/ssl/certs
cp "$OUT/ca.crt" /etc/ssl/certs/ca-certificates.crt

# A copy, not the share: the suite writes into its checkout (.paas-test, caches), and 9p
# is slow for the many small reads of imports.
mkdir -p "$SRC"
tar -C /mnt/paas --exclude=./.venv --exclude=./.git --exclude=./.paas --exclude=./.paas-test \
    --exclude=./.pytest_cache --exclude='*.egg-info' --exclude=__pycache__ -cf - . | tar -C "$SRC" -xf -
# The checkout's own mode came along (a `mktemp -d` clone is 0700): the suite's private
# PostgreSQL runs as the postgres user, which must be able to enter it.
chmod 0755 "$SRC"
cd "$SRC" || exit 1
if ! .venv/bin/pip install -q --no-deps --no-build-isolation --no-index -e . > "$OUT/install.log" 2>&1; then
    say "installing the checkout failed (install.log)"
    echo 125 > "$OUT/exitcode"
    exit 0
fi
setup_s=$(uptime_s)

mapfile -t args < "$OUT/args"
say "running pytest ${args[*]}"
PAAS_TEST_SERVICES=private .venv/bin/python -P -m paas.compose.testrun "${args[@]}" \
    --junitxml="$OUT/junit.xml" > "$OUT/pytest.log" 2>&1
code=$?
done_s=$(uptime_s)
say "pytest exited with $code"
# Seconds since the guest's kernel started, at each milestone; the host takes the differences.
printf '{"booted": %s, "installed": %s, "tested": %s}\n' "$boot_s" "$setup_s" "$done_s" \
    > "$OUT/timings.json"
sync
echo "$code" > "$OUT/exitcode"
sync
