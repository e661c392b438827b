"""The production install (compose/install.sh): units for each role, rendered for this checkout
and checked by `systemd-analyze verify`, with the hardening that fits each role."""

import os
import subprocess
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[2]
ENV = {"DATABASE_URL": "postgres://paas:secret@127.0.0.1:5432/paas", "REDIS_URL": "redis://127.0.0.1:6379/0",
       "PAAS_API_URL": "http://10.0.0.1:8000", "PAAS_AGENT_TOKEN": "paas_token"}


def install(root: Path, role: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ENV and k != "PAAS_DATA_DIR"}
    return subprocess.run(["bash", "compose/install.sh", role, "--root", str(root)], cwd=CHECKOUT,
                          env={**clean, "PAAS_DATA_DIR": str(root / "var/lib/paas"), **env},
                          capture_output=True, text=True, timeout=120)


def units(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "etc/systemd/system").iterdir())}


@pytest.mark.parametrize(("role", "expected"), [
    ("control", {"paas-api.service", "paas-git.service", "paas-builds.service", "paas-backups.service",
                 "paas-control.service",
                 "paas-router.service", "paas-router.socket", "paas.target"}),
    ("worker", {"paas-agent.service", "paas-worker.target"}),
])
def test_each_role_installs_units_that_systemd_accepts(tmp_path, role, expected):
    result = install(tmp_path, role, **ENV)
    assert result.returncode == 0, result.stderr
    found = units(tmp_path)
    assert set(found) == expected
    paths = [str(tmp_path / "etc/systemd/system" / name) for name in sorted(found)]
    verify = subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout + verify.stderr == ""
    for name, text in found.items():
        assert "@" not in text.replace("@system-service", ""), f"{name} has an unrendered placeholder"
        if name.endswith(".service"):
            assert "Restart=always" in text
            assert (tmp_path / "etc/systemd/system" / name).stat().st_mode & 0o777 == 0o644
    env_file = tmp_path / "etc/paas/paas.env"
    assert env_file.stat().st_mode & 0o777 == 0o640
    settings = env_file.read_text()
    assert "DATABASE_URL=postgres://paas:secret@" in settings and "PAAS_PRODUCTION=1" in settings


def test_the_hardening_fits_each_role(tmp_path):
    assert install(tmp_path, "control", **ENV).returncode == 0
    assert install(tmp_path, "worker", **ENV).returncode == 0
    found = units(tmp_path)
    for name in ("paas-api.service", "paas-git.service", "paas-control.service", "paas-router.service"):
        text = found[name]
        assert "User=paas" in text and "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text
        assert "RestrictSUIDSGID=yes" in text and "SystemCallFilter=@system-service" in text
    # The router binds 80/443 and holds nothing else.
    assert "AmbientCapabilities=CAP_NET_BIND_SERVICE" in found["paas-router.service"]
    assert found["paas-router.service"].rstrip().split("[Install]")[0].strip().endswith(
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE")
    # Root only where containers are made; the agent's restart must leave instances running.
    assert "User=" not in found["paas-agent.service"] and "KillMode=process" in found["paas-agent.service"]
    assert "Delegate=yes" in found["paas-builds.service"] and "Delegate=yes" in found["paas-backups.service"]
    assert "-Q ${PAAS_BACKUP_QUEUE}" in found["paas-backups.service"]
    # Migrations before the new code serves.
    assert "ExecStartPre=" in found["paas-api.service"] and "migrate --no-input" in found["paas-api.service"]


def test_the_router_restarts_on_sockets_systemd_holds(tmp_path):
    assert install(tmp_path, "control", **ENV, PAAS_ROUTER_PORT="80", PAAS_ROUTER_ADMIN_HOST="::1").returncode == 0
    found = units(tmp_path)
    socket_unit, service = found["paas-router.socket"], found["paas-router.service"]
    # In this order: descriptors 3, 4 and 5 (TLS), as the service names them.
    assert "ListenStream=0.0.0.0:80\nListenStream=[::1]:8081\nListenStream=0.0.0.0:8443\n" in socket_unit
    assert "Environment=PAAS_ROUTER_LISTEN_FD=3 PAAS_ROUTER_ADMIN_FD=4 PAAS_ROUTER_TLS_FD=5\n" in service
    assert "Requires=paas-router.socket" in service
    # READY=1 once every worker serves (router/handover.py).
    assert "Type=notify" in service and "NotifyAccess=main" in service


def test_with_tls_off_the_router_gets_no_tls_socket(tmp_path):
    assert install(tmp_path, "control", **ENV, PAAS_ROUTER_TLS_PORT="off").returncode == 0
    found = units(tmp_path)
    assert found["paas-router.socket"].count("ListenStream=") == 2 and "@" not in found["paas-router.socket"]
    assert "Environment=PAAS_ROUTER_LISTEN_FD=3 PAAS_ROUTER_ADMIN_FD=4\n" in found["paas-router.service"]
    assert "PAAS_ROUTER_TLS_PORT=off" in (tmp_path / "etc/paas/paas.env").read_text()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PAAS_ROUTER_PORT", "99999", "PAAS_ROUTER_PORT must be a port"),
    ("PAAS_ROUTER_TLS_PORT", "443\nListenStream=0.0.0.0:22", "PAAS_ROUTER_TLS_PORT must be a port"),
    ("PAAS_ROUTER_PORT", "80\nListenStream=0.0.0.0:22", "PAAS_ROUTER_PORT must be a port"),
    ("PAAS_ROUTER_HOST", "0.0.0.0\nExecStartPre=/bin/sh", "PAAS_ROUTER_HOST must be an IP address"),
])
def test_a_bad_router_address_writes_nothing(tmp_path, name, value, message):
    result = install(tmp_path, "control", **ENV, **{name: value})
    line = result.stderr.strip()
    assert result.returncode == 1 and line.startswith(f"install: {message}") and "\n" not in line
    assert not (tmp_path / "etc/paas").exists() and not (tmp_path / "etc/systemd/system").exists()


def test_an_existing_settings_file_is_kept(tmp_path):
    assert install(tmp_path, "control", **ENV).returncode == 0
    env_file = tmp_path / "etc/paas/paas.env"
    env_file.write_text(env_file.read_text() + "PAAS_BASE_DOMAIN=example.test\n")
    assert install(tmp_path, "control").returncode == 0  # no DATABASE_URL needed the second time
    assert "PAAS_BASE_DOMAIN=example.test" in env_file.read_text()


def test_bad_input_gets_a_clear_message_and_writes_nothing(tmp_path):
    wrong = install(tmp_path, "database", **ENV)
    assert wrong.returncode == 2 and "usage: compose/install.sh control|worker" in wrong.stderr
    missing = install(tmp_path, "control")
    assert missing.returncode == 1 and "set DATABASE_URL" in missing.stderr
    worker = install(tmp_path / "w", "worker", DATABASE_URL=ENV["DATABASE_URL"], REDIS_URL=ENV["REDIS_URL"])
    assert worker.returncode == 1 and "PAAS_API_URL" in worker.stderr
    assert not (tmp_path / "etc/paas/paas.env").exists() and not (tmp_path / "etc/systemd/system").exists()
