"""make up's registry of the Docker engine's builds (compose/up.py build_registry): started where an engine
is named, the password in the build worker's environment alone, the registry given only its hash."""

import base64
import subprocess
import urllib.error
import urllib.request

import pytest

from paas.buildpacks import buildregistry
from paas.compose import up
from paas.compose.backing import ServiceError
from tests.e2e.platform_procs import free_port, wait_for_port


def status(address: str, login: tuple[str, str] | None) -> int:
    request = urllib.request.Request(f"http://{address}/v2/")
    if login:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(login).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_make_up_runs_the_build_registry_where_an_engine_is_named(tmp_path, monkeypatch):
    env = {"PAAS_DATA_DIR": str(tmp_path), "PAAS_BUILD_DOCKER_HOST": "unix:///run/builds.sock",
           "PAAS_BUILD_REGISTRY_PORT": str(free_port()), "DATABASE_URL": "postgres://x", "REDIS_URL": "redis://x"}
    assert up.build_registry({**env, "PAAS_BUILD_DOCKER_HOST": ""}) is None
    assert up.build_registry({**env, "PAAS_BUILD_REGISTRY": "127.0.0.1:5000"}) is None  # the operator's own
    with pytest.raises(ServiceError, match="PAAS_BUILD_REGISTRY_PORT='x1' is not a port number"):
        up.build_registry({**env, "PAAS_BUILD_REGISTRY_PORT": "x1"})
    program, builds_env = up.build_registry(env)
    password = builds_env["PAAS_BUILD_REGISTRY_PASSWORD"]
    assert (tmp_path / "credentials" / "build-registry").stat().st_mode & 0o777 == 0o600
    root = tmp_path / "build-registry"
    assert builds_env["PAAS_BUILD_REGISTRY_DIR"] == str(root)
    assert password not in " ".join(program.argv) and password not in (root / "config.yml").read_text()
    assert password not in (root / "htpasswd").read_text() and "DATABASE_URL" not in program.env
    assert all((root / name).stat().st_mode & 0o777 == 0o600 for name in ("config.yml", "htpasswd"))
    assert password not in str(program.env.values())
    address = builds_env["PAAS_BUILD_REGISTRY"]
    server = subprocess.Popen(program.argv, env=program.env, cwd=program.cwd, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        wait_for_port(int(address.rsplit(":", 1)[1]), server, "docker-registry", timeout=30)
        for name, value in builds_env.items():
            monkeypatch.setenv(name, value)
        registry = buildregistry.from_env()
        assert registry.address == address and registry.root == root
        assert status(address, (registry.login.username, registry.login.secret)) == 200
        assert status(address, None) == 401 and status(address, (buildregistry.USER, "wrong")) == 401
        # A second start keeps the password (and the blobs) of the first.
        assert up.build_registry(env)[1]["PAAS_BUILD_REGISTRY_PASSWORD"] == password
    finally:
        server.kill()
        server.wait()


def test_a_build_registry_setting_that_cannot_be_used_is_named(monkeypatch):
    from paas.buildpacks.errors import BuildError

    monkeypatch.setenv("PAAS_BUILD_REGISTRY", "registry.example:5000")
    with pytest.raises(BuildError, match="must be on loopback"):
        buildregistry.from_env()
    monkeypatch.setenv("PAAS_BUILD_REGISTRY", "127.0.0.1:5000")
    monkeypatch.delenv("PAAS_BUILD_REGISTRY_PASSWORD", raising=False)
    with pytest.raises(BuildError, match="PAAS_BUILD_REGISTRY_PASSWORD is not"):
        buildregistry.from_env()
    monkeypatch.setenv("PAAS_BUILD_REGISTRY", "not a registry/")
    with pytest.raises(BuildError, match="PAAS_BUILD_REGISTRY: 'not a registry/' is not a registry address"):
        buildregistry.from_env()
