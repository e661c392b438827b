"""The native backend: instances as the platform's own containers (backend.py says what a backend is)."""

from . import config, freezer, network
from .container import Container, create, release
from .reconcile import Desired
from .spec import ContainerSpec


class NativeBackend:
    """Instances as the platform's own containers (namespaces, cgroups, paas-init)."""

    name = "native"

    def prepare(self) -> None:
        """At the agent's start: the bridge and its firewall rules."""
        if config.instance_network() == "bridge":
            from . import firewall
            firewall.ensure_rules()  # forced: rules can be flushed while the bridge (and their stamp) stays
            network.ensure_bridge()

    def create(self, spec: ContainerSpec, desired: Desired) -> Container:
        return create(spec)

    def load(self, name: str) -> Container:
        return Container.load(name)

    def release(self, name: str) -> None:
        release(name)

    def collect(self, desired: list[Desired], force: bool = False) -> list[str]:
        """Nothing: the image store is collected by Platform Control (platform/control/imagegc.py)."""
        return []

    def set_egress(self, c: Container, allowed: bool) -> None:
        """`paas egress:deny` / `allow`: rules in the instance's own network namespace (network.py)."""
        network.set_egress(c.record.network, allowed)

    def set_cpus(self, c: Container, cpus: float | None) -> None:
        """The instance's CPU cap while it runs (None: none; the agent's startup boost); its weight stays."""
        c.cgroup.set_cpu_quota(cpus)

    def freeze(self, name: str) -> None:
        """Asleep (runtime/sleep.py): no CPU, memory kept. CgroupError when it cannot be."""
        freezer.freeze(name)

    def thaw(self, name: str) -> None:
        freezer.thaw(name)

    def is_frozen(self, name: str) -> bool:
        return freezer.is_frozen(name)

    def pull_logs(self, c: Container) -> None:
        """Native output is already in the instance's files (the kernel appends it there)."""
