"""Checks that hold only inside the cgroup v2 guest (tests/vm/test_cgroup_v2.py passes this
file to the guest's pytest by name; its name keeps the host's collection away from it,
since the host mounts cgroup v1 and these would be false there). It lives here so the
runtime tests' fixtures (tests/runtime/conftest.py) apply to it.

They prove the run is the one it claims to be: the runtime chose the unified hierarchy
that systemd mounted, and containers live in it.
"""

import os
from pathlib import Path

from paas.runtime import cgroups, config
from paas.runtime.spec import Limits


def _fstypes() -> dict[str, str]:
    rows = {}
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        rows[fields[1]] = fields[2]
    return rows


def test_the_guest_is_on_the_unified_hierarchy_only():
    mounts = _fstypes()
    assert mounts.get("/sys/fs/cgroup") == "cgroup2"
    assert "cgroup" not in mounts.values(), "a v1 hierarchy is mounted beside cgroup v2"
    controllers = Path("/sys/fs/cgroup/cgroup.controllers").read_text().split()
    assert {"memory", "cpu", "pids"} <= set(controllers)
    assert cgroups.version() == 2
    assert isinstance(cgroups.cgroup_for("x"), cgroups.V2Cgroup)


def test_a_container_lives_in_its_v2_leaf_with_its_limits(detached):
    c = detached(["sleep", "30"], limits=Limits(memory=96 << 20, cpus=0.5, pids=40))
    leaf = Path("/sys/fs/cgroup") / config.CGROUP_PARENT / c.id
    assert c.cgroup.dirs() == [leaf]
    # The kernel's own word on where PID 1 of the container is.
    assert Path(f"/proc/{c.record.pid}/cgroup").read_text().strip() == f"0::/{config.CGROUP_PARENT}/{c.id}"
    assert (leaf / "memory.max").read_text().strip() == str(96 << 20)
    assert (leaf / "cpu.max").read_text().split() == ["50000", "100000"]
    assert (leaf / "pids.max").read_text().strip() == "40"
    enabled = (leaf.parent / "cgroup.subtree_control").read_text().split()
    assert {"memory", "cpu", "pids"} <= set(enabled)
    assert os.getpid() not in c.cgroup.pids()
