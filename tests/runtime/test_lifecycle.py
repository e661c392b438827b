"""Lifecycle: states, graceful stop, SIGKILL after the grace period, cleanup, leftovers."""

import os
import signal
import subprocess

import pytest

from paas.runtime import cgroups, config, container, network, sweep
from paas.runtime.errors import StateError
from paas.runtime.state import Record, State

from .conftest import RUNNER, mounts_mentioning, wait_for

TRAP_TERM = 'trap "echo got-term; exit 0" TERM; echo ready; while :; do sleep 0.05; done'
IGNORE_TERM = 'trap "" TERM; echo ready; while :; do sleep 0.05; done'


def _ready(c):
    return lambda: "ready" in (c.dir / "stdout.log").read_text()


def test_graceful_stop_lets_the_app_exit(detached):
    c = detached(["sh", "-c", TRAP_TERM])
    wait_for(_ready(c), what="app ready")
    outcome = c.stop(grace=10)
    assert outcome.exit_code == 0
    assert not outcome.oom_killed
    assert "got-term" in (c.dir / "stdout.log").read_text()
    assert c.record.state is State.STOPPED


def test_sigkill_after_the_grace_period(detached):
    c = detached(["sh", "-c", IGNORE_TERM])
    wait_for(_ready(c), what="app ready")
    outcome = c.stop(grace=0.5)
    assert outcome.exit_code == 137
    assert not c.is_running()


def test_illegal_transitions_are_refused(detached):
    c = detached(["sleep", "30"])
    with pytest.raises(StateError):
        c.start()
    with pytest.raises(StateError):
        c.remove()
    record = Record(id="x", state=State.STOPPED)
    with pytest.raises(StateError):
        record.move(State.RUNNING)


def test_exit_code_of_a_detached_container(detached):
    c = detached(["sh", "-c", "exit 3"])
    assert c.wait(10)
    assert c.mark_stopped().exit_code == 3


def test_nothing_is_left_after_a_run(runner, cid):
    name = cid()
    result = runner(["--network", "bridge", "--", "true"], name=name)
    assert result.returncode == 0, result.stderr
    assert not container.instance_dir(name).exists()
    assert not cgroups.cgroup_for(name).exists()
    assert name not in network.leftover_netns()
    assert not mounts_mentioning(name)


def test_remove_releases_everything(detached):
    c = detached(["sleep", "30"], network="bridge")
    assert (network.NETNS_DIR / network.netns_name(c.id)).exists()
    c.stop(grace=0.2)
    c.remove()
    assert not c.dir.exists()
    assert not c.cgroup.exists()
    assert not (network.NETNS_DIR / network.netns_name(c.id)).exists()
    assert not os.path.exists(f"/sys/class/net/{network.veth_name(c.id)}")


def test_sweep_removes_what_a_killed_runner_left(cid):
    name = cid()
    proc = subprocess.Popen(RUNNER + ["run", "--name", name, "--network", "bridge", "--", "sleep", "60"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: cgroups.cgroup_for(name).pids(), what="container running")
    # The runner dies without cleaning up (as in a crash), and its container with it.
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    cgroups.cgroup_for(name).kill_all()
    wait_for(lambda: not cgroups.cgroup_for(name).pids(), what="container gone")
    assert container.instance_dir(name).exists()
    assert name in sweep.leftovers()
    sweep.sweep()
    assert not container.instance_dir(name).exists()
    assert not cgroups.cgroup_for(name).exists()
    assert name not in network.leftover_netns()


def test_sweep_keeps_running_containers(detached):
    c = detached(["sleep", "30"])
    assert c.id not in sweep.leftovers()
    sweep.sweep()
    assert c.is_running()
    assert config.instances_dir().joinpath(c.id).exists()
