"""The agent applies an app's egress setting at start and to running instances, without a restart: both
backends (the docker backend's rules are the host's, on the instance's MAC address: dockeregress.py)."""

from dataclasses import replace

import pytest

from paas.runtime import config

from .test_agent import BOTH, image, world  # noqa: F401  (fixtures)


@BOTH
def test_egress_setting_reaches_a_running_instance_in_place(world, outside):  # noqa: F811
    from tests.netsandbox import PROBE, sandbox_bridge, wait_for

    control, agent, want, client, app = world
    with pytest.MonkeyPatch.context() as mp, sandbox_bridge(mp, outside):
        mp.setattr(config, "EGRESS_ALLOW", (outside.network,))
        agent.start_up()
        loop = f"while true; do python3 -c '{PROBE}' tcp:{outside.address}:8080; echo round; sleep 0.2; done"
        d = want("worker.1", command=loop, egress=False)
        agent.reconcile_once()
        c = agent.backend.load(d.name)
        log = c.dir / "stdout.log"

        def output() -> str:
            agent.backend.pull_logs(c)  # the engine's output into the file (the native runner's is there)
            return log.read_text() if log.exists() else ""  # the engine's copy starts with its first line

        def next_round(offset):
            rounds = output()[offset:].split("round\n")[1:-1]
            return rounds[0] if rounds else None

        assert "refused" in wait_for(lambda: next_round(0), what="a round with egress denied")
        control.instances[d.name] = replace(d, egress=True)
        agent.reconcile_once()
        mark = len(output())
        assert "connected" in wait_for(lambda: next_round(mark), what="a round with egress allowed")
        control.instances[d.name] = replace(d, egress=False)
        agent.reconcile_once()
        mark = len(output())
        assert "refused" in wait_for(lambda: next_round(mark), what="a round with egress denied again")
        assert agent.backend.load(d.name).record.pid == c.record.pid  # the same process: no restart
        if agent.backend.name == "docker":  # a firewall reload drops the host's rules: the agent's start restores them
            from paas.runtime import dockeregress

            dockeregress.forget(d.name)
            mark = len(output())
            assert "connected" in wait_for(lambda: next_round(mark), what="a round after the rules were dropped")
            agent.backend.prepare()
            mark = len(output())
            assert "refused" in wait_for(lambda: next_round(mark), what="a round after the agent's start")
        agent._release(d.name)


@BOTH
def test_a_web_instance_without_egress_still_answers_the_router(world):  # noqa: F811
    from tests.netsandbox import probe_on_host, wait_for

    control, agent, want, client, app = world
    d = want("web.1", egress=False)
    agent.reconcile_once()
    wait_for(lambda: (agent.reconcile_once(), control.reports[d.name]["state"] == "up")[1], timeout=30,
             what="the health check answered")
    address = control.reports[d.name]["address"]
    assert probe_on_host(f"tcp:{address}:{control.reports[d.name]['port']}") == [
        f"tcp {address}:{control.reports[d.name]['port']} connected"]
    agent._release(d.name)
