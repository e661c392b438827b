"""The production install (compose/install.sh): units for each role, rendered for this checkout
and checked by `systemd-analyze verify`, with the hardening that fits each role."""

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from paas.buildpacks import buildregistry
from tests.compose.test_build_registry import status
from tests.compose.test_unit_syscalls import allowed, stop_traced, used
from tests.e2e.platform_procs import free_port, wait_for_port

CHECKOUT = Path(__file__).resolve().parents[2]
ENV = {"DATABASE_URL": "postgres://paas:secret@127.0.0.1:5432/paas", "REDIS_URL": "redis://127.0.0.1:6379/0",
       "PAAS_API_URL": "http://10.0.0.1:8000", "PAAS_AGENT_TOKEN": "paas_token"}
# What an ingest host is given: the control host's bind address and the token of its paas.env.
INGEST = {"REDIS_URL": "redis://logcenter:secret@10.0.0.1:6379/0", "PAAS_LOG_INGEST_ADDRESS": "10.0.0.1:8002",
          "PAAS_LOG_INGEST_TOKEN": "a-token-of-forty-three-url-safe-characters-x"}


def install(root: Path, role: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items()
             if k not in ENV and k != "PAAS_DATA_DIR" and not k.startswith(("PAAS_LOG_", "PAAS_BUILD_"))}
    return subprocess.run(["bash", "compose/install.sh", role, "--root", str(root)], cwd=CHECKOUT,
                          env={**clean, "PAAS_DATA_DIR": str(root / "var/lib/paas"), **env},
                          capture_output=True, text=True, timeout=120)


def units(root: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((root / "etc/systemd/system").iterdir())}


def settings(root: Path) -> dict[str, str]:
    lines = (root / "etc/paas/paas.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if not line.startswith("#"))


def verify(root: Path) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` of every unit installed under root, a template as its first instance (so %i
    and %H are expanded as systemd will)."""
    directory = root / "etc/systemd/system"
    paths = []
    for path in sorted(directory.iterdir()):
        if path.name.endswith("@.service"):
            instance = directory / path.name.replace("@.", "@1.")
            instance.symlink_to(path.name)
            path = instance
        paths.append(str(path))
    try:
        return subprocess.run(["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=120)
    finally:
        for path in directory.glob("*@1.service"):
            path.unlink()


CONTROL = {"paas-api.service", "paas-git.service", "paas-builds.service", "paas-backups.service",
           "paas-control.service", "paas-router.service", "paas-router.socket", "paas-logs.service", "paas.target"}
INGEST_UNITS = {"paas-logs-ingest@.service", "paas-logs-ingest.target"}


@pytest.mark.parametrize(("role", "env", "expected"), [
    ("control", ENV, CONTROL),
    ("control", {**ENV, "PAAS_LOG_INGEST_WORKERS": "2"}, CONTROL | INGEST_UNITS),
    ("worker", ENV, {"paas-agent.service", "paas-worker.target"}),
    ("logs-ingest", INGEST, INGEST_UNITS),
])
def test_each_role_installs_units_that_systemd_accepts(tmp_path, role, env, expected):
    result = install(tmp_path, role, **env)
    assert result.returncode == 0, result.stderr
    found = units(tmp_path)
    assert set(found) == expected
    checked = verify(tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""
    for name, text in found.items():
        assert not re.search(r"@[A-Z_]+@", text), f"{name} has an unrendered placeholder"
        if name.endswith(".service"):
            assert "Restart=always" in text
            assert (tmp_path / "etc/systemd/system" / name).stat().st_mode & 0o777 == 0o644
    env_file = tmp_path / "etc/paas/paas.env"
    assert env_file.stat().st_mode & 0o777 == 0o640
    written = settings(tmp_path)
    assert written["REDIS_URL"] == env["REDIS_URL"] and written["PAAS_PRODUCTION"] == "1"
    # An ingest host only reads the log streams: it is given no database.
    assert ("DATABASE_URL" in written) == (role != "logs-ingest")


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


def test_the_log_center_runs_as_paas_without_privilege_where_the_api_finds_it(tmp_path):
    assert install(tmp_path, "control", **ENV, PAAS_LOG_INGEST_WORKERS="2").returncode == 0
    found = units(tmp_path)
    data = str(tmp_path / "var/lib/paas")
    for name in ("paas-logs.service", "paas-logs-ingest@.service"):
        text = found[name]
        assert "User=paas\nGroup=paas\n" in text and "NoNewPrivileges=yes" in text and "ProtectSystem=strict" in text
        assert "SystemCallFilter=@system-service" in text and f"ReadWritePaths={data}\n" in text
        # No capability at all: an empty bounding set, none ambient.
        assert "\nCapabilityBoundingSet=\n" in text and "AmbientCapabilities" not in text
    # The API and paas-logs read one settings file and set neither the data dir nor the socket themselves,
    # so both take <data dir>/logcenter/paas-logs.sock; they run as one user, who alone reaches its 0700 directory.
    for name in ("paas-api.service", "paas-logs.service"):
        lines = [line for line in found[name].splitlines() if not line.startswith("#")]
        assert f"EnvironmentFile={tmp_path}/etc/paas/paas.env" in lines and "User=paas" in lines
        assert not [line for line in lines if "PAAS_LOG_SOCKET" in line or "PAAS_DATA_DIR" in line]
    assert settings(tmp_path)["PAAS_DATA_DIR"] == data
    # Each worker its own stable consumer name; the control plane's target starts them.
    assert "Environment=PAAS_LOG_CONSUMER=%H-%i\n" in found["paas-logs-ingest@.service"]
    assert "Wants=paas-logs-ingest@1.service paas-logs-ingest@2.service\n" in found["paas-logs-ingest.target"]
    assert "paas-logs.service paas-logs-ingest.target\n" in found["paas.target"]


def test_by_default_paas_logs_ingests_alone_and_holds_no_port(tmp_path):
    assert install(tmp_path, "control", **ENV).returncode == 0
    written = settings(tmp_path)
    assert "PAAS_LOG_INGEST_TOKEN" not in written and "PAAS_LOG_INGEST_BIND" not in written
    assert written["PAAS_LOG_INGEST_WORKERS"] == "0"
    assert "paas-logs-ingest" not in units(tmp_path)["paas.target"]


def test_the_ingest_token_is_made_once_and_the_workers_are_kept(tmp_path):
    assert install(tmp_path, "control", **ENV).returncode == 0
    # Asked later for remote workers: the token is added to the kept settings, the bind as given.
    assert install(tmp_path, "control", PAAS_LOG_INGEST_BIND="10.0.0.1:8002").returncode == 0
    token = settings(tmp_path)["PAAS_LOG_INGEST_TOKEN"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{40,}", token) and settings(tmp_path)["PAAS_LOG_INGEST_BIND"] == "10.0.0.1:8002"
    assert install(tmp_path, "control", PAAS_LOG_INGEST_WORKERS="1").returncode == 0
    assert install(tmp_path, "control").returncode == 0   # a later run without the count keeps the worker
    assert settings(tmp_path)["PAAS_LOG_INGEST_TOKEN"] == token
    assert INGEST_UNITS <= set(units(tmp_path))
    assert install(tmp_path, "control", PAAS_LOG_INGEST_WORKERS="0").returncode == 0
    assert not INGEST_UNITS & set(units(tmp_path)) and settings(tmp_path)["PAAS_LOG_INGEST_WORKERS"] == "0"
    assert (tmp_path / "etc/paas/paas.env").read_text().count("PAAS_LOG_INGEST_WORKERS=") == 1


def test_an_ingest_host_gets_what_its_workers_need(tmp_path):
    assert install(tmp_path, "logs-ingest", **INGEST, PAAS_LOG_INGEST_WORKERS="3").returncode == 0
    written = settings(tmp_path)
    assert written["PAAS_LOG_INGEST_ADDRESS"] == "10.0.0.1:8002"
    assert written["PAAS_LOG_INGEST_TOKEN"] == INGEST["PAAS_LOG_INGEST_TOKEN"]
    assert "Wants=paas-logs-ingest@1.service paas-logs-ingest@2.service paas-logs-ingest@3.service\n" in units(
        tmp_path)["paas-logs-ingest.target"]
    # A later run needs nothing from the environment.
    assert install(tmp_path, "logs-ingest").returncode == 0


@pytest.mark.parametrize(("role", "changes", "message"), [
    ("logs-ingest", {"PAAS_LOG_INGEST_TOKEN": ""}, "set PAAS_LOG_INGEST_TOKEN"),
    ("logs-ingest", {"PAAS_LOG_INGEST_TOKEN": "short-token"}, "PAAS_LOG_INGEST_TOKEN: at least 16 characters"),
    ("logs-ingest", {"PAAS_LOG_INGEST_TOKEN": "a-long-enough-token\nDATABASE_URL=postgres://evil"},
     "PAAS_LOG_INGEST_TOKEN must be made of URL-safe characters"),
    ("logs-ingest", {"PAAS_LOG_INGEST_ADDRESS": ""}, "set PAAS_LOG_INGEST_ADDRESS"),
    ("logs-ingest", {"PAAS_LOG_INGEST_ADDRESS": "logs.example:8002"}, "PAAS_LOG_INGEST_ADDRESS='logs.example:8002' is not"),
    ("logs-ingest", {"PAAS_LOG_INGEST_ADDRESS": "10.0.0.1:8002\nX=1"}, "PAAS_LOG_INGEST_ADDRESS="),
    ("logs-ingest", {"PAAS_LOG_INGEST_ADDRESS": "10.0.0.1:0"}, "PAAS_LOG_INGEST_ADDRESS: port 0 is out of range"),
    ("logs-ingest", {"PAAS_LOG_INGEST_WORKERS": "0"}, "PAAS_LOG_INGEST_WORKERS must be at least 1"),
    ("logs-ingest", {"REDIS_URL": ""}, "set REDIS_URL"),
    ("control", {"PAAS_LOG_INGEST_WORKERS": "65"}, "PAAS_LOG_INGEST_WORKERS must be a number from 0 to 64"),
    ("control", {"PAAS_LOG_INGEST_BIND": "0.0.0.0:http"}, "PAAS_LOG_INGEST_BIND='0.0.0.0:http' is not"),
    ("control", {"PAAS_LOG_INGEST_TOKEN": "x" * 15}, "PAAS_LOG_INGEST_TOKEN: at least 16 characters"),
])
def test_bad_ingest_settings_get_a_clear_message_and_write_nothing(tmp_path, role, changes, message):
    env = {**(INGEST if role == "logs-ingest" else ENV), **changes}
    result = install(tmp_path, role, **{k: v for k, v in env.items() if v})
    line = result.stderr.strip()
    assert result.returncode == 1 and line.startswith(f"install: {message}") and "\n" not in line, line
    assert INGEST["PAAS_LOG_INGEST_TOKEN"] not in line
    assert not (tmp_path / "etc/paas").exists() and not (tmp_path / "etc/systemd/system").exists()


def test_with_an_engine_the_build_registry_runs_and_only_the_build_worker_has_its_password(tmp_path, monkeypatch):
    port = free_port()
    engine = {"PAAS_BUILD_DOCKER_HOST": "unix:///run/docker.sock", "PAAS_BUILD_REGISTRY_PORT": str(port)}
    result = install(tmp_path, "control", **ENV, **engine)
    assert result.returncode == 0, result.stderr
    found = units(tmp_path)
    assert "paas-build-registry.service" in found and "paas-build-registry.service\n" in found["paas.target"]
    service = found["paas-build-registry.service"]
    assert "User=paas" in service and "\nCapabilityBoundingSet=\n" in service and "EnvironmentFile" not in service
    registry_env = tmp_path / "etc/paas/build-registry.env"
    assert registry_env.stat().st_mode & 0o777 == 0o600
    given = dict(line.split("=", 1) for line in registry_env.read_text().splitlines())
    password = given["PAAS_BUILD_REGISTRY_PASSWORD"]
    assert given["PAAS_BUILD_REGISTRY"] == f"127.0.0.1:{port}"
    readers = [name for name, text in found.items() if "EnvironmentFile=-" in text]
    assert readers == ["paas-builds.service"]
    assert f"EnvironmentFile=-{registry_env}\n" in found["paas-builds.service"]
    assert settings(tmp_path)["PAAS_BUILD_DOCKER_HOST"] == "unix:///run/docker.sock"
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != registry_env]
    assert not [p for p in written if password in p.read_text()], "the password is in another file"
    # The registry as its unit runs it: the build worker's login gets in, nothing else does; every syscall it
    # makes is one its unit's filter allows.
    argv = shlex.split(next(line for line in service.splitlines() if line.startswith("ExecStart="))[10:])
    trace = tmp_path / "registry.trace"
    server = subprocess.Popen(["strace", "-f", "-qq", "-o", str(trace), *argv], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, server, "docker-registry", timeout=30)
        for name, value in given.items():
            monkeypatch.setenv(name, value)
        registry = buildregistry.from_env()
        assert status(registry.address, (registry.login.username, registry.login.secret)) == 200
        assert status(registry.address, None) == 401
    finally:
        stop_traced(server)
    assert not used(trace) - allowed(), f"outside @system-service: {sorted(used(trace) - allowed())}"
    # Later runs keep the password; with the engine taken out of paas.env the registry goes.
    assert install(tmp_path, "control", PAAS_BUILD_REGISTRY_PORT=str(port)).returncode == 0
    assert f"PAAS_BUILD_REGISTRY_PASSWORD={password}\n" in registry_env.read_text()
    env_file = tmp_path / "etc/paas/paas.env"
    env_file.write_text(env_file.read_text().replace("PAAS_BUILD_DOCKER_HOST=unix:///run/docker.sock\n", ""))
    assert install(tmp_path, "control").returncode == 0
    assert "paas-build-registry.service" not in units(tmp_path) and not registry_env.exists()
    assert "build-registry" not in units(tmp_path)["paas.target"]


def test_no_build_registry_without_an_engine_or_with_the_operators_own(tmp_path):
    assert install(tmp_path / "a", "control", **ENV).returncode == 0
    assert install(tmp_path / "b", "control", **ENV, PAAS_BUILD_DOCKER_HOST="unix:///run/docker.sock",
                   PAAS_BUILD_REGISTRY="127.0.0.1:5000").returncode == 0
    for root in (tmp_path / "a", tmp_path / "b"):
        assert "paas-build-registry.service" not in units(root) and not (root / "etc/paas/build-registry.env").exists()


@pytest.mark.parametrize(("changes", "message"), [
    ({"PAAS_BUILD_REGISTRY_PORT": "70000"}, "PAAS_BUILD_REGISTRY_PORT must be a port"),
    ({"PAAS_BUILD_REGISTRY_PORT": "5000\nExecStartPre=/bin/sh"}, "PAAS_BUILD_REGISTRY_PORT must be a port"),
    ({"PAAS_BUILD_DOCKER_HOST": "unix:///run/docker.sock\nPAAS_DEBUG=1"}, "PAAS_BUILD_DOCKER_HOST must be one word"),
])
def test_a_bad_engine_setting_writes_nothing(tmp_path, changes, message):
    result = install(tmp_path, "control", **ENV, **{"PAAS_BUILD_DOCKER_HOST": "unix:///run/docker.sock", **changes})
    line = result.stderr.strip()
    assert result.returncode == 1 and line.startswith(f"install: {message}") and "\n" not in line, line
    assert not (tmp_path / "etc/paas").exists() and not (tmp_path / "etc/systemd/system").exists()


def test_a_worker_and_ingest_workers_share_a_host(tmp_path):
    assert install(tmp_path, "worker", **ENV).returncode == 0
    # The settings file is kept: what the ingest workers need is added to it.
    assert install(tmp_path, "logs-ingest", **INGEST).returncode == 0
    assert install(tmp_path, "worker").returncode == 0
    written = settings(tmp_path)
    assert written["PAAS_LOG_INGEST_TOKEN"] == INGEST["PAAS_LOG_INGEST_TOKEN"] and written["PAAS_API_URL"]
    assert {"paas-agent.service", "paas-worker.target"} | INGEST_UNITS == set(units(tmp_path))
    assert verify(tmp_path).returncode == 0
