"""A docker-registry on loopback seeded with images made from a platform stack (a fixture plugin).

Debian's docker-registry serves them; the host's buildah (as root, storage of its own) pushes
``paas/base:1`` (the host stack's root filesystem plus a shell: dash and its libc, no command) and
``paas/probe:1`` (that base plus the static probe serving HTTP: tests/runtime/data/probe.c).
"""

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from paas.buildpacks import buildregistry
from paas.runtime import stacks
from paas.runtime.registry import Login
from tests.e2e.platform_procs import dies_with_tests, free_port, wait_for_port
from tests.runtime import imagearchives

def base_rootfs(dest: Path) -> Path:
    """The host stack's root filesystem with a shell: what a platform stack gives a base image."""
    shutil.copytree(stacks.get("host").layers[0], dest, symlinks=True)
    for source, target in (("/bin/dash", "usr/bin/sh"), ("/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/libc.so.6"),
                           ("/lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2")):
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(source), dest / target)
    (dest / "etc" / "ld.so.conf").write_text("/usr/lib\n")
    return dest


def serve(root: Path, htpasswd: Path | None = None, data: Path | None = None) -> tuple[subprocess.Popen, str]:
    """docker-registry on a free loopback port storing under `data` (default root/data; basic auth when
    `htpasswd` is given); the process and its address once it listens. The caller stops it."""
    port = free_port()
    auth = (f"auth:\n  htpasswd:\n    realm: paas-tests\n    path: {htpasswd}\n" if htpasswd else "")
    conf = root / "config.yml"
    conf.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {data or root / 'data'}\n"
                    f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n{auth}")
    server = subprocess.Popen(["docker-registry", "serve", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, preexec_fn=dies_with_tests)
    try:
        wait_for_port(port, server, "docker-registry", timeout=30)
    except RuntimeError:
        server.kill()
        server.wait()
        raise
    return server, f"127.0.0.1:{port}"


class Seeder:
    """The host's buildah (as root, with storage of its own under `root`) making images and pushing them."""

    def __init__(self, root: Path):
        self.root = root
        self.store = ["--storage-driver", "vfs", "--root", str(root / "storage"), "--runroot", str(root / "run")]

    def run(self, *args: str) -> str:
        return subprocess.run(["buildah", *self.store, *args], check=True, capture_output=True,
                              text=True).stdout.strip()

    def image(self, name: str, address: str, *, base: str = "scratch", copies=(), config=(), ignore=()) -> None:
        """Image `name` from `base` plus `copies` ((source, destination) pairs; in directories, paths
        matching `ignore` patterns are left out) and buildah `config` flags, pushed to the registry at `address`."""
        working = self.run("from", base)
        ignore_file = self.root / "containerignore"
        ignore_file.write_text("".join(f"{pattern}\n" for pattern in ignore))
        for source, destination in copies:
            context = ["--contextdir", str(source), "--ignorefile", str(ignore_file)] if Path(source).is_dir() else []
            self.run("copy", *context, working, str(source), destination)
        if config:
            self.run("config", *config, working)
        self.run("commit", "--format", "oci", working, name)
        self.run("push", "--tls-verify=false", name, f"docker://{address}/{name}")
        self.run("rm", working)

    def clean(self) -> None:
        subprocess.run(["buildah", *self.store, "rm", "--all"], capture_output=True)
        subprocess.run(["buildah", *self.store, "rmi", "--all", "--force"], capture_output=True)


@pytest.fixture(scope="session")
def seeded_registry(seeded_registry_root):
    """A docker-registry on loopback holding paas/base:1 and paas/probe:1; its address."""
    return seeded_registry_root[1]


@pytest.fixture(scope="session")
def seeded_registry_root(tmp_path_factory):
    """(its storage root, its address): the seeded registry. Stopped and removed after."""
    root = tmp_path_factory.mktemp("registry")
    seeder, server = Seeder(root), None
    try:
        server, address = serve(root)
        rootfs = base_rootfs(root / "rootfs")
        seeder.image("paas/base:1", address, copies=[(f"{rootfs}/", "/")], config=["--env", "PATH=/usr/bin:/bin"])
        probe = root / "probe"
        probe.write_bytes(imagearchives.probe_binary())
        probe.chmod(0o755)
        seeder.image("paas/probe:1", address, base="paas/base:1", copies=[(probe, "/usr/bin/probe")],
                     config=["--entrypoint", '["/usr/bin/probe"]', "--cmd", "serve", "--port", "7000"])
        yield root, address
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        seeder.clean()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def allow_registry(seeded_registry, monkeypatch):
    monkeypatch.setenv("PAAS_REGISTRY_ALLOW", seeded_registry)
    monkeypatch.setenv("PAAS_REGISTRY_INSECURE", seeded_registry)
    return seeded_registry


LOGIN = ("paas-puller", "pull-secret-1")


@pytest.fixture(scope="session")
def login_registry(seeded_registry_root, tmp_path_factory):
    """A second docker-registry over the seeded one's storage that asks for a login (htpasswd: LOGIN);
    its address. Stopped and removed after."""
    root = tmp_path_factory.mktemp("login-registry")
    htpasswd = root / "htpasswd"
    htpasswd.write_text(buildregistry.htpasswd_line(*LOGIN))
    server = None
    try:
        server, address = serve(root, htpasswd, data=seeded_registry_root[0] / "data")
        yield address
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def allow_login_registry(login_registry, monkeypatch):
    monkeypatch.setenv("PAAS_REGISTRY_ALLOW", login_registry)
    monkeypatch.setenv("PAAS_REGISTRY_INSECURE", login_registry)
    return login_registry


@contextlib.contextmanager
def running_build_registry(root: Path):
    """The registry of the Docker engine's builds as the platform starts it (buildpacks/buildregistry.py's
    config and command line) on a free loopback port under `root`: its BuildRegistry while the block runs.
    Stopped and removed after."""
    address, password = f"127.0.0.1:{free_port()}", os.urandom(16).hex()
    server = subprocess.Popen(buildregistry.argv(buildregistry.write_config(root, address, password)),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=dies_with_tests)
    try:
        wait_for_port(int(address.rsplit(":", 1)[1]), server, "docker-registry", timeout=30)
        yield buildregistry.BuildRegistry(address, Login(buildregistry.USER, password), root)
    finally:
        server.kill()
        server.wait()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def build_registry(tmp_path_factory):
    """A build registry (running_build_registry) for the session."""
    with running_build_registry(tmp_path_factory.mktemp("build-registry")) as registry:
        yield registry
