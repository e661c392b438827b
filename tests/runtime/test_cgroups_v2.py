"""cgroup v2 file layout, on a directory shaped like a cgroup2 mount.

This host's cgroup2 mount offers no memory/cpu/pids controllers (they sit in
the v1 hierarchies), so the v2 code writes into a plain directory here; the v1
path is exercised by every container test. tests/vm runs this whole folder again in a
guest booted on cgroup v2, where every container test exercises the v2 path.
"""

import uuid

from paas.runtime import cgroups, config
from paas.runtime.spec import Limits


def test_v2_limits_and_oom_verdict(tmp_path):
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.subtree_control").write_text("")
    name = f"v2-{uuid.uuid4().hex[:8]}"
    leaf = root / config.CGROUP_PARENT / name
    # The kernel makes these files when the directory is created; a plain directory needs them made.
    leaf.mkdir(parents=True)
    (root / config.CGROUP_PARENT / "cgroup.subtree_control").write_text("")
    for f in ("memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "memory.events", "cgroup.procs"):
        (leaf / f).write_text("")
    cg = cgroups.V2Cgroup(name, root)
    cg.create(Limits(memory=128 << 20, cpus=0.25, cpu_shares=1024, pids=64))
    assert (leaf / "memory.max").read_text() == str(128 << 20)
    assert (leaf / "memory.swap.max").read_text() == "0"
    assert (leaf / "cpu.max").read_text() == "25000 100000"
    assert (leaf / "cpu.weight").read_text() == "39"
    assert (leaf / "pids.max").read_text() == "64"
    assert (root / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert cg.procs_files() == [leaf / "cgroup.procs"]
    assert not cg.oom_killed()
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert cg.oom_killed()


def test_this_host_uses_a_working_hierarchy():
    assert cgroups.version() in (1, 2)
