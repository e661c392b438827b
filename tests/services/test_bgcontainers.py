"""An agent that exits while a background container runs (a server layer's apt, the PostgreSQL
template) leaves nothing of it: paas-agent's exit releases what is still tracked."""

import secrets
import threading

from paas.runtime import cgroups, container, network, stacks
from paas.runtime.spec import ContainerSpec
from paas.services import bgcontainers


def test_the_agents_exit_releases_a_background_container_still_running():
    host = stacks.get("host")
    made = container.create(ContainerSpec(command=("sleep", "60"), layers=host.layers, binds=host.binds,
                                          network="bridge", id=f"addon-layer-{secrets.token_hex(4)}"))
    running, done = threading.Event(), threading.Event()

    def background():  # as serverpackages._download runs it, in a daemon thread
        with bgcontainers.tracked(made.id, "bridge"):
            made.start()
            running.set()
            made.wait(60)
        done.set()

    try:
        threading.Thread(target=background, daemon=True).start()
        assert running.wait(30)
        assert (network.NETNS_DIR / network.netns_name(made.id)).exists()
        bgcontainers.release_unfinished()  # the agent exits
        assert not container.instance_dir(made.id).exists()
        assert not cgroups.cgroup_for(made.id).exists()
        assert not (network.NETNS_DIR / network.netns_name(made.id)).exists()
        assert done.wait(30)  # its PID 1 was killed: the thread's wait ended
        bgcontainers.release_unfinished()  # nothing is tracked any more: a no-op
    finally:
        container.release(made.id, "bridge")


def test_a_finished_container_is_no_longer_tracked():
    with bgcontainers.tracked("addon-template-0", "none"):
        assert "addon-template-0" in bgcontainers._running
    assert "addon-template-0" not in bgcontainers._running
