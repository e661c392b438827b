"""A docker-registry on loopback seeded with images made from a platform stack (a fixture plugin).

Debian's docker-registry serves them; the host's buildah (as root, storage of its own) pushes
``paas/base:1`` (the host stack's root filesystem plus a shell: dash and its libc, no command) and
``paas/probe:1`` (that base plus the static probe serving HTTP: tests/runtime/data/probe.c).
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from paas.runtime import stacks
from tests.runtime import imagearchives

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_rootfs(dest: Path) -> Path:
    """The host stack's root filesystem with a shell: what a platform stack gives a base image."""
    shutil.copytree(stacks.get("host").layers[0], dest, symlinks=True)
    for source, target in (("/bin/dash", "usr/bin/sh"), ("/lib/x86_64-linux-gnu/libc.so.6", "usr/lib/libc.so.6"),
                           ("/lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2")):
        (dest / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(os.path.realpath(source), dest / target)
    (dest / "etc" / "ld.so.conf").write_text("/usr/lib\n")
    return dest


@pytest.fixture(scope="session")
def seeded_registry(tmp_path_factory):
    """A docker-registry on loopback holding paas/base:1; its address. Stopped and removed after."""
    root = tmp_path_factory.mktemp("registry")
    port = free_port()
    conf = root / "config.yml"
    conf.write_text(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                    f"http:\n  addr: 127.0.0.1:{port}\nlog:\n  level: error\n")
    server = subprocess.Popen(["docker-registry", "serve", str(conf)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    store = ["--storage-driver", "vfs", "--root", str(root / "storage"), "--runroot", str(root / "run")]
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "docker-registry did not start"
            time.sleep(0.05)
        rootfs = base_rootfs(root / "rootfs")
        run = lambda *args: subprocess.run(["buildah", *store, *args], check=True, capture_output=True,  # noqa: E731
                                           text=True).stdout.strip()
        working = run("from", "scratch")
        run("copy", working, f"{rootfs}/", "/")
        run("config", "--env", "PATH=/usr/bin:/bin", working)
        run("commit", "--format", "oci", working, "paas/base:1")
        run("push", "--tls-verify=false", "paas/base:1", f"docker://127.0.0.1:{port}/paas/base:1")
        run("rm", working)
        probe = root / "probe"
        probe.write_bytes(imagearchives.probe_binary())
        probe.chmod(0o755)
        working = run("from", "paas/base:1")
        run("copy", working, str(probe), "/usr/bin/probe")
        run("config", "--entrypoint", '["/usr/bin/probe"]', "--cmd", "serve", "--port", "7000", working)
        run("commit", "--format", "oci", working, "paas/probe:1")
        run("push", "--tls-verify=false", "paas/probe:1", f"docker://127.0.0.1:{port}/paas/probe:1")
        run("rm", working)
        yield f"127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["buildah", *store, "rm", "--all"], capture_output=True)
        subprocess.run(["buildah", *store, "rmi", "--all", "--force"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def allow_registry(seeded_registry, monkeypatch):
    monkeypatch.setenv("PAAS_REGISTRY_ALLOW", seeded_registry)
    monkeypatch.setenv("PAAS_REGISTRY_INSECURE", seeded_registry)
    return seeded_registry
