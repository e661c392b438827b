"""The host agent with real containers; the control plane is a small in-memory double at its edge."""

import io
import time
import tarfile
import uuid
from dataclasses import replace

import pytest
import redis as redis_lib

from paas.runtime import config, identity, images, logs
from paas.runtime.agent import Agent, HostInfo
from paas.runtime.container import Container
from paas.runtime.reconcile import Desired

from .conftest import wait_for

APP_ID = 11  # the App primary key the instances of these tests belong to
HOST = HostInfo(name="test-host", address="127.0.0.1", memory_mb=1024, cpus=2)
SERVER = "exec python3 -m http.server $PORT"


class MemoryControlPlane:
    """Desired instances and reports kept in dicts, like the Instance rows would be."""

    def __init__(self):
        self.instances: dict[str, Desired] = {}
        self.reports: dict[str, dict] = {}
        self.registered = []
        self.heartbeats = 0

    def register(self, host):
        self.registered.append(host)

    def heartbeat(self, host):
        self.heartbeats += 1

    def desired(self, host):
        return list(self.instances.values())

    def report(self, name, **fields):
        row = self.reports.setdefault(name, {})
        if fields.pop("restarts_increment", False):
            d = self.instances.get(name)
            if d is not None:
                self.instances[name] = replace(d, restarts=d.restarts + 1, last_exit_at=fields.get("stopped_at"))
        row.update(fields)

    def image_url(self, digest):
        return "http://127.0.0.1:1/unused"


@pytest.fixture
def image(tmp_path):
    buf = tmp_path / "slug.tar"
    with tarfile.open(buf, "w") as tar:
        data = b"#!/bin/sh\necho started $DYNO\nexec sleep 600\n"
        info = tarfile.TarInfo("run.sh")
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return images.put(buf, stack="host", process_types={"web": SERVER, "worker": "./run.sh"})


# The contract both backends pass: the same test, run against each (the `backend` fixture: conftest.py).
BOTH = pytest.mark.parametrize("backend", ["native", "docker"], indirect=True)


@pytest.fixture
def world(image, backend):
    control = MemoryControlPlane()
    client = redis_lib.Redis.from_url(config.redis_url())
    agent = Agent(control, HOST, client, stop_grace=0.5, backend=backend)
    app = f"agentapp-{uuid.uuid4().hex[:8]}"
    names = []

    def want(process="worker.1", of_app=None, **kw):
        name = f"{of_app or app}.{process}.{uuid.uuid4().hex[:4]}"
        names.append(name)
        d = Desired(name=name, app=of_app or app, release="v1", process=process, command=kw.pop("command", ""),
                    image=image.digest, memory_mb=kw.pop("memory_mb", 128), cpus=kw.pop("cpus", 1.0),
                    app_id=kw.pop("app_id", APP_ID), **kw)
        control.instances[name] = d
        return d

    yield control, agent, want, client, app
    for name in names:
        backend.release(name)
        logs.forget(client, name)
    client.delete(logs.stream_key(app))


def test_agent_starts_reports_and_ships_logs(world):
    control, agent, want, client, app = world
    agent.start_up()
    d = want("worker.1")
    agent.reconcile_once()
    assert control.reports[d.name]["state"] == "starting"
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], what="instance up")
    assert control.reports[d.name]["memory_bytes"] > 0
    wait_for(lambda: (agent.ship_logs(), client.xlen(logs.stream_key(app)))[1], what="log line in redis")
    entry = client.xrange(logs.stream_key(app))[0][1]
    assert entry[b"line"] == b"started worker.1" and entry[b"process"] == b"worker.1"


# What an instance finds out about itself and reaches; one line each (the agent ships them to the log stream).
CONFINEMENT = r"""
import os, socket, sys, threading, time
print("uid", os.getuid(), os.getgid())
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print("caps", status["CapEff"].strip(), status["CapBnd"].strip(), "nnp", status["NoNewPrivs"].strip())
for path in ("/", "/app", "/etc", "/usr", "/tmp"):
    try:
        open(os.path.join(path, "probe-written"), "w").close()
        print("writable", path)
    except OSError:
        pass
try:
    for _ in range(400):
        threading.Thread(target=time.sleep, args=(3,), daemon=True).start()
    print("pids unlimited")
except RuntimeError:
    print("pids limited")
route = [line.split() for line in open("/proc/net/route").read().splitlines()[1:]]
gateways = [socket.inet_ntoa(bytes.fromhex(r[2])[::-1]) for r in route if r[1] == "00000000"]
for target in sys.argv[1:] + [f"{g}:{os.environ['LISTENER_PORT']}" for g in gateways]:
    address, _, port = target.rpartition(":")
    try:
        socket.create_connection((address, int(port)), timeout=0.5).close()
        print("reached", target)
    except OSError:
        print("not reached", target)
print("probe done", flush=True)
"""


@BOTH
def test_an_instance_is_confined_and_reaches_nothing_of_the_platform(world, image, tmp_path):
    """The backends' contract: the app's uid, no capabilities, no-new-privileges, no writable system
    directories, the pids limit, no path to the platform's PostgreSQL, Redis, any port of the host or
    another app's instance;
    its output shipped to the app's log stream, its usage reported. (Serving through the router:
    tests/e2e/test_docker_backend.py.)"""
    from tests.netsandbox import Listener, host_addresses

    control, agent, want, client, app = world
    buf = tmp_path / "probe.tar"
    with tarfile.open(buf, "w") as tar:
        info = tarfile.TarInfo("probe.py")
        info.size = len(CONFINEMENT.encode())
        tar.addfile(info, io.BytesIO(CONFINEMENT.encode()))
    probe = images.put(buf, stack="host", process_types={"worker": "python3 probe.py"})
    # Another app's instance on this host, up: its address and $PORT must be out of reach too.
    neighbour = want("web.1", of_app=f"{app}-other", app_id=APP_ID + 1)
    agent.reconcile_once()
    wait_for(lambda: (agent.reconcile_once(), control.reports[neighbour.name]["state"] == "up")[1], timeout=20,
             what="the other app's instance up")
    other = agent.backend.load(neighbour.name).record.network["address"]
    listener = Listener()  # a platform service on every address of the host (the API, a database)
    try:
        targets = ["127.0.0.1:5432", "127.0.0.1:6379", f"{other}:5000",
                   *(f"{a}:{listener.port}" for a in host_addresses())]
        d = want("worker.1", command=f"python3 probe.py {' '.join(targets)}; exec sleep 600",
                 env=(("LISTENER_PORT", str(listener.port)),))
        control.instances[d.name] = d = replace(d, image=probe.digest)
        agent.reconcile_once()
        lines = wait_for(lambda: (agent.ship_logs(), _lines(client, app))[1][-1:] == ["probe done"] and
                         _lines(client, app), timeout=30, what="the probe's report")
        wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], what="instance up")
        assert control.reports[d.name]["memory_bytes"] > 0 and control.reports[d.name]["cpu_seconds"] > 0
    finally:
        listener.close()
    uid = identity.app_uid(APP_ID)
    assert f"uid {uid} {uid}" in lines
    assert "caps 0000000000000000 0000000000000000 nnp 1" in lines
    writable = [line for line in lines if line.startswith("writable")]
    assert "writable /tmp" in writable and "writable /usr" not in writable and "writable /etc" not in writable
    if agent.backend.name == "docker":
        assert writable == ["writable /tmp"]  # a read-only root filesystem
        host_config = agent.backend.api.inspect_container(d.name)["HostConfig"]
        assert (host_config["Memory"], host_config["MemorySwap"]) == (d.memory_mb << 20, d.memory_mb << 20)
        assert (host_config["NanoCpus"], host_config["PidsLimit"]) == (int(d.cpus * 1e9), 256)
        assert host_config["CapDrop"] == ["ALL"] and host_config["SecurityOpt"] == ["no-new-privileges"]
        assert host_config["NetworkMode"] == f"paas-{app}" and not host_config["Privileged"]
    assert "pids limited" in lines
    assert [line for line in lines if line.startswith("reached")] == []
    assert f"not reached {other}:5000" in lines


def test_a_docker_engine_away_fails_that_instance_only_saying_so(image):
    """A start the engine cannot take is that instance's crash (reported, retried with backoff), never
    the agent's pass, and leaves nothing on the host."""
    from paas.runtime.dockerbackend import DockerBackend

    control = MemoryControlPlane()
    agent = Agent(control, HOST, None, stop_grace=0.5, backend=DockerBackend(base_url="unix:///nonexistent/docker.sock"))
    name = f"awayapp.worker.1.{uuid.uuid4().hex[:4]}"
    control.instances[name] = Desired(name=name, app="awayapp", release="v1", process="worker.1", command="",
                                      image=image.digest, memory_mb=128, app_id=APP_ID)
    agent.reconcile_once()
    assert (control.reports[name]["state"], control.reports[name]["exit_code"]) == ("crashed", 125)
    assert control.instances[name].restarts == 1 and not (config.instances_dir() / name).exists()


def _lines(client, app) -> list[str]:
    return [e[b"line"].decode() for _, e in client.xrange(logs.stream_key(app))]


def test_web_instance_is_up_once_it_answers_on_port(world):
    control, agent, want, client, app = world
    d = want("web.1")
    agent.reconcile_once()
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], timeout=20,
             what="web instance answering on $PORT")
    assert control.reports[d.name]["address"].startswith("10.")
    assert control.reports[d.name]["port"] == 5000


# A pre-forking server's master: $PORT bound and accepting, no worker reading requests yet.
LISTENS_ONLY = ("exec python3 -c \"import os, socket, time; s = socket.socket(); "
                "s.bind(('0.0.0.0', int(os.environ['PORT']))); s.listen(); time.sleep(600)\"")


def test_a_web_instance_whose_port_accepts_before_anything_answers_is_not_up(world):
    """Until its server answers a request, an instance stays "starting": no rollout switches traffic
    to it (the port check alone would have called it up; runtime/readiness.py)."""
    from paas.runtime import readiness
    from paas.runtime.agent import local_endpoint

    control, agent, want, client, app = world
    d = want("web.1", command=LISTENS_ONLY)
    agent.reconcile_once()
    address, port = local_endpoint(agent.backend.load(d.name).record.network)
    wait_for(lambda: readiness.port_open(address, port), timeout=20, what="the instance's port accepting")
    for _ in range(3):
        agent.reconcile_once()
        assert control.reports[d.name]["state"] == "starting"


def cpu_cap(name: str) -> float | None:
    """The CPU cap of an instance's cgroup in CPUs, None when it has none."""
    from paas.runtime import cgroups

    cg = Container.load(name).cgroup
    if cgroups.version() == 2:
        quota, period = (cg.path / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    quota = int((cg.dir("cpu") / "cpu.cfs_quota_us").read_text())
    return None if quota < 0 else quota / int((cg.dir("cpu") / "cpu.cfs_period_us").read_text())


def test_a_web_instance_boots_without_its_cpu_cap_and_gets_it_once_it_answers(world):
    control, agent, want, client, app = world
    d = want("web.1", cpus=0.25)
    agent.reconcile_once()
    assert cpu_cap(d.name) is None  # the startup boost: its size's quarter CPU would slow its boot
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], timeout=20,
             what="web instance answering on $PORT")
    assert cpu_cap(d.name) == 0.25
    worker = want("worker.1", cpus=0.25)
    agent.reconcile_once()
    assert cpu_cap(worker.name) == 0.25  # only web instances, which a rollout waits on, are boosted


def test_the_boost_ends_for_an_instance_that_never_answers_and_after_an_agent_restart(world, monkeypatch):
    """A web process that never answers does not keep the host's CPUs: its boost runs out
    (STARTUP_BOOST_S); and an agent that did not start an instance caps it at its first look."""
    import paas.runtime.agent as agent_module

    control, agent, want, client, app = world
    silent = want("web.1", command=LISTENS_ONLY, cpus=0.25)
    agent.reconcile_once()
    agent.reconcile_once()
    assert cpu_cap(silent.name) is None
    monkeypatch.setattr(agent_module, "STARTUP_BOOST_S", 0.0)
    agent.reconcile_once()
    assert cpu_cap(silent.name) == 0.25
    assert control.reports[silent.name]["state"] == "starting"

    monkeypatch.setattr(agent_module, "STARTUP_BOOST_S", 3600.0)
    other = want("web.2", command=LISTENS_ONLY, cpus=0.25)
    agent.reconcile_once()
    assert cpu_cap(other.name) is None
    restarted = Agent(control, HOST, client, stop_grace=0.5, backend=agent.backend)
    restarted.reconcile_once()
    assert cpu_cap(other.name) == 0.25


@BOTH
def test_instances_survive_an_agent_restart(world):
    control, agent, want, client, app = world
    d = want("worker.1")
    agent.reconcile_once()
    first = agent.backend.load(d.name)
    pid = first.record.pid
    # A new agent (the old one is simply gone) adopts the container instead of restarting it.
    newcomer = Agent(control, HOST, client, stop_grace=0.5, backend=agent.backend)
    newcomer.start_up()
    actions = newcomer.reconcile_once()
    assert [a.kind for a in actions if a.name == d.name] == ["observe"]
    assert agent.backend.load(d.name).record.pid == pid and agent.backend.load(d.name).is_running()


def running(pid: int) -> bool:
    """Alive and not a zombie (PID 1 of a stopped container may wait for its reaper)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] not in ("Z", "X")


def test_a_platform_shutdown_stops_every_instance_and_the_next_agent_starts_them(world):
    control, agent, want, client, app = world
    first, second = want("worker.1"), want("worker.2")
    agent.reconcile_once()
    pids = [Container.load(d.name).record.pid for d in (first, second)]
    assert agent.stop_everything() == 2
    for d, pid in zip((first, second), pids):
        assert control.reports[d.name]["state"] == "stopped"
        assert not running(pid)
    # Desired state was left alone: the next agent (the next `make up`) starts them again.
    newcomer = Agent(control, HOST, client, stop_grace=0.5)
    newcomer.start_up()
    assert sorted(a.kind for a in newcomer.reconcile_once()) == ["start", "start"]


@BOTH
def test_crash_is_reported_and_restarted_with_backoff(world):
    control, agent, want, client, app = world
    d = want("worker.1", command="echo boom; exit 3")
    agent.reconcile_once()
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name].get("exit_code") == 3)[1], what="crash seen")
    assert control.reports[d.name]["state"] == "crashed"
    assert control.instances[d.name].restarts == 1
    # The next start waits for the backoff, then happens.
    crashed_at = control.instances[d.name].last_exit_at
    assert [a.kind for a in agent.reconcile_once(now=crashed_at + 0.1) if a.name == d.name] == []
    assert [a.kind for a in agent.reconcile_once(now=crashed_at + 1.0) if a.name == d.name] == ["start"]


@BOTH
def test_oom_kill_is_reported(world):
    control, agent, want, client, app = world
    hog = "exec python3 -c 'b = []\nwhile True: b.append(bytearray(4 << 20))'"
    d = want("worker.1", command=hog, memory_mb=48)
    agent.reconcile_once()
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name].get("state") == "oom-killed")[1],
             timeout=30, what="oom-killed reported")
    assert control.reports[d.name]["exit_code"] == 137


@BOTH
def test_undesired_instances_are_stopped_and_removed(world):
    control, agent, want, client, app = world
    d = want("worker.1")
    agent.reconcile_once()
    assert agent.backend.load(d.name).is_running()
    del control.instances[d.name]
    agent.reconcile_once()
    assert control.reports[d.name]["state"] == "stopped"
    assert not (config.instances_dir() / d.name).exists()


@BOTH
def test_a_host_with_a_routable_address_publishes_web_instances(world):
    """Routers on other machines reach the instance at the host's address and a published port."""
    from tests.hostnet import OtherHost

    control, agent, want, client, app = world
    router_machine = OtherHost("router").create()
    try:
        agent.host = replace(HOST, address=router_machine.our_address)  # this host, as the other one sees it
        d = want("web.1")
        wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], timeout=20,
                 what="web instance up")
        address, port = control.reports[d.name]["address"], control.reports[d.name]["port"]
        assert address == router_machine.our_address and port != 5000
        fetched = router_machine.run("curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                     f"http://{address}:{port}/")
        assert fetched.stdout == "200"
    finally:
        router_machine.remove()


def test_host_network_instances_get_ports_of_their_own(world, monkeypatch):
    from paas.runtime import ports

    monkeypatch.setenv("PAAS_INSTANCE_NETWORK", "host")
    control, agent, want, client, app = world
    first, second = want("web.1"), want("web.2")
    wait_for(lambda: (agent.reconcile_once(),
                      all(control.reports[d.name]["state"] == "up" for d in (first, second)))[1], timeout=20,
             what="both host-network instances up")
    a, b = (control.reports[d.name] for d in (first, second))
    assert a["address"] == b["address"] == "127.0.0.1"
    assert a["port"] != b["port"] and {first.name, second.name} <= ports.owners()
    del control.instances[first.name]
    wait_for(lambda: (agent.reconcile_once(), control.reports[first.name]["state"] == "stopped")[1],
             what="the first instance stopped")
    assert first.name not in ports.owners()


def test_endpoints_routers_and_checks_use():
    from paas.runtime.agent import endpoint, local_endpoint, publishes

    bridge = {"mode": "bridge", "address": "10.213.0.7", "port": 0, "host_port": 0}
    published = {**bridge, "port": 5000, "host_port": 20004}
    host_mode = {"mode": "host", "port": 20009}
    remote = replace(HOST, address="192.0.2.10")
    assert endpoint(bridge, HOST) == ("10.213.0.7", 5000)
    assert endpoint(published, remote) == ("192.0.2.10", 20004)
    assert endpoint(host_mode, remote) == ("192.0.2.10", 20009)
    assert local_endpoint(published) == ("10.213.0.7", 5000)
    assert local_endpoint(host_mode) == ("127.0.0.1", 20009)
    assert not publishes(HOST) and publishes(remote) and publishes(replace(HOST, address="node-2.internal"))


def test_a_leftover_of_the_same_instance_does_not_take_its_new_port_with_it(world, monkeypatch):
    from paas.runtime import ports
    from paas.runtime.container import instance_dir

    monkeypatch.setenv("PAAS_INSTANCE_NETWORK", "host")
    control, agent, want, client, app = world
    d = want("web.1")
    instance_dir(d.name).mkdir(parents=True)  # what a crashed earlier run left
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], timeout=20,
             what="the instance up")
    assert d.name in ports.owners()
    assert control.reports[d.name]["port"] == ports.allocate(d.name)  # still its lease, not a free port


def _uid_of(c: Container) -> int:
    """The real uid of the container's app process (its PID 1 is the platform's init), from the host."""
    def find():
        for pid in c.cgroup.pids() - {c.record.pid}:
            try:
                status = open(f"/proc/{pid}/status").read()
            except FileNotFoundError:
                continue
            return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
        return None
    return wait_for(find, what=f"the app process of {c.id}")


def test_instances_started_before_per_app_uids_are_adopted_then_replaced_by_the_apps_uid(world, image):
    """An upgraded agent keeps an instance that runs as the old shared uid 10000 on a layer of the old
    form; once that instance ends, its restart runs as the app's own uid."""
    import json

    from paas.runtime.launch import process_argv
    from paas.runtime import identity, stacks
    from paas.runtime.agent import MARKER
    from paas.runtime.container import create
    from paas.runtime.spec import ContainerSpec, Limits

    control, agent, want, client, app = world
    d = want("worker.1")
    control.instances.pop(d.name)  # started by hand first, as the agent before the change did
    legacy = config.images_dir() / "layers" / image.digest[7:]
    if not legacy.is_dir():
        images._unpack(images.blob_path(image.digest), legacy, 10000)
    stack = stacks.get("host")
    old = create(ContainerSpec(command=tuple(process_argv("./run.sh")), layers=(legacy, *stack.layers),
                               binds=stack.binds, env=(("HOME", "/app"), ("DYNO", "worker.1")), workdir="/app",
                               user="app", network="bridge", limits=Limits(memory=128 << 20, cpus=1.0), id=d.name,
                               app=app, release="v1", process="worker.1", stop_grace=0.5))
    (old.dir / MARKER).write_text(json.dumps({"fingerprint": d.fingerprint}))
    old.start()
    assert _uid_of(old) == 10000

    control.instances[d.name] = d
    actions = agent.reconcile_once()
    assert [a.kind for a in actions if a.name == d.name] == ["observe"]
    assert Container.load(d.name).record.pid == old.record.pid and _uid_of(Container.load(d.name)) == 10000

    old.signal(9)
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name].get("state") == "crashed")[1],
             what="the old instance's end reported")
    wait_for(lambda: (agent.reconcile_once(now=time.time() + 5),
                      Container.load(d.name).is_running() if (config.instances_dir() / d.name).exists() else False)[1],
             what="the restart")
    assert _uid_of(Container.load(d.name)) == identity.app_uid(APP_ID)


def relayed_output(client, out_key: str) -> tuple[bytes, bool]:
    """What an attached run's relay has put on its output stream, and whether the end marker is there."""
    import base64

    data, ended = b"", False
    for _, fields in client.xrange(out_key):
        data += base64.b64decode(fields[b"data"]) if b"data" in fields else b""
        ended = ended or b"eof" in fields
    return data, ended


def attached_run(world, attach: str, command: str, *events: dict, when: tuple[bytes, dict] | None = None):
    """A one-off attached to its Redis streams (`paas run`), the `events` sent as the CLI sends them (and
    `when`'s event once its output shows `when`'s text), run to its end by the agent and its relay:
    (its output, the agent's last report)."""
    from paas.contracts import redis_keys
    from paas.runtime import attach as attach_streams

    control, agent, want, client, app = world
    d = want("run.1", command=command, once=True, attach=attach)
    in_key, out_key = attach_streams.keys(redis_keys.prefix(), d.name)
    try:
        for event in events:
            client.xadd(in_key, event)
        agent.reconcile_once()
        if when is not None:
            wait_for(lambda: when[0] in relayed_output(client, out_key)[0], timeout=60, what=f"{when[0]!r} shown")
            client.xadd(in_key, when[1])
        data, _ = wait_for(lambda: (r := relayed_output(client, out_key))[1] and r, timeout=60,
                           what="the run's output to end")
        wait_for(lambda: (agent.reconcile_once(), control.reports[d.name].get("state") == "stopped")[1],
                 timeout=30, what="the run's end reported")
        return data, control.reports[d.name]
    finally:
        client.delete(in_key, out_key)


@BOTH
def test_an_attached_piped_run_takes_its_input_and_gives_output_and_exit_code(world):
    """The backends' contract for `paas run` without a terminal: stdin to its end, stdout and stderr, the exit code."""
    import base64

    command = "read line; echo got $line; echo on-stderr >&2; cat >/dev/null; echo input ended; exit 3"
    data, report = attached_run(world, "pipe", command, {"data": base64.b64encode(b"hello\nmore\n")}, {"eof": "1"})
    lines = data.decode().splitlines()  # (stderr's line may come anywhere: the engine copies each stream apart)
    assert sorted(lines) == ["got hello", "input ended", "on-stderr"] and lines.index("got hello") < lines.index(
        "input ended")
    assert report["exit_code"] == 3 and report["desired_state"] == "stopped"


@BOTH
def test_an_attached_terminal_run_gets_its_window_size_and_ctrl_c(world):
    """...and with a terminal: the window's size as the CLI reports it, keystrokes, Ctrl-C reaching the app."""
    import base64

    command = ("read go; stty size; trap 'echo interrupted; exit 130' INT; echo waiting; "
               "while :; do sleep 0.1; done")
    data, report = attached_run(world, "tty", command, {"resize": "30,100"}, {"data": base64.b64encode(b"go\r")},
                                when=(b"waiting", {"signal": "INT"}))
    lines = data.decode().replace("\r", "").splitlines()
    assert lines[-3:] == ["30 100", "waiting", "interrupted"], data
    assert report["exit_code"] == 130
