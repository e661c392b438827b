"""What runs the agent's instances: the few operations the agent needs of a runner.

The agent (agent.py) keeps deciding what runs (reconcile.py), converting an instance to a
ContainerSpec (``spec_for``), health-checking, reporting and shipping logs; a backend only makes,
finds and removes the containers. ``native`` is the platform's own runner (container.py), the
default; ``docker`` runs app instances on a local Docker engine (dockerbackend.py). Both leave an
instance directory with ``state.json`` and the two log files, which is what the agent reads.
"""

from . import config, network
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

    def pull_logs(self, c: Container) -> None:
        """Native output is already in the instance's files (the kernel appends it there)."""


def get(name: str | None = None):
    """The backend `name` (PAAS_RUNTIME_BACKEND by default)."""
    name = name or config.RUNTIME_BACKEND
    if name == "docker":
        from .dockerbackend import DockerBackend

        return DockerBackend()
    return NativeBackend()
