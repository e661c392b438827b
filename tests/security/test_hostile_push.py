"""Issue 10's "done when": a non-admin user's push whose build script probes every port of the host
and of its loopback, plants setuid files, reads host paths and leaves a process behind gets nothing out
and leaves nothing; the app it deploys, probing the same from its instance, gets nothing either.

The probe (tests/security/probe.py) runs as the package.json build script, inside the real build
container of a real `git push`, and again in the web instance. It scans TCP ports 1-65535 on its own
loopback, its gateway and every IPv4 address of this host, plus the platform's ports; the test knows it
ran because its last line counts the attempts.
"""

import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from paas.platform.actions.apps import create_app
from tests.e2e.test_deploy import fetch
from tests.waiting import wait_for

PROBE = Path(__file__).with_name("probe.py")

pytestmark = pytest.mark.e2e


def host_addresses() -> list[str]:
    """Every IPv4 address of this host outside 127/8: its bridges, its uplink, test links."""
    listing = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True).stdout
    found = [line.split()[3].split("/")[0] for line in listing.splitlines()]
    return [address for address in found if not address.startswith("127.")]


def platform_ports(env: dict) -> list[int]:
    from django.db import connection

    ports = {int(env["PAAS_GIT_PORT"]), int(env["PAAS_ROUTER_PORT"]), 8000, 8001, 8080, 8081, 5432, 6379,
             54320, 63790, int(connection.settings_dict.get("PORT") or 5432)}
    redis_port = env["REDIS_URL"].rsplit(":", 1)[-1].split("/")[0]
    if redis_port.isdigit():
        ports.add(int(redis_port))
    return sorted(ports)


def hostile_app(targets: dict, marker: str) -> dict[str, str]:
    plant = (
        "#!/bin/sh\n"
        "# setuid and setgid copies of a binary, in the slug and in what the build cache keeps\n"
        "cp /usr/bin/id suid-id && chmod 4755 suid-id\n"
        "mkdir -p node_modules/evil && cp /usr/bin/id node_modules/evil/sgid-id && chmod 6755 node_modules/evil/sgid-id\n"
        "# a process that tries to outlive the build\n"
        f"python3 -c 'import os, time; os.setsid(); time.sleep(600)' {marker} >/dev/null 2>&1 &\n"
        "exit 0\n"
    )
    server = (
        "const fs = require('fs');\n"
        "require('http').createServer((q, r) => {\n"
        "  let text = '';\n"
        "  try { text = fs.readFileSync('/tmp/probe.txt', 'utf8'); } catch (e) {}\n"
        "  r.end('probe:\\n' + text);\n"
        "}).listen(process.env.PORT, '0.0.0.0');\n"
    )
    return {
        "package.json": json.dumps({"name": "hostile", "version": "1.0.0", "private": True,
                                    "scripts": {"build": "sh plant.sh && python3 probe.py"}}) + "\n",
        "Procfile": "web: sh -c 'python3 probe.py > /tmp/probe.txt 2>&1 & exec node server.js'\n",
        "plant.sh": plant,
        "server.js": server,
        "probe.py": PROBE.read_text(),
        "targets.json": json.dumps(targets) + "\n",
    }


def setuid_files(root: Path) -> list[str]:
    found = []
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory, name)
            mode = path.lstat().st_mode
            if stat.S_ISREG(mode) and mode & (stat.S_ISUID | stat.S_ISGID):
                found.append(str(path))
    return found


def gateways(text: str) -> set[str]:
    """The probe's gateway as it reported it (GATEWAY <address>), with the DNS port."""
    return {f"{line.split()[-1]}:53" for line in text.splitlines() if " GATEWAY " in f" {line}"}


def assert_probe_got_nothing(text: str, secret: str) -> None:
    assert "PROBE DONE" in text, text[-3000:]
    reached = [line.split()[-2:] for line in text.splitlines() if " OPEN " in f" {line}" or " READ " in f" {line}"]
    # The one port tenants are meant to reach: DNS on their gateway, the platform's forwarder (runtime/dns.py).
    assert [r for r in reached if not (r[0] == "OPEN" and r[1].endswith(":53") and r[1] in gateways(text))] == []
    assert secret not in text


def test_a_hostile_push_gets_nothing_out_and_leaves_nothing(pusher, agent_host, platform_env, tmp_path):
    data_dir = Path(platform_env["PAAS_DATA_DIR"])
    secret = f"host-secret-{uuid.uuid4().hex}"
    secret_file = Path("/tmp") / f"paas-secret-{uuid.uuid4().hex[:8]}"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o644)  # readable by any uid on the host: only isolation keeps it in
    marker = f"survivor-{uuid.uuid4().hex[:12]}"
    dropped = [data_dir / f"pwned-{uuid.uuid4().hex[:8]}", Path("/tmp") / f"pwned-{uuid.uuid4().hex[:8]}"]
    targets = {
        "every_port": host_addresses(),
        "some_ports": [],
        "ports": platform_ports(platform_env),
        "read": [str(secret_file), str(data_dir / "admin-token"), "/etc/shadow", str(data_dir),
                 "/proc/1/environ", "/root/.netrc"],
        "write": [str(path) for path in dropped],
    }
    try:
        app = create_app(pusher.user, f"hostile-{uuid.uuid4().hex[:8]}")
        assert not pusher.user.is_staff and not pusher.user.is_superuser
        repo = pusher.repo(tmp_path / "src", hostile_app(targets, marker), app.name)
        result = pusher.push(repo)
        assert result.returncode == 0, result.stderr[-3000:]
        assert_probe_got_nothing(result.stderr, secret)

        # From the app's own instance: the same probe, its report served through the router.
        port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
        status, text = wait_for(lambda: (r := fetch(port, host))[0] == 200 and "PROBE DONE" in r[1] and r, 120,
                                "the instance's probe report through the router")
        assert_probe_got_nothing(text, secret)

        # Nothing left behind: no process, no setuid file kept by the platform, nothing written on the host.
        survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True).stdout.split()
        assert survivors == []
        for kept in ("cache", "images"):
            if (data_dir / kept).exists():
                assert setuid_files(data_dir / kept) == []
        assert [str(path) for path in dropped if path.exists()] == []
    finally:
        secret_file.unlink(missing_ok=True)
        subprocess.run(["pkill", "-f", marker], capture_output=True)
