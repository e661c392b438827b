"""The docker backend (PAAS_RUNTIME_BACKEND=docker): app instances on a local Docker engine.

The agent converts an instance to a ContainerSpec as for the native runner (agent.spec_for) and the
same validator checks it (validate.py); this module runs it through the docker SDK with the same
confinement: the spec's memory (no swap), CPU and pids limits, the app's unprivileged uid (never
root; /etc/passwd and /etc/group generated as natively, bound read-only), a read-only root
filesystem with a size-capped /tmp, every capability dropped, no-new-privileges, the engine's
default seccomp profile, an init as PID 1 that forwards signals, and a network per app (a bridge
named ``PAAS_DOCKER_BRIDGE`` + 8 hex digits). dockerd runs with ``--iptables=false``: the platform's
own rules (firewall.py, for ``PAAS_DOCKER_POOL``) close the host and the other bridges to these
networks, as they do to the native runner's, and nothing of the engine changes the host's firewall.

The root filesystem is an engine image made once per release content (dockerimages.py). The record
(state.json: state, the PID 1 the engine reports, address) and the two log files (dockerlogs.py)
live in the instance directory like a native instance's, so the agent finds, checks, reports and
ships both alike. Attached one-offs (`paas run`) are created with their stdin open (and a terminal of
the engine's for a tty run); the relay starts them through the engine's attach stream (dockerattach.py).
Add-on servers stay on the native runner (their volumes). Apps asleep are paused by the engine (the cgroup freezer, as the
native runner's freezer.py), and unpaused on a wake or before a stop. `paas egress:deny` is kept by
host rules on the instance's MAC address (dockeregress.py), set before it starts.
"""

import json
import math
import os
import shutil
import time
from contextlib import contextmanager

from . import config, dockerdns, dockeregress, dockerimages, dockerlogs, identity, images, ports
from .nativebackend import NativeBackend
from .container import Container, Outcome, instance_dir, new_instance_dir
from .errors import NetworkError, RuntimeLayerError, SpecError, StateError
from .reconcile import Desired
from .rootview import resolve_user
from .spec import ContainerSpec
from .state import Record, State
from .syscalls import process_start_time
from .validate import DEFAULT_PATH, validate

ENGINE_MARK = "docker.json"   # in the instance directory: the engine runs this one
# The engine's init (tini) as it is on a Debian host, and so in a stack that binds the host's /usr. The
# engine's own `init` mounts it at /sbin/docker-init, which such a stack's /sbin (a link into the
# read-only /usr bind) cannot hold: there, the one already in the root filesystem is run instead.
STACK_INIT = "/usr/bin/docker-init"
LOG_CONFIG = {"max-size": "8m", "max-file": "2"}  # the engine's copy, bounded; the agent copies it out
NETWORK_MODE = "docker"       # record.network's mode: not "bridge", which is the native runner's netns
COLLECT_EVERY_S = 600         # how often an agent removes the engine's images no instance here wants


@contextmanager
def engine(what: str):
    """The engine's refusals and absence as the runtime's error, naming `what` failed: the agent reports
    it for that one instance and goes on with the others (a NotFound is the caller's to handle)."""
    import docker.errors

    try:
        yield
    except docker.errors.NotFound:
        raise
    except (docker.errors.DockerException, OSError) as exc:
        raise RuntimeLayerError(f"{what}: {getattr(exc, 'explanation', None) or exc}") from None


def bridge_name(app: str, kind: str = "") -> str:
    """The Linux bridge of the app's network (`kind` "build": of its engine builds, enginebuild.py)."""
    import hashlib

    return config.docker_bridge() + hashlib.sha256(f"{kind}{app}".encode()).hexdigest()[:8]


def network_name(app: str) -> str:
    return f"paas-{app}"


def named_networks(api, name: str) -> list[dict]:
    """The engine's networks called `name` exactly (its filter matches parts of names)."""
    return [n for n in api.networks(names=[name]) if n["Name"] == name]


def ensure_network(api, name: str, bridge: str, app: str) -> str:
    """The engine's network `name` on Linux bridge `bridge` (of the PAAS_DOCKER_BRIDGE family), made
    unless it is there, behind the platform's rules: no route to the host or the other bridges, the
    outside through the platform's NAT (not the engine's). Its name."""
    import docker.errors

    from . import firewall

    # Before anything joins a network: the host and other bridges closed to it (checked against
    # a stamp, so a pass costs one read; the agent's prepare() forces them at its start).
    firewall.ensure_rules(force=False, bridge=config.docker_bridge(), pool=config.docker_pool())
    if not named_networks(api, name):
        try:
            api.create_network(name, driver="bridge", check_duplicate=True, labels={"paas.app": app},
                               options={"com.docker.network.bridge.name": bridge,
                                        "com.docker.network.bridge.enable_ip_masquerade": "false"})
        except docker.errors.APIError as exc:
            if not named_networks(api, name):
                raise RuntimeLayerError(f"the Docker engine could not make network {name}: {exc.explanation}") from None
    dockerdns.ensure(api, name)  # names resolve through the platform's forwarder on its gateway
    return name


def remove_network(api, name: str) -> None:
    """The engine's network `name` and its bridge's DNS forwarder gone (docker errors are the caller's)."""
    for net in named_networks(api, name):
        bridge = (api.inspect_network(net["Id"]).get("Options") or {}).get("com.docker.network.bridge.name")
        api.remove_network(net["Id"])
        if bridge:
            dockerdns.remove(bridge)


class DockerInstance(Container):
    """A docker-backend instance: the record on disk as for a native one, the process the engine's.

    `is_running` and `wait` are the native ones: the record holds the host pid (and start time)
    of the container's PID 1 as the engine reports it."""

    api = None  # docker.APIClient, set by the backend

    def start(self, **_) -> None:
        import docker.errors

        if self.record.state is not State.CREATED:
            raise StateError(f"container {self.id} is {self.record.state.value}, not created")
        try:
            with engine(f"container {self.id} failed to start"):
                self.api.start(self.id)
                info = self.api.inspect_container(self.id)
        except (RuntimeLayerError, docker.errors.NotFound) as exc:
            self.record.move(State.STOPPED)
            self.record.error, self.record.exit_code = str(exc)[:500], 125
            self.save()
            raise RuntimeLayerError(str(exc)) from None
        self.record.network.update(_addresses(info, self.record.network))
        pid = info["State"]["Pid"]
        self.record.move(State.RUNNING)
        self.record.pid, self.record.pid_start = pid, process_start_time(pid) or 0
        self.record.started_at = time.time()
        self.save()

    def attach_stream(self):
        """The engine's attach stream of this created container (stdin, stdout, stderr), taken before it starts
        so nothing it prints is missed: (the SDK's socket, the plain socket under it)."""
        with engine(f"attaching to container {self.id}"):
            sock = self.api.attach_socket(self.id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(None)  # a run may print nothing for long: the client's timeout is not the run's
        return sock, raw

    def stats(self) -> dict:
        import docker.errors

        try:
            s = self.api.stats(self.id, stream=False, one_shot=True)
        except (docker.errors.DockerException, OSError):
            return {"memory_bytes": 0, "cpu_ns": 0}  # the next pass asks again
        return {"memory_bytes": s.get("memory_stats", {}).get("usage", 0),
                "cpu_ns": s.get("cpu_stats", {}).get("cpu_usage", {}).get("total_usage", 0)}

    def outcome(self, helper_code: int | None = None) -> Outcome:
        import docker.errors

        try:
            with engine(f"the end of container {self.id}"):
                state = self.api.inspect_container(self.id)["State"]
        except docker.errors.NotFound:
            return Outcome(exit_code=137, error="the engine has no such container")
        if state.get("Error"):
            return Outcome(exit_code=125, error=str(state["Error"])[:500])
        oom = bool(state.get("OOMKilled"))
        return Outcome(exit_code=137 if oom else int(state.get("ExitCode", 137)), oom_killed=oom)

    def stop(self, grace: float | None = None) -> Outcome:
        """SIGTERM (through the engine's init), then SIGKILL after `grace` seconds (whole seconds)."""
        import docker.errors

        if grace is None:
            grace = self.record.stop_grace if self.record.stop_grace is not None else config.STOP_GRACE_SECONDS
        if self.record.state is State.RUNNING:
            try:
                with engine(f"stopping container {self.id}"):
                    if _paused(self.api, self.id):  # asleep: it would get SIGTERM only at its grace's end
                        self.api.unpause(self.id)
                    self.api.stop(self.id, timeout=max(1, math.ceil(grace)))
            except docker.errors.NotFound:
                pass
        return self.mark_stopped()

    def remove(self) -> None:
        if self.record.state is State.RUNNING:
            raise StateError(f"container {self.id} is running; stop it first")
        DockerBackend(self.api).release(self.id)


def _paused(api, name: str) -> bool:
    return bool(api.inspect_container(name)["State"].get("Paused"))


def _addresses(info: dict, network: dict) -> dict:
    """Where the agent and routers reach a started container: its address on the app's network
    (the router's host reaches it there), or its published port."""
    settings = info["NetworkSettings"]
    found = {}
    for attached in (settings.get("Networks") or {}).values():
        if attached.get("IPAddress"):
            found["address"] = attached["IPAddress"]
    for bindings in (settings.get("Ports") or {}).values():
        if bindings:
            found["host_port"] = int(bindings[0]["HostPort"])
    if network.get("mode") == "host":
        found.pop("address", None)
    return found


def attached(attach: str) -> dict:
    """The engine's settings of an attached one-off ("tty" or "pipe"): stdin open until its relay ends it,
    and a terminal of the engine's for a tty run; none for the rest."""
    if not attach:
        return {}
    # Not detached: the SDK then sets StdinOnce (the relay's half-close ends the container's stdin).
    return {"stdin_open": True, "detach": False, "tty": attach == "tty"}


class DockerBackend(NativeBackend):
    """App instances through the docker SDK against the engine at PAAS_DOCKER_HOST."""

    name = "docker"

    def __init__(self, api=None, *, base_url: str | None = None):
        self._api = api
        self.base_url = base_url or config.docker_host()
        self._collected = 0.0

    @property
    def api(self):
        """The engine's client, made at first use: "auto" asks the engine which API version it speaks
        (Debian's 20.10 stops at 1.41), so an engine not up yet fails the first call, not the agent's start."""
        if self._api is None:
            import docker

            self._api = docker.APIClient(base_url=self.base_url, version="auto", timeout=120)
        return self._api

    def prepare(self) -> None:
        """The native runner's set-up (add-on servers stay there), the engine, its networks' rules."""
        import docker.errors

        from . import firewall

        super().prepare()
        try:
            self.api.ping()
        except (docker.errors.DockerException, OSError) as exc:
            raise RuntimeLayerError(f"the Docker engine at {self.base_url} does not answer: {exc}") from None
        firewall.ensure_rules(bridge=config.docker_bridge(), pool=config.docker_pool())
        self._deny_again()

    # -- the agent's operations ------------------------------------------------

    def create(self, spec: ContainerSpec, desired: Desired) -> Container:
        if not desired.image:
            return super().create(spec, desired)  # add-on servers (their volumes) are the native runner's
        view = validate(spec)
        uid, gid = resolve_user(view, spec.user)
        with engine(f"the Docker engine's image of {spec.id}"):
            ref = dockerimages.ensure(self.api, desired.image, desired.stack)
        directory = new_instance_dir(spec.id)
        record = Record(id=spec.id, labels=spec.labels(), stop_grace=spec.stop_grace)
        record.network = {"mode": "host" if spec.network == "host" else NETWORK_MODE}
        if spec.network == "host":
            record.network["port"] = spec.publish
        try:
            mounts = self._mounts(spec, desired, view, uid, directory)
            with engine(f"the Docker engine refused container {spec.id}"):
                self._remove_engine_container(spec.id)  # an agent killed between the engine's create and its release
                self.api.create_container(**self._container_args(spec, ref, uid, gid, mounts, view),
                                          **attached(desired.attach))
            # The engine's address too: the relay of an attached run (another process) starts it there.
            (directory / ENGINE_MARK).write_text(json.dumps({"image": ref, "egress": True, "engine": self.base_url}))
            record.save(directory)
        except BaseException:
            self._release_engine(spec.id, spec.app)
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return self._instance(record)

    def load(self, name: str) -> Container:
        if not (instance_dir(name) / ENGINE_MARK).exists():
            return super().load(name)
        try:
            return self._instance(Record.load(instance_dir(name)))
        except FileNotFoundError:
            raise StateError(f"no container {name} on this host") from None

    def release(self, name: str) -> None:
        directory = instance_dir(name)
        if not (directory / ENGINE_MARK).exists():
            super().release(name)
            return
        try:
            app = Record.load(directory).labels.get("app", "")
        except (OSError, ValueError):
            app = ""
        self._release_engine(name, app)
        dockeregress.forget(name)
        shutil.rmtree(directory, ignore_errors=True)

    def collect(self, desired: list[Desired], force: bool = False) -> list[str]:
        """The engine's images of releases no instance here wants (dockerimages.collect), at most every
        COLLECT_EVERY_S; the tags removed."""
        import docker.errors

        if not force and time.monotonic() - self._collected < COLLECT_EVERY_S:
            return []
        self._collected = time.monotonic()
        keep = set()
        for d in desired:
            if d.image:
                try:
                    keep.add(dockerimages.ref_of(d.image, d.stack))
                except (RuntimeLayerError, OSError):
                    pass  # not fetched yet: nothing of it in the engine either
        try:
            return dockerimages.collect(self.api, keep)
        except (docker.errors.DockerException, OSError) as exc:
            raise RuntimeLayerError(f"collecting the Docker engine's images: {exc}") from None

    def set_egress(self, c: Container, allowed: bool) -> None:
        """`paas egress:deny` / `allow` for an engine instance: host rules on its MAC address, in place
        before it starts and changed while it runs (dockeregress.py)."""
        if not isinstance(c, DockerInstance):
            return super().set_egress(c, allowed)
        mode = c.record.network.get("mode")
        if mode != NETWORK_MODE:
            if allowed:
                return
            raise NetworkError(f"egress can only be denied to instances on the app's network, not in {mode!r} mode")
        dockeregress.set_egress(c.id, dockeregress.mac_for(c.id), allowed)
        mark = c.dir / ENGINE_MARK
        tmp = mark.with_suffix(".tmp")
        tmp.write_text(json.dumps({**json.loads(mark.read_text()), "egress": allowed}))
        os.replace(tmp, mark)

    def _deny_again(self) -> None:
        """At the agent's start: a firewall reloaded since took the denying rules with it."""
        root = config.instances_dir()
        for directory in sorted(root.iterdir()) if root.is_dir() else []:
            try:
                denied = json.loads((directory / ENGINE_MARK).read_text()).get("egress") is False
            except (OSError, ValueError):
                continue
            if denied and not dockeregress.denied(directory.name):
                dockeregress.set_egress(directory.name, dockeregress.mac_for(directory.name), False)

    def set_cpus(self, c: Container, cpus: float | None) -> None:
        """Engine instances get no startup boost: they keep their size's CPU from the start (docker-py's
        update cannot change the NanoCpus limit they are made with)."""
        if not isinstance(c, DockerInstance):
            super().set_cpus(c, cpus)

    def freeze(self, name: str) -> None:
        """Asleep (runtime/sleep.py): the engine's pause, which is the same cgroup freezer (no CPU, memory
        kept, woken at once). RuntimeLayerError when it cannot be."""
        if not self._runs(name):
            return super().freeze(name)
        with self._engine_instance(name, "pausing"):
            if not _paused(self.api, name):
                self.api.pause(name)

    def thaw(self, name: str) -> None:
        if not self._runs(name):
            return super().thaw(name)
        with self._engine_instance(name, "unpausing"):
            if _paused(self.api, name):
                self.api.unpause(name)

    def is_frozen(self, name: str) -> bool:
        if not self._runs(name):
            return super().is_frozen(name)
        with self._engine_instance(name, "inspecting"):
            return _paused(self.api, name)

    def _runs(self, name: str) -> bool:
        """The engine runs instance `name` (not the native runner: add-on servers, attached one-offs)."""
        return (instance_dir(name) / ENGINE_MARK).exists()

    @contextmanager
    def _engine_instance(self, name: str, what: str):
        import docker.errors

        try:
            with engine(f"{what} container {name}"):
                yield
        except docker.errors.NotFound:
            raise RuntimeLayerError(f"{what} container {name}: the engine has no such container") from None

    def pull_logs(self, c: Container) -> None:
        import docker.errors

        if isinstance(c, DockerInstance):
            try:
                dockerlogs.pull(self.api, c.id, c.dir)
            except docker.errors.NotFound:
                pass  # removed meanwhile: what was copied is shipped
            except docker.errors.APIError as exc:
                raise OSError(f"the engine's output of {c.id}: {exc.explanation}") from None

    # -- the engine's side -------------------------------------------------------

    def _instance(self, record: Record) -> DockerInstance:
        c = DockerInstance(record)
        c.api = self.api
        return c

    def _mounts(self, spec: ContainerSpec, desired: Desired, view, uid: int, directory) -> list:
        """The spec's binds, the slug at /app (a slug release), the generated /etc/passwd and /etc/group."""
        from docker.types import Mount

        mounts = [Mount(m.destination, str(m.source), type="bind", read_only=m.readonly) for m in spec.binds]
        if not images.get(desired.image).is_oci:
            # The store's unpacked slug of this app's uid, shared read-only like a native lower layer.
            mounts.append(Mount("/app", str(images.layer(desired.image, uid=uid) / "app"), type="bind",
                                read_only=True))
        if spec.user_name:
            etc = directory / "etc"
            etc.mkdir(mode=0o755)
            files = identity.account_files(view.read_text("/etc/passwd") or "", view.read_text("/etc/group") or "",
                                           spec.user_name, uid, spec.workdir)
            for name, text in files.items():
                (etc / name).write_text(text)
                (etc / name).chmod(0o644)
                mounts.append(Mount(f"/etc/{name}", str(etc / name), type="bind", read_only=True))
        return mounts

    def _container_args(self, spec: ContainerSpec, ref: str, uid: int, gid: int, mounts: list, view) -> dict:
        from docker.types import LogConfig

        limits = spec.limits
        hostname = spec.hostname or spec.id
        env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, "HOME": "/", **spec.env_dict()}
        network = self._network(spec)
        # An init as PID 1, forwarding SIGTERM to the app and reaping (paas-init's part natively).
        own_init = view.host_path(STACK_INIT) is not None
        entrypoint = [STACK_INIT, "--", spec.command[0]] if own_init else [spec.command[0]]
        host_config = self.api.create_host_config(
            read_only=True, tmpfs={"/tmp": f"size={limits.tmp},mode=1777"}, cap_drop=["ALL"],
            security_opt=["no-new-privileges"], init=not own_init, mem_limit=limits.memory,
            memswap_limit=limits.memory, pids_limit=limits.pids, cpu_shares=limits.cpu_shares,
            nano_cpus=int(limits.cpus * 1e9) if limits.cpus else None, mounts=mounts, network_mode=network,
            log_config=LogConfig(type="json-file", config=LOG_CONFIG),
            port_bindings=self._published(spec))
        args = dict(image=ref, name=spec.id, entrypoint=entrypoint, command=list(spec.command[1:]),
                    # Known before it starts: egress rules (dockeregress.py) are keyed by it.
                    mac_address=dockeregress.mac_for(spec.id) if network not in ("host", "none") else None,
                    user=f"{uid}:{gid}", environment=env, working_dir=spec.workdir, hostname=hostname,
                    labels={f"paas.{k}": v for k, v in spec.labels().items()}, host_config=host_config,
                    stop_signal="SIGTERM")
        if spec.publish and spec.network == "bridge":
            args["ports"] = [spec.publish]
        if network not in ("host", "none"):
            # The endpoint's address too: engines of API 1.44 and later read it there, earlier ones on the container.
            endpoint = self.api.create_endpoint_config(mac_address=args["mac_address"])
            args["networking_config"] = self.api.create_networking_config({network: endpoint})
        return args

    def _published(self, spec: ContainerSpec) -> dict | None:
        """A web instance's $PORT on a host port of PAAS_PUBLISH_PORTS (routers of other hosts reach it
        there, through the engine's proxy), the range the firewall keeps every instance from reaching."""
        if not (spec.publish and spec.network == "bridge"):
            return None
        return {spec.publish: ports.allocate(spec.id)}

    def _network(self, spec: ContainerSpec) -> str:
        """The app's own network (made on its first instance here), or the host's or none."""
        if spec.network in ("host", "none"):
            return spec.network
        if spec.network != "bridge":
            raise SpecError(f"the docker backend runs instances in bridge, host or none mode, not {spec.network!r}")
        app = spec.app or spec.id
        return ensure_network(self.api, network_name(app), bridge_name(app), app)

    def _networks(self, name: str) -> list[dict]:
        return named_networks(self.api, name)

    def _remove_engine_container(self, name: str) -> None:
        import docker.errors

        try:
            self.api.remove_container(name, force=True)
        except docker.errors.NotFound:
            pass

    def _release_engine(self, name: str, app: str) -> None:
        """The engine's container, its host port, and the app's network once no container of the app is on it."""
        import docker.errors

        try:
            self._remove_engine_container(name)
            ports.release(name)  # once the engine's proxy has let go of it (spec_for leases host mode's too)
            for net in self._networks(network_name(app or name)):
                if not self.api.inspect_network(net["Id"])["Containers"]:
                    remove_network(self.api, net["Name"])
        except (docker.errors.DockerException, OSError):
            pass  # the engine away or busy: the next release of the app's instances tries again
