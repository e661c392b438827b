"""What the runtime reads from and does to a container's cgroup, whatever its version:
usage (memory, CPU time), the CPU quota's effect, killing a whole process tree, removal.

The same tests run on this host's cgroup v1 and in the cgroup v2 guest of tests/vm, so
both sides of runtime/cgroups.py answer to one set of expectations.
"""

import time

from paas.runtime.spec import Limits

from .conftest import wait_for

# Holds ~40 MB of touched memory, says so, then waits to be stopped.
HOLD_40M = "b = bytearray(40 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('holding', flush=True)\nimport time\ntime.sleep(60)\n"
# A tree: a shell that ignores SIGTERM, its child in a session of its own, that child's child.
TREE = "trap '' TERM; setsid sh -c 'sleep 60 & sleep 60' & sleep 60 & echo ready; wait"


def _said(c, word):
    return lambda: word in (c.dir / "stdout.log").read_text()


def test_memory_usage_counts_what_the_app_holds(detached):
    c = detached(["python3", "-c", HOLD_40M], limits=Limits(memory=128 << 20))
    wait_for(_said(c, "holding"), timeout=20, what="the app to hold its memory")
    assert c.stats()["memory_bytes"] >= 40 << 20


def test_cpu_time_is_counted_and_held_to_the_quota(detached):
    c = detached(["python3", "-c", "while True: pass"], limits=Limits(memory=64 << 20, cpus=0.2))
    wait_for(lambda: c.stats()["cpu_ns"] > 0, timeout=20, what="CPU time to be counted")
    start_ns, start = c.stats()["cpu_ns"], time.monotonic()
    # 0.5 s of CPU at a fifth of a core takes at least 2.5 s of real time; a loaded machine
    # only makes it longer, so the ratio below is an upper bound that load cannot break.
    wait_for(lambda: c.stats()["cpu_ns"] - start_ns >= 500_000_000, timeout=60, what="0.5 s of CPU time")
    used_s = (c.stats()["cpu_ns"] - start_ns) / 1e9
    elapsed = time.monotonic() - start
    assert used_s / elapsed <= 0.2 * 1.25, f"{used_s:.2f} s of CPU in {elapsed:.2f} s with a 0.2 CPU quota"


def test_stop_kills_the_whole_tree_and_remove_leaves_no_cgroup(detached):
    c = detached(["sh", "-c", TREE])
    wait_for(_said(c, "ready"), timeout=20, what="the tree to start")
    wait_for(lambda: len(c.cgroup.pids()) >= 5, timeout=20, what="five processes in the cgroup")
    outcome = c.stop(grace=0.3)
    assert outcome.exit_code == 137 and not outcome.oom_killed
    assert c.cgroup.pids() == set()
    c.remove()
    assert not c.cgroup.exists()
