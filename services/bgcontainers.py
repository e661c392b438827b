"""Containers the agent's background threads run: the apt of a server layer, the PostgreSQL template.

Those threads are daemons and die with the agent before their own clean-up runs, and no instance
record names their containers, so no later sweep would find them: their cgroups, network
namespace and lease would outlive the agent. paas-agent's exit releases what is still tracked
(platform/hostagent.main); the work is lost and made again by the next agent.
"""

import threading
from contextlib import contextmanager

_lock = threading.Lock()
_running: dict[str, str] = {}  # container id -> its network mode


@contextmanager
def tracked(container_id: str, network_mode: str):
    """Around a background container's run: released at the agent's exit if still running."""
    with _lock:
        _running[container_id] = network_mode
    try:
        yield
    finally:
        with _lock:
            _running.pop(container_id, None)


def release_unfinished() -> None:
    """At the agent's exit: release every background container still running."""
    from paas.runtime import container

    with _lock:
        running = sorted(_running.items())
        _running.clear()
    for container_id, network_mode in running:
        container.release(container_id, network_mode)
