"""One Docker engine per test session (Debian's dockerd), with everything of its own under a temp dir.

How it runs, so it does not break the host's networking for the native runner: ``--iptables=false``
(and no ip6tables, ip-forward, ip-masq changes, no default docker0 bridge). By default dockerd sets
the FORWARD policy to DROP, inserts its DOCKER-* chains ahead of everyone's and adds a MASQUERADE of
its own; the platform owns the firewall instead, and the docker backend installs the same rules for
its bridges (PAAS_DOCKER_BRIDGE+, PAAS_DOCKER_POOL) as the native runner does for its own
(runtime/firewall.py), removed again at the end. Its data root, exec root (containerd's too),
pidfile and socket are under one temp dir, gone after the session with its containers, networks
and mounts.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from paas.runtime import config


def dockerd_argv(root: Path) -> list[str]:
    # Not the host's /etc/docker/daemon.json; the engine's identity key in the temp dir, not /etc/docker/key.json.
    (root / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(root / "key.json")}))
    return ["dockerd", "--config-file", str(root / "daemon.json"), "--data-root", str(root / "data"),
            "--exec-root", str(root / "exec"), "--pidfile", str(root / "dockerd.pid"),
            "-H", f"unix://{root / 'docker.sock'}", "--iptables=false", "--ip6tables=false",
            "--ip-forward=false", "--ip-masq=false", "--bridge=none",
            "--default-address-pool", f"base={config.docker_pool()},size=24", "--log-level", "warn"]


def _wait_ready(url: str, proc, log: Path):
    """The engine's client once it answers (its API version asked: "auto")."""
    import docker

    deadline = time.monotonic() + 90
    while True:
        try:
            return docker.APIClient(base_url=url, version="auto", timeout=120)
        except (docker.errors.DockerException, OSError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"dockerd did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def dockerd():
    """The socket URL of a Docker engine started for this session (and stopped after it)."""
    if shutil.which("dockerd") is None:
        pytest.fail("dockerd is not installed (compose/bootstrap.sh installs docker.io)")
    with engine() as url:
        yield url


@contextlib.contextmanager
def engine():
    """A Docker engine of its own (as above) while the block runs: its socket URL. Stopped and removed after,
    also on failure (bench/deploy.py's engine builds use it too)."""
    root = Path(tempfile.mkdtemp(prefix="pd-", dir="/tmp"))  # short: socket paths hold 107 bytes
    log = root / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(dockerd_argv(root), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"unix://{root / 'docker.sock'}"
    api = None
    try:
        api = _wait_ready(url, proc, log)
        yield url
    finally:
        _stop(api, proc, root)


def _stop(api, proc, root: Path) -> None:
    from paas.runtime import dns, dockerdns, dockeregress, firewall

    try:
        for c in api.containers(all=True, quiet=True) if api else ():
            api.remove_container(c["Id"], force=True)
        for net in api.networks() if api else ():
            if net["Name"] not in ("bridge", "host", "none"):
                api.remove_network(net["Id"])
    except Exception:
        pass  # the engine is going anyway; its mounts are undone below
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(str(root))]
    for mount in sorted(mounts, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    dockeregress.remove_chain()
    dockerdns.remove_chain()
    for pid_file in dns.pid_file(config.docker_bridge()).parent.glob(f"dns-{config.docker_bridge()}*.pid"):
        dns.remove(pid_file.name.split("-")[1])  # the forwarders of networks left behind
    firewall.remove_rules(bridge=config.docker_bridge(), pool=config.docker_pool())


def docker_cli(url: str, *args: str) -> str:
    """The docker CLI (as a user runs it) against the engine at `url`; its output, or the test fails."""
    result = subprocess.run(["docker", "-H", url, *args], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout.strip()


def http_body(url: str) -> str:
    """The body at `url`, or "" while nothing answers there."""
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.read().decode()
    except OSError:
        return ""


def answer_of_docker_run(url: str, tag: str, *options: str, port: int = 5000) -> str:
    """What `docker run -d [options] tag`, on a network of its own, answers on `port`; the container,
    the network and the image are removed after."""
    from tests.waiting import wait_for

    network = f"run-{os.urandom(4).hex()}"
    docker_cli(url, "network", "create", network)
    container = ""
    try:
        container = docker_cli(url, "run", "-d", "--network", network, *options, tag)
        address = docker_cli(url, "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                             container)
        return wait_for(lambda: http_body(f"http://{address}:{port}/"), 20, f"{tag} under docker run")
    finally:
        if container:
            subprocess.run(["docker", "-H", url, "rm", "-f", container], capture_output=True)
        subprocess.run(["docker", "-H", url, "network", "rm", network], capture_output=True)
        subprocess.run(["docker", "-H", url, "rmi", "-f", tag], capture_output=True)
