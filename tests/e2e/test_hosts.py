"""Two hosts: instances spread over both; when one stops heartbeating its instances move to
the other, and when it comes back its stale instances are stopped, not doubled.

The second host is a second agent with its own data directory, bridge and address pool,
as a second machine would have; killing it is the machine going away."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from paas.platform.actions.apps import create_app
from paas.platform.actions.formation import scale
from paas.platform.models import Host, Instance
from tests.e2e.platform_procs import Processes, start_agent
from tests.e2e.test_deploy import WEB_APP, fetch, release_status
from tests.waiting import wait_for


@pytest.fixture
def second_host(platform_env, e2e_data_dir, live_server, monkeypatch, transactional_db):
    """A second host; it fetches slugs it did not build from the API, with an admin token."""
    from paas.platform.actions.tokens import issue_token
    from tests.platform.conftest import make_user

    # The API (live_server, in this process) serves slugs from the first host's image store.
    monkeypatch.setenv("PAAS_DATA_DIR", platform_env["PAAS_DATA_DIR"])
    monkeypatch.delenv("PAAS_RUNTIME_DIR", raising=False)
    _, admin_token = issue_token(make_user("host-agent", admin=True))
    name = f"e2e-b-{os.getpid()}"
    bridge = f"pb{os.getpid() % 100000}"
    env = {**platform_env, "PAAS_DATA_DIR": str(e2e_data_dir / "host-b"), "PAAS_HOST_NAME": name,
           "PAAS_BRIDGE": bridge, "PAAS_ADDRESS_POOL": f"10.{200 + os.getpid() % 50}.0.0/16",
           # Its own cgroups too: one machine plays two, and instance names repeat across them.
           "PAAS_CGROUP_PARENT": f"paas-b{os.getpid()}",
           "PAAS_API_URL": live_server.url, "PAAS_AGENT_TOKEN": admin_token}
    (e2e_data_dir / "host-b").mkdir(exist_ok=True)
    host = SecondHost(name, env, e2e_data_dir)
    host.start()
    try:
        yield host
    finally:
        host.stop()
        host.clean_up(bridge)


class SecondHost:
    def __init__(self, name: str, env: dict, log_dir: Path):
        self.name, self.env, self.log_dir = name, env, log_dir
        self.procs = None

    def start(self) -> None:
        self.procs = Processes(self.env, self.log_dir)
        start_agent(self.procs)

    def stop(self) -> None:
        self.procs.stop()

    def instances_dir(self) -> Path:
        return Path(self.env["PAAS_DATA_DIR"]) / "runtime" / "instances"

    def running_here(self) -> set[str]:
        directory = self.instances_dir()
        return {p.name for p in directory.iterdir()} if directory.is_dir() else set()

    def clean_up(self, bridge: str) -> None:
        """Stop what runs on this host, then remove its bridge and firewall rules."""
        runner = str(Path(sys.executable).with_name("paas-runner"))
        env = {**os.environ, **self.env}
        from paas.runtime import container

        old = os.environ.copy()
        os.environ.update(self.env)
        try:
            for name in self.running_here():
                try:
                    container.Container.load(name).stop(1.0)
                except Exception:  # already gone: the sweep below removes what is left
                    pass
        finally:
            os.environ.clear()
            os.environ.update(old)
        subprocess.run([runner, "sweep"], env=env, capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)
        for parent in Path("/sys/fs/cgroup").glob(f"*/{self.env['PAAS_CGROUP_PARENT']}"):
            for child in sorted(parent.rglob("*"), reverse=True):
                if child.is_dir():
                    child.rmdir()
            parent.rmdir()
        rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout.splitlines()
        for rule in rules:
            if f" {bridge} " in f"{rule} " and rule.startswith("-A "):
                subprocess.run(["iptables", "-w", "-D", *rule.split()[1:]], capture_output=True)


def test_instances_spread_move_on_host_loss_and_are_not_doubled(pusher, agent_host, second_host, platform_env,
                                                                  tmp_path):
    wait_for(lambda: Host.objects.filter(name=second_host.name, state="up").exists(), 20, "the second host")
    app = create_app(pusher.user, f"hosts-{uuid.uuid4().hex[:8]}")
    repo = pusher.repo(tmp_path / "src", WEB_APP, app.name)
    result = pusher.push(repo)
    assert result.returncode == 0, result.stderr
    scale(pusher.user, app, {"web": {"quantity": 2}})
    running = lambda: Instance.objects.filter(app=app, desired_state="running", state="up")  # noqa: E731
    wait_for(lambda: set(running().values_list("host__name", flat=True)) == {agent_host.name, second_host.name},
             60, "one web instance on each host")
    port, host = int(platform_env["PAAS_ROUTER_PORT"]), f"{app.name}.localhost"
    wait_for(lambda: {fetch(port, host)[1] for _ in range(10)} == {"hello from web.1", "hello from web.2"}, 20,
             "both hosts' instances behind the router")
    moved = running().get(host__name=second_host.name)
    stale = second_host.running_here()

    second_host.procs.stop()  # the machine goes away (its instances keep running, unreachable to us)
    wait_for(lambda: Host.objects.get(name=second_host.name).state == "down", 30, "the host to be marked down")
    wait_for(lambda: running().filter(host__name=agent_host.name).count() == 2, 60,
             "both instances on the remaining host")
    assert Instance.objects.get(pk=moved.pk).host.name == agent_host.name
    wait_for(lambda: fetch(port, host)[0] == 200, 20, "the app served from the remaining host")

    second_host.start()  # back again: what it still runs is no longer its to run
    wait_for(lambda: Host.objects.get(name=second_host.name).state == "up", 30, "the host to be up again")
    wait_for(lambda: not (second_host.running_here() & stale), 30, "its stale instances to be stopped")
    wait_for(lambda: running().count() == 2, 20, "both instances still up on the first host")
    assert set(running().values_list("host__name", flat=True)) == {agent_host.name}
    assert release_status(app, 2) == "succeeded"
