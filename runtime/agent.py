"""The host agent: keeps the instances the control plane assigns to this host running.

One loop, level-triggered: read the desired instances, look at the containers
on this host, ``reconcile.decide`` what to do, do it, report, ship logs,
heartbeat. Containers are plain processes in their own namespaces and cgroups,
so an agent restart does not touch them: the new agent finds them again from
their directories (``agent.json`` marks the ones it manages).

Run it with ``paas-agent`` (paas.platform.hostagent: the entry point hands
the agent its control plane, the Django models; the runtime never imports
them).
"""

import argparse
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol

from paas.contracts import redis_keys

from . import addonnet, backend as backends, config, identity, imageconfig, imagefetch, images, logs, ports, readiness, stacks, sweep, trust, volumes
from .container import Container, instance_dir
from .errors import RuntimeLayerError, SpecError, StateError
from .launch import process_argv
from .reconcile import Action, Actual, Desired, decide
from .rootview import RootView
from .sleep import Sleeper
from .spec import ContainerSpec, Limits, Mount
from .warmrelay import WarmRelay
from .state import State

log = logging.getLogger("paas.agent")
DEFAULT_PORT = 5000
MARKER = "agent.json"


@dataclass(frozen=True)
class HostInfo:
    name: str
    address: str
    memory_mb: int
    cpus: float
    stacks: tuple[str, ...] = ()  # what placement may send here (stacks.available), reported at each heartbeat


class ControlPlane(Protocol):
    """What the agent needs from Platform Control (paas.platform.hostagent.DjangoControlPlane)."""

    def register(self, host: HostInfo) -> None: ...
    def heartbeat(self, host: HostInfo) -> None: ...
    def desired(self, host: HostInfo) -> list[Desired]: ...
    def report(self, name: str, **fields) -> None: ...
    def image_url(self, digest: str) -> str: ...


def host_info() -> HostInfo:
    """This host's name and capacity, from the settings or the machine itself."""
    return HostInfo(name=config.host_name(), address=config.host_address(),
                    memory_mb=config.host_memory_mb(), cpus=config.host_cpus())


def spec_for(d: Desired, *, stop_grace: float | None = None, publish: bool = False) -> ContainerSpec:
    """The converter: an instance as the platform sees it -> the runner's ContainerSpec.

    `publish`: other hosts' routers must reach the instance, so a bridge
    instance's $PORT is published on a host port. In host mode every instance
    gets a port of its own from the publish range as $PORT.

    Every instance and one-off of an app runs as the app's own host uid
    (identity.app_uid), named ``app`` in its /etc/passwd, on a layer of the
    image owned by that uid.
    """
    if not d.image:
        return addon_spec(d, stop_grace=stop_grace)
    uid = identity.app_uid(d.app_id)
    image = images.get(d.image)
    if image.is_oci:
        return oci_spec_for(d, image, uid, stop_grace=stop_grace, publish=publish)
    stack = stacks.get(image.stack or d.stack)
    mode = config.instance_network()
    port = ports.allocate(d.name) if mode == "host" else DEFAULT_PORT
    env = {"PORT": str(port), "HOME": "/app", "DYNO": d.process, "PS": d.process, **tty_env(d)}
    env.update(image.env)
    env.update(dict(d.env))
    command = d.command or image.process_types.get(d.process.split(".")[0], "")
    return ContainerSpec(
        # Procfile commands are shell command lines, as on Heroku, run after the
        # slug's .profile.d scripts (third-party buildpacks set PATH and more there).
        command=tuple(process_argv(command)),
        layers=(images.layer(d.image, uid=uid), *stack.layers),
        binds=stack.binds,
        env=tuple(env.items()),
        workdir="/app",
        user=f"{uid}:{uid}",
        user_name="app",
        hostname=d.name.replace(".", "-").replace("_", "-")[:63],
        network=mode,
        publish=port if mode == "host" or (publish and mode == "bridge") else 0,
        limits=Limits(memory=d.memory_mb << 20, cpus=d.cpus),
        id=d.name,
        app=d.app,
        release=d.release,
        process=d.process,
        stop_grace=stop_grace,
    )


def oci_spec_for(d: Desired, image: images.Image, uid: int, *, stop_grace: float | None,
                 publish: bool) -> ContainerSpec:
    """An instance of an OCI/Docker image: its own layers (no stack), its ENTRYPOINT/CMD (a Procfile
    command replaces CMD), ENV and WORKDIR, $PORT its first EXPOSEd port, as the app's uid whatever its USER.

    Isolation, limits and the generated /etc files are those of every instance (container.create);
    the platform's trust bundle is bound over /etc/ssl/certs when the image has that directory.
    """
    run = image.config
    layers = images.oci_layers(image)
    mode = config.instance_network()
    env = {"HOME": run["workdir"], "DYNO": d.process, "PS": d.process, **tty_env(d)}
    env.update(run["env"])
    env.update(dict(d.env))
    if mode == "host":
        env["PORT"] = str(ports.allocate(d.name))  # the host's ports are shared: the image's own may be taken
    else:
        env.setdefault("PORT", str(run["port"] or DEFAULT_PORT))
    port = instance_port(env["PORT"])
    binds = ()
    if RootView(layers).is_dir(trust.CONTAINER_DIR):
        trust.refresh()
        binds = (Mount(trust.trust_dir(), trust.CONTAINER_DIR),)
    return ContainerSpec(
        command=tuple(imageconfig.argv(run, d.command)), layers=layers, binds=binds, env=tuple(env.items()),
        workdir=run["workdir"], user=f"{uid}:{uid}", user_name="app",
        hostname=d.name.replace(".", "-").replace("_", "-")[:63], network=mode,
        publish=port if mode == "host" or (publish and mode == "bridge") else 0,
        limits=Limits(memory=d.memory_mb << 20, cpus=d.cpus), id=d.name, app=d.app, release=d.release,
        process=d.process, stop_grace=stop_grace)


def tty_env(d: Desired) -> dict:
    """A one-off on a terminal says which: without TERM, bash's ``clear``, ``top`` or an editor refuse to
    draw. xterm-256color is what the console's xterm.js and most developers' terminals speak; the
    image's ENV or the app's config vars may still say otherwise (they are applied after)."""
    return {"TERM": "xterm-256color"} if d.attach == "tty" else {}


def instance_port(text: str) -> int:
    """$PORT as a port number; an app's config var PORT that is not one is refused."""
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise SpecError(f"PORT={text[:20]!r} is not a port number")
    return int(text)


def addon_spec(d: Desired, *, stop_grace: float | None = None) -> ContainerSpec:
    """An add-on server (services/): the stack (under its server packages' layers), its own uid, its
    volumes bound read-write.

    The volume is made and mounted here, before the bind is validated: the
    first start of the server on this host creates it, later ones find it.
    """
    stack = stacks.get(d.stack)
    from pathlib import Path

    binds = tuple(Mount(volumes.ensure(name, size, d.uid), destination, readonly=False)
                  for name, size, destination in d.volumes)
    binds += tuple(Mount(Path(source), destination) for source, destination in d.mounts if Path(source).is_dir())
    return ContainerSpec(
        command=("/bin/sh", "-c", d.command), layers=(*(Path(p) for p in d.layers), *stack.layers),
        binds=(*stack.binds, *binds),
        env=(("HOME", "/app"), *d.env), workdir="/app", user=f"{d.uid}:{d.uid}", user_name="addon",
        hostname=d.name.replace(".", "-").replace("_", "-")[:63], network="services",
        limits=Limits(memory=d.memory_mb << 20, cpus=d.cpus), id=d.name, app=d.app, release=d.release,
        process=d.process, stop_grace=stop_grace)


def addon_endpoints(desired: list[Desired], containers: list[Container]) -> list:
    """Each add-on server running here, with the addresses of its attached apps' containers."""
    from .addonnet import Endpoint

    servers = {d.name: d for d in desired if d.expose}
    by_id = {c.id: c for c in containers}
    out = []
    for name, d in servers.items():
        server = by_id.get(name)
        if server is None or not server.record.network.get("address"):
            continue
        sources = tuple(c.record.network["address"] for c in containers
                        if c.id not in servers and c.record.labels.get("app") in d.allow_apps
                        and c.record.network.get("address"))
        out += [Endpoint(name, server.record.network["address"], port, host_port, sources, d.allow_hosts)
                for port, host_port in (d.expose, *d.also_expose)]
    return out


def publishes(host: HostInfo) -> bool:
    """Routers on other hosts can only reach instances through the host's address when it is not loopback."""
    import ipaddress

    try:
        return not ipaddress.ip_address(host.address).is_loopback
    except ValueError:
        return True  # a host name: other machines resolve it


def endpoint(network: dict, host: HostInfo) -> tuple[str, int]:
    """Where routers reach an instance: its published port on the host's address, or its own address."""
    if network.get("mode") == "host":
        return host.address, network["port"]
    if network.get("host_port"):
        return host.address, network["host_port"]
    return network.get("address") or "127.0.0.1", network.get("port") or DEFAULT_PORT


def record_port(c: Container, spec: ContainerSpec) -> None:
    """Keep the port the app listens on beside its address when it is not the default (an image's
    EXPOSE, a PORT config var), so health checks and routes go there; published and host-mode
    instances have it already."""
    text = spec.env_dict().get("PORT", "")
    if text.isdigit() and int(text) != DEFAULT_PORT and not c.record.network.get("port"):
        c.record.network["port"] = int(text)
        c.save()


def local_endpoint(network: dict) -> tuple[str, int]:
    """Where this host checks an instance: directly, never through its published port."""
    if network.get("mode") == "host":
        return "127.0.0.1", network["port"]
    return network.get("address") or "127.0.0.1", network.get("port") or DEFAULT_PORT


RELAYS = WarmRelay()
STARTING_INTERVAL = 0.1
# A just-started web instance watched this long (Agent.watch_ready): long enough for a Python app's
# workers to import it on a busy host (0.3-1.5 s here); a watcher mostly waits in recv for the answer.
READY_WATCH_S = 5.0
READY_POLL_S = 0.01   # a refused connect on the bridge costs microseconds
MAX_WATCHERS = 4
WATCHERS = threading.BoundedSemaphore(MAX_WATCHERS)
# Startup CPU boost (as Cloud Run's): a web instance runs without its size's CPU cap until it first
# answers, for at most STARTUP_BOOST_S; its weight (its size's share when the CPUs are contended) stays.
# A small instance's quarter CPU made gunicorn's boot (master and two workers importing Flask, ~0.5
# CPU-s) take 1.3-2.2 s, and Node's 0.6 s.
STARTUP_BOOST_S = 10.0
HEARTBEAT_INTERVAL = 1.0
UNHEALTHY_AFTER = 3  # consecutive failed checks before an up instance counts as down again


def start_relay(container_id: str, tty: bool) -> None:
    """The relay starts the created container on a terminal and outlives this agent, like the container."""
    RELAYS.hand(container_id, tty)  # one started ahead (warmrelay.py): the run does not wait for it


def ready(network: dict, d: Desired, *, first: bool, answer_timeout: float = readiness.ANSWER_TIMEOUT_S) -> bool:
    """Web instances answer on $PORT (an HTTP answer until first up, then the port accepting; their
    health path always); add-on servers accept on their port (readiness.py)."""
    address, port = local_endpoint(network)
    check = readiness.Check(web=d.process.startswith("web."), health_path=d.health_path,
                            expose=d.expose[0] if d.expose else None)
    return readiness.ready(address, port, check, first=first, answer_timeout=answer_timeout)


class Agent:
    """One host's agent. `reconcile_once` is one pass; `run` loops until stopped."""

    def __init__(self, control: ControlPlane, host: HostInfo, redis=None, *,
                 interval: float = 0.5, stop_grace: float | None = None, backend=None):
        self.control = control
        # What makes, finds and removes the containers (backend.py): PAAS_RUNTIME_BACKEND unless given.
        self.backend = backend or backends.get()
        self.host = host
        self.redis = redis
        self.interval = interval
        self.stop_grace = stop_grace
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.starting = False
        self.up: set[str] = set()  # instances that passed their check, for UNHEALTHY_AFTER
        self.misses: dict[str, int] = {}
        self.boosted: dict[str, float] = {}  # web instances starting uncapped: when (monotonic) they started
        self.capped: set[str] = set()  # instances whose size's CPU cap this agent has set
        self.logs_waiting = False   # log shipping is waiting for Redis
        self.desired: list[Desired] = []
        self.guarding = False  # add-on rules are installed: keep them in step until none is left
        self.sleeper = Sleeper(self.backend)  # apps asleep: frozen here, thawed on the router's wake

    # -- what runs here ------------------------------------------------------

    def managed(self) -> list[Container]:
        root = config.instances_dir()
        found = []
        for directory in sorted(root.iterdir()) if root.is_dir() else []:
            if (directory / MARKER).exists():
                try:
                    found.append(self.backend.load(directory.name))
                except (StateError, ValueError, OSError):
                    continue  # half-written: the next pass or the sweep deals with it
        return found

    def actual(self) -> list[Actual]:
        out = []
        for c in self.managed():
            marker = json.loads((c.dir / MARKER).read_text())
            out.append(Actual(c.id, c.is_running() or c.record.state is State.CREATED and
                              time.time() - c.record.created_at < sweep.CREATE_GRACE_SECONDS,
                              marker.get("fingerprint", "")))
        return out

    # -- one pass ------------------------------------------------------------

    def start_up(self) -> None:
        """Register, and clear what crashed runs left that no record explains."""
        self.control.register(self.host_now())
        RELAYS.prepare()
        self.backend.prepare()
        for line in sweep.sweep(stopped_too=False):
            log.info(line)

    def reconcile_once(self, now: float | None = None) -> list[Action]:
        now = time.time() if now is None else now
        self.desired = self.control.desired(self.host)
        actions = decide(self.desired, self.actual(), now)
        # Starts first: a new instance is what a user waits on (a scale-out, `paas run`, a wake),
        # while observing every running one (a health check each) can wait the length of a start.
        # Capacity allows it: placement counts an instance being stopped until it has stopped.
        # Then the checks of instances not up yet: one that just answered reports "up" at once.
        for action in sorted(actions, key=lambda a: (a.kind != "start", a.name in self.up)):
            try:
                getattr(self, f"_{action.kind}")(action)
            except RuntimeLayerError as exc:
                log.warning("%s %s failed: %s", action.kind, action.name, exc)
                if action.desired is not None and action.desired.once:
                    # A one-off that cannot start has ended: report it, never retry it.
                    self.control.report(action.name, state="crashed", exit_code=125, stopped_at=time.time(),
                                        desired_state="stopped")
                    continue
                self.control.report(action.name, state="crashed", exit_code=125,
                                    restarts_increment=True, stopped_at=time.time())
        self.guard_addons()
        self.drop_volumes()
        self.ship_logs()
        try:
            self.backend.collect(self.desired)  # the docker backend's engine images no instance here wants
        except RuntimeLayerError as exc:
            log.warning("%s", exc)
        self.sleeper.report_pressure(self.redis, redis_keys.prefix(), self.host.name, config.FREEZE_MIN_AVAILABLE_MB)
        self.control.heartbeat(self.host_now())
        return actions

    def host_now(self) -> HostInfo:
        """This host with the stacks it has now: one built while the agent runs (make up builds
        forky in the background) is reported with the next heartbeat, so placement may use it."""
        self.host = replace(self.host, stacks=tuple(sorted(stacks.available())))
        return self.host

    def drop_volumes(self) -> None:
        """The volume of a destroyed add-on goes once its server is stopped, never before."""
        doomed = getattr(self.control, "doomed_volumes", None)
        if doomed is None:
            return
        here = {c.id for c in self.managed()}
        for name in doomed(self.host):
            if name not in here:  # decide() stops it first: it is no longer desired
                volumes.remove(name)
                self.control.volume_removed(name)

    def guard_addons(self) -> None:
        """Who may reach this host's add-on servers and those elsewhere attached apps here use
        (runtime/addonnet.py), from what runs now."""
        remote = getattr(self.control, "remote_addons", None)
        forwards = addonnet.forwards(remote(self.host), self.managed()) if remote else []
        if any(d.expose for d in self.desired) or forwards or self.guarding:
            addonnet.apply(addon_endpoints(self.desired, self.managed()), forwards)
            self.guarding = any(d.expose for d in self.desired) or bool(forwards)

    def run(self) -> None:
        self.start_up()
        if self.redis is not None:
            threading.Thread(target=self.listen_for_wake, daemon=True).start()
        threading.Thread(target=self.keep_heartbeating, daemon=True).start()
        while not self.stopping.is_set():
            self.starting = False
            try:
                self.reconcile_once()
            except Exception:  # one bad pass must not end the agent; the next retries
                log.exception("reconcile pass failed")
            # While an instance is coming up, look again soon: its rollout waits on it.
            self.wake.wait(STARTING_INTERVAL if self.starting else self.interval)
            self.wake.clear()

    def keep_heartbeating(self) -> None:
        """Heartbeats on their own clock: a long pass (fetching a slug, a slow start) must not
        make the control plane think this host is gone and move its instances."""
        while not self.stopping.wait(HEARTBEAT_INTERVAL):
            try:
                self.control.heartbeat(self.host_now())
            except Exception as exc:  # the database away: try again next beat
                log.warning("heartbeat failed: %s", exc)

    def listen_for_wake(self) -> None:
        """The control loop asks for a pass when it assigns or stops instances; the interval is the fallback.

        The router's wake (a request for an app asleep) thaws that app's frozen instances here and now.
        """
        prefix = redis_keys.prefix()
        channel, router_wake = redis_keys.agent_wake(prefix), redis_keys.router_wake(prefix)
        while not self.stopping.is_set():
            try:
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(channel, router_wake)
                self.wake.set()  # what was published while nobody listened is lost: a pass now
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["channel"].decode() == router_wake:
                        self.sleeper.wake(message["data"].decode("utf-8", "replace"))
                    elif message:
                        self.wake.set()
            except Exception as exc:  # Redis away: passes still come every interval
                log.warning("wake channel: %s", exc)
                self.stopping.wait(1.0)

    # -- actions -------------------------------------------------------------

    def _start(self, action: Action) -> None:
        d = action.desired
        assert d is not None
        if d.image and not images.exists(d.image):
            imagefetch.fetch(d.image, self.control.image_url(d.image), stack=d.stack,
                         token=config.agent_token())
        if instance_dir(d.name).exists():
            self._release(d.name)  # a leftover of an earlier run of the same instance (and its leases)
        # Only what routers send traffic to is published: web processes.
        web = d.process.startswith("web.") and not d.once
        spec = spec_for(d, stop_grace=self.stop_grace, publish=web and publishes(self.host))
        c = self.backend.create(spec, d)
        record_port(c, spec)
        if not d.egress:
            # Before the app's first instruction runs: it never has a moment of egress.
            self.backend.set_egress(c, False)
        (c.dir / MARKER).write_text(json.dumps({"fingerprint": d.fingerprint, "egress": d.egress}))
        if d.image:  # its address is leased now: it may reach its add-ons (here or elsewhere) from its first instruction
            self.guard_addons()
        address, port = endpoint(c.record.network, self.host)
        if d.attach:
            # The relay first: its output is what `paas run` waits for; the one report after it.
            start_relay(c.id, tty=d.attach == "tty")
            self.control.report(d.name, state="up", address=address, port=port, exit_code=None,
                                started_at=time.time())
            return
        self.control.report(d.name, state="starting", address=address, port=port, exit_code=None)
        if web:
            self.backend.set_cpus(c, None)  # the startup boost, until it answers (STARTUP_BOOST_S)
            self.boosted[d.name] = time.monotonic()
        c.start()
        self.starting = True  # its first health check comes at the starting interval, not the idle one
        started = {"started_at": c.record.started_at}
        if endpoint(c.record.network, self.host) != (address, port):
            # The Docker engine gives an address only at the start (the native runner's is known before).
            started["address"], started["port"] = endpoint(c.record.network, self.host)
        self.control.report(d.name, state="starting", **started)
        if web:
            self.watch_ready(c.record.network, d)

    def watch_ready(self, network: dict, d: Desired) -> None:
        """Check a just-started web instance for READY_WATCH_S (waiting on its answer, or every
        READY_POLL_S while its port refuses), in a thread of its own, and ask for a pass the moment it answers: its "up" (what a scale-out and a wake from
        zero wait on) then comes first in that pass, not after a whole pass of other checks. Later,
        and beyond MAX_WATCHERS at once (a deploy of many), the passes' own checks take over."""
        if not WATCHERS.acquire(blocking=False):
            return

        def watch() -> None:
            try:
                deadline = time.monotonic() + READY_WATCH_S
                while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
                    # The answer is awaited (a worker takes the request the moment it is up), not polled.
                    if ready(network, d, first=True, answer_timeout=min(left, readiness.ANSWER_TIMEOUT_S)):
                        self.wake.set()
                        return
                    time.sleep(READY_POLL_S)
            finally:
                WATCHERS.release()

        threading.Thread(target=watch, name=f"ready-{d.name}", daemon=True).start()

    def _observe(self, action: Action) -> None:
        c = self.backend.load(action.name)
        if action.desired is not None:
            self._converge_egress(c, action.desired.egress)
        stats = c.stats()
        state = "up"
        if action.desired and self.sleeper.converge(c.id, action.desired.app, action.desired.frozen,
                                                    action.name in self.up):
            pass  # asleep: a frozen app answers nothing until woken, and is not down for it
        elif action.desired and not ready(c.record.network, action.desired, first=action.name not in self.up):
            # Up once it answers on $PORT (and its health check path, if it has one). Once up,
            # one missed check on a busy host does not take it out of the router: only a few in a row.
            misses = self.misses[action.name] = self.misses.get(action.name, 0) + 1
            if action.name not in self.up or misses >= UNHEALTHY_AFTER:
                state = "starting"
                self.up.discard(action.name)
                self.starting = True
        else:
            self.misses.pop(action.name, None)
            self.up.add(action.name)
        if action.desired is not None:
            self._cap(c, action.desired, up=state == "up")
        self.control.report(action.name, state=state, memory_bytes=stats["memory_bytes"],
                            cpu_seconds=stats["cpu_ns"] / 1e9)

    def _cap(self, c: Container, d: Desired, *, up: bool) -> None:
        """The size's CPU cap, once a boosted instance is up or its boost has run out; and once per
        agent on every other instance (one started boosted by an agent before a restart)."""
        started = self.boosted.get(d.name)
        if started is not None and not up and time.monotonic() - started < STARTUP_BOOST_S:
            return
        if d.name in self.capped:
            return
        self.backend.set_cpus(c, d.cpus)
        self.boosted.pop(d.name, None)
        self.capped.add(d.name)

    def _converge_egress(self, c: Container, allowed: bool) -> None:
        """`paas egress:deny` / `allow` reach a running instance here, without a restart."""
        marker_path = c.dir / MARKER
        marker = json.loads(marker_path.read_text())
        if marker.get("egress", True) == allowed:
            return
        self.backend.set_egress(c, allowed)
        marker["egress"] = allowed
        # Whole or not at all: every pass reads the marker (actual()).
        tmp = marker_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(marker))
        os.replace(tmp, marker_path)
        log.info("%s: egress %s", c.id, "allowed" if allowed else "denied")

    def _collect(self, action: Action) -> None:
        c = self.backend.load(action.name)
        if c.record.state is State.CREATED:
            outcome_state, code, oom = "crashed", 125, False
        else:
            outcome = c.mark_stopped()
            code, oom = outcome.exit_code, outcome.oom_killed
            outcome_state = "oom-killed" if oom else ("crashed" if action.desired else "stopped")
        self.ship_logs([c], final=True)
        if action.desired is not None and action.desired.once:
            # A one-off ends when it exits: its exit code is the answer, not a crash.
            self.control.report(action.name, state="oom-killed" if oom else "stopped", exit_code=code,
                                stopped_at=time.time(), desired_state="stopped")
        else:
            self.control.report(action.name, state=outcome_state, exit_code=code, stopped_at=time.time(),
                                restarts_increment=bool(action.desired))
        self._release(action.name)

    def _stop(self, action: Action) -> None:
        c = self.backend.load(action.name)
        outcome = c.stop(self.stop_grace)
        self.ship_logs([c], final=True)
        self.control.report(action.name, state="stopped", exit_code=outcome.exit_code, stopped_at=time.time())
        self._release(action.name)

    def stop_everything(self) -> int:
        """Stop every instance on this host, each within its grace, all at once (a platform shutdown).

        Desired state is left alone: the next agent to start here starts them again.
        """
        containers = [c for c in self.managed() if c.is_running()]
        workers = [threading.Thread(target=self._stop, args=(Action("stop", c.id),)) for c in containers]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return len(containers)

    def _release(self, name: str) -> None:
        self.sleeper.forget(name)
        self.up.discard(name)
        self.misses.pop(name, None)
        self.boosted.pop(name, None)
        self.capped.discard(name)
        if self.redis is not None:
            logs.forget(self.redis, name)
        self.backend.release(name)

    # -- logs ----------------------------------------------------------------

    def ship_logs(self, containers: list[Container] | None = None, final: bool = False) -> None:
        if self.redis is None:
            return
        import redis as redis_lib

        away = None
        for c in containers if containers is not None else self.managed():
            try:
                self.backend.pull_logs(c)
                if final:
                    logs.ship_final(self.redis, c.id, c.dir, c.record.labels)
                else:
                    logs.ship(self.redis, c.id, c.dir, c.record.labels)
            except OSError as exc:
                log.warning("shipping logs of %s: %s", c.id, exc)
            except redis_lib.RedisError as exc:
                away = exc   # the lines wait on disk, bounded (runtime/logledger.py)
        if containers is None:
            try:
                logs.ship_spooled(self.redis)
            except redis_lib.RedisError as exc:
                away = exc
        if containers is None or away is not None:
            self._logs_away(away)

    def _logs_away(self, error: Exception | None) -> None:
        """Say once when log shipping stops for want of Redis, and once when it resumes."""
        if error is not None and not self.logs_waiting:
            log.warning("Redis unreachable (%s): app log lines wait on disk until it is back", error)
        elif error is None and self.logs_waiting:
            log.info("Redis is back: app log lines shipped again")
        self.logs_waiting = error is not None


def main(make_control: Callable[[], ControlPlane], argv: list[str] | None = None) -> int:
    """`paas-agent`: the agent of this host, with the control plane `make_control` makes (after parsing argv).

    The control plane is handed in (paas.platform.hostagent gives the Django
    one): the runtime knows the ControlPlane protocol, not the models.
    """
    parser = argparse.ArgumentParser(prog="paas-agent", description="Run the paas host agent.")
    parser.add_argument("--interval", type=float, default=config.agent_interval())
    parser.add_argument("--once", action="store_true", help="one reconcile pass, then exit")
    parser.add_argument("--stop-instances", action="store_true",
                        help="stop every instance on this host, then exit (the platform is shutting down)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    import redis
    agent = Agent(make_control(), host_info(), redis.Redis.from_url(config.redis_url()), interval=args.interval)
    # SIGTERM ends the loop only; instances keep running for the next agent.
    signal.signal(signal.SIGTERM, lambda *_: (agent.stopping.set(), agent.wake.set()))
    if args.stop_instances:
        log.info("stopped %d instance(s)", agent.stop_everything())
        return 0
    try:
        if args.once:
            agent.start_up()
            agent.reconcile_once()
            return 0
        agent.run()
    except KeyboardInterrupt:
        pass
    except RuntimeLayerError as exc:  # at start: the host cannot run instances (a Docker engine away)
        log.error("%s", exc)
        return 1
    return 0

