"""An agent that exits while a server layer is being made leaves nothing of its apt container.

The layer is made by a daemon thread (services/serverpackages.py), which dies with the agent
before its own clean-up runs; no instance record names that container, so no later agent would
sweep it. paas-agent's exit releases it (platform/hostagent.main).
"""

import secrets

from paas.runtime import cgroups, container, network, stacks
from paas.runtime.spec import ContainerSpec
from paas.services import serverpackages


def test_the_agents_exit_releases_an_apt_container_still_running():
    host = stacks.get("host")
    made = container.create(ContainerSpec(command=("sleep", "60"), layers=host.layers, binds=host.binds,
                                          network="bridge", id=f"addon-layer-{secrets.token_hex(4)}"))
    try:
        made.start()
        with serverpackages._lock:
            serverpackages._unfinished.add(made.id)  # as _download registers it before starting
        assert (network.NETNS_DIR / network.netns_name(made.id)).exists()
        serverpackages.release_unfinished()
        assert not container.instance_dir(made.id).exists()
        assert not cgroups.cgroup_for(made.id).exists()
        assert not (network.NETNS_DIR / network.netns_name(made.id)).exists()
        assert not serverpackages._unfinished
    finally:
        container.release(made.id, "bridge")
