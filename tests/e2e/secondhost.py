"""A second machine for the end-to-end tests: a network namespace joined to this one by a veth pair, with
its own address, bridge, firewall, data directory and cgroups, running an agent of its own. Its agent reaches
the control plane's PostgreSQL, Redis and API over that link (relays on our side of it)."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.platform_procs import BIN, Processes
from tests.hostnet import OtherHost, Relay


def _through(relays: list, url: str, address: str) -> str:
    """`url` with its host and port replaced by a relay to it on `address`."""
    parts = urlsplit(url)
    relay = Relay(address, parts.port)
    relays.append(relay)
    netloc = f"{parts.netloc.rpartition('@')[0]}@" if "@" in parts.netloc else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}{address}:{relay.port}"))


@pytest.fixture
def second_host(platform_env, e2e_data_dir, live_server, monkeypatch, transactional_db):
    """A second machine; it fetches slugs it did not build from the API, with an admin token."""
    from paas.platform.actions.tokens import issue_token
    from tests.platform.accounts import make_user

    # The API (live_server, in this process) serves slugs from the first host's image store.
    monkeypatch.setenv("PAAS_DATA_DIR", platform_env["PAAS_DATA_DIR"])
    monkeypatch.delenv("PAAS_RUNTIME_DIR", raising=False)
    _, admin_token = issue_token(make_user("host-agent", admin=True))
    machine = OtherHost("hostb").create()
    relays: list[Relay] = []
    try:
        gateway = machine.our_address
        env = {**platform_env, "PAAS_DATA_DIR": str(e2e_data_dir / "host-b"), "PAAS_HOST_NAME": machine.name,
               "PAAS_HOST_ADDRESS": machine.address,
               "DATABASE_URL": _through(relays, platform_env["DATABASE_URL"], gateway),
               "REDIS_URL": _through(relays, platform_env["REDIS_URL"], gateway),
               "PAAS_API_URL": _through(relays, live_server.url, gateway),
               # Cgroups are the one thing the two "machines" share: a parent of its own.
               "PAAS_CGROUP_PARENT": f"paas-b{os.getpid()}", "PAAS_AGENT_TOKEN": admin_token}
        (e2e_data_dir / "host-b").mkdir(exist_ok=True)
        host = SecondHost(machine, env, e2e_data_dir)
        host.start()
        try:
            yield host
        finally:
            host.stop()
            host.clean_up()
    finally:
        for relay in relays:
            relay.close()
        machine.remove()


class SecondHost:
    def __init__(self, machine: OtherHost, env: dict, log_dir: Path):
        self.machine, self.env, self.log_dir = machine, env, log_dir
        self.name = machine.name
        self.procs = None

    def start(self) -> None:
        self.procs = Processes(self.env, self.log_dir)
        self.procs.start("agent-b", self.machine.argv(str(BIN / "paas-agent"), "--interval", "0.3"))

    def stop(self) -> None:
        self.procs.stop()

    def instances_dir(self) -> Path:
        return Path(self.env["PAAS_DATA_DIR"]) / "runtime" / "instances"

    def running_here(self) -> set[str]:
        directory = self.instances_dir()
        return {p.name for p in directory.iterdir()} if directory.is_dir() else set()

    def clean_up(self) -> None:
        """Stop what runs on this machine and sweep it; removing the namespace takes its network."""
        from paas.runtime import container

        old = os.environ.copy()
        os.environ.update(self.env)  # the runtime reads its data dir from the environment on each call
        try:
            for name in self.running_here():
                try:
                    container.Container.load(name).stop(1.0)
                except Exception:  # already gone: the sweep below removes what is left
                    pass
        finally:
            os.environ.clear()
            os.environ.update(old)
        runner = str(Path(sys.executable).with_name("paas-runner"))
        subprocess.run(self.machine.argv(runner, "sweep"), env={**os.environ, **self.env}, capture_output=True)
        for parent in Path("/sys/fs/cgroup").glob(f"*/{self.env['PAAS_CGROUP_PARENT']}"):
            for child in sorted(parent.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir()
            parent.rmdir()
