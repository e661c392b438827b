"""What runs the agent's instances: the few operations the agent needs of a runner.

The agent (agent.py) keeps deciding what runs (reconcile.py), converting an instance to a
ContainerSpec (``spec_for``), health-checking, reporting and shipping logs; a backend only makes,
finds and removes the containers. ``native`` is the platform's own runner (container.py), the
default; ``docker`` runs app instances on a local Docker engine (dockerbackend.py). Both leave an
instance directory with ``state.json`` and the two log files, which is what the agent reads.
"""

from . import config
from .nativebackend import NativeBackend


def get(name: str | None = None):
    """The backend `name` (PAAS_RUNTIME_BACKEND by default)."""
    name = name or config.RUNTIME_BACKEND
    if name == "docker":
        from .dockerbackend import DockerBackend

        return DockerBackend()
    return NativeBackend()
